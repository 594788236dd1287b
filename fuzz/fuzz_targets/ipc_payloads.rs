#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatbell_fuzz::ipc_payloads::run(data));
