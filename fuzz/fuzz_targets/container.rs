//! The archive reader on arbitrary bytes: header, trailer, index (chunk and member tables), then
//! every chunk through its codec and every member's path rules. It must never panic, hang or
//! allocate past a chunk's read budget (spec/format.md 6.3). (Fuzzing builds skip CRC
//! comparisons; see archive::bytes::crc_ok.) Seeds: archives the library's writer made
//! (examples/make_fuzz_seeds.rs), of every member kind and codec.
//!     cargo +nightly fuzz run container corpus/container seeds/container
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

#[path = "../../tests/model_support/mod.rs"]
mod model_support;
#[path = "../../tests/writer_support/mod.rs"]
mod writer_support;

use bsar::archive::Archive;
use bsar::cli::paths::{check_link_target, check_member_path};
use bsar::codec::Registry;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// zstd, Lepton, and Bit-Swap with the tiny fixture models, which the seeds' image chunks name
/// (examples/make_fuzz_seeds.rs writes them with this registry).
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(writer_support::registry)
}

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = Archive::parse(data) else {
        return;
    };
    let registry = registry();
    for (ci, holders) in archive.index.chunk_members.iter().enumerate() {
        // Every chunk has at least one item once parsing has succeeded.
        let budget = archive.read_budget(ci, registry).unwrap_or(u64::MAX);
        budget_support::within("container read_chunk", budget, || {
            let _ = archive.read_chunk(ci, holders.len() - 1, registry);
            let _ = archive.read_chunk(ci, 0, registry);
        });
    }
    for m in archive.members() {
        let _ = check_member_path(&m.path);
        let _ = check_link_target(&m.path, &m.link);
        let _ = m.shown();
    }
});
