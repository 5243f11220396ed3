//! Arbitrary bytes → `syntax::parse`, `check::check`, `check::render`: never a panic.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../harness/rules.rs"]
mod rules;

libfuzzer_sys::fuzz_target!(|data: &[u8]| rules::parse_check(data));
