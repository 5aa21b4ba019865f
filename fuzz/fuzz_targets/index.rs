//! The index parser on arbitrary unpacked bytes, in every layout: the packed member tables of
//! formats 1.4 and 1.5 and of 1.6 (spec/format.md 4.8) and the rows of 1.0 to 1.3 (4.2). The container target reaches
//! it only through a zstd frame, which random mutations rarely keep valid. It must never panic,
//! hang or allocate past the index budget (spec/format.md 6.3).
//!
//! Input: `index_offset` (u64, little-endian), then the unpacked index; the layout is the one its
//! magic names.
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::archive::index::{parse_index, Layout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let index_offset = u64::from_le_bytes(data[..8].try_into().unwrap());
    let raw = &data[8..];
    let layout = Layout::of_magic(raw).unwrap_or(Layout::Rows);
    let budget = bsar::archive::limits::index_budget(raw.len() as u64);
    let (parsed, _) = budget_support::within("index parse", budget, || {
        parse_index(raw, index_offset, layout)
    });
    if let Ok(mut index) = parsed {
        // Fuzzing builds accept any CRC (archive::bytes::crc_ok), so a row index may hold a
        // symlink whose stored CRC is not its target's; the packed form does not store it.
        for m in &mut index.members {
            if m.kind == bsar::archive::Kind::Symlink {
                m.crc = Some(crc32fast::hash(&m.link));
            }
        }
        // What parses must encode back to an index that parses to the same members (rows as
        // the packed layout that, like them, stores every CRC).
        let packed = if layout == Layout::Rows {
            Layout::Packed
        } else {
            layout
        };
        let again = bsar::archive::index::encode_index(&index.chunks, &index.members, packed);
        let reparsed =
            parse_index(&again, index_offset, packed).expect("a parsed index re-encodes");
        assert_eq!(reparsed.members, index.members);
    }
});
