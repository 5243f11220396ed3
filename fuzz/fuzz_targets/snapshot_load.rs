//! Arbitrary bytes → `snapshot::from_bytes`; a snapshot that loads must
//! evaluate every flag without a panic.
#![no_main]

#[path = "../harness/snapshot.rs"]
mod snapshot;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = snapshot::load(data);
});
