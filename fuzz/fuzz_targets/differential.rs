//! Rule text, a NUL byte, a JSON context → the reference interpreter and the
//! compiled evaluator must give the same `Detail` for every flag.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../harness/rules.rs"]
mod rules;

libfuzzer_sys::fuzz_target!(|data: &[u8]| rules::differential(data));
