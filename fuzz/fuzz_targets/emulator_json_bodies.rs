#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatbell_fuzz::emulator_json_bodies::run(data));
