#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatbell_fuzz::control_protocol::run(data));
