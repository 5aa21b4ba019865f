//! The writer, end to end: arbitrary bytes become a small tree of files (names, sizes, and
//! contents that are often PNM or PNG images or nearly so; `tests/writer_support`), which the
//! library's writer archives as `bsar create` would. What it wrote must open with the reader's
//! code, and every member must come back: byte for byte, or for a PNG stored as pixels, pixel for
//! pixel with its chunks. Any asymmetry between writer and reader is a crash here.
//!     cargo +nightly fuzz run writer corpus/writer
#![no_main]

#[path = "../../tests/model_support/mod.rs"]
mod model_support;
#[path = "../../tests/writer_support/mod.rs"]
mod writer_support;

use bsar::codec::Registry;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(writer_support::registry)
}

fuzz_target!(|data: &[u8]| {
    let files = writer_support::tree_from_bytes(data);
    // One thread: LeakSanitizer can mistake a worker thread that is still exiting for a leak.
    // The property test (tests/writer_roundtrip.rs) writes on two.
    writer_support::round_trip(&files, registry(), true, 1);
});
