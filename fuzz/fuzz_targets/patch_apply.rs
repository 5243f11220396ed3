//! Arbitrary bytes as a patch → `snapshot::apply_patch` against a valid base:
//! refused or applied, never a panic; what it applies must load.
#![no_main]

#[path = "../harness/patch.rs"]
mod patch;

libfuzzer_sys::fuzz_target!(|data: &[u8]| patch::apply(data));
