//! Fuzz bytes as a recipe of deep and wide rule files (`rules::shape_text`)
//! → `syntax::parse`, `check::check`, `check::render`: never a panic, never
//! a stack overflow.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../harness/rules.rs"]
mod rules;

libfuzzer_sys::fuzz_target!(|data: &[u8]| rules::parse_shapes(data));
