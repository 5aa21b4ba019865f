//! The index parser on arbitrary unpacked bytes, in both layouts: the packed member table of
//! format 1.4 (spec/format.md 4.8) and the rows of 1.0 to 1.3 (4.2). The container target reaches
//! it only through a zstd frame, which random mutations rarely keep valid. It must never panic,
//! hang or allocate without bound.
//!
//! Input: `index_offset` (u64, little-endian), then the unpacked index; the layout is the one its
//! magic names.
#![no_main]

use bsar::archive::index::{parse_index, PACKED_INDEX_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let index_offset = u64::from_le_bytes(data[..8].try_into().unwrap());
    let raw = &data[8..];
    let packed = raw.starts_with(&PACKED_INDEX_MAGIC);
    if let Ok(mut index) = parse_index(raw, index_offset, packed) {
        // Fuzzing builds accept any CRC (archive::bytes::crc_ok), so a row index may hold a
        // symlink whose stored CRC is not its target's; the packed form does not store it.
        for m in &mut index.members {
            if m.kind == bsar::archive::Kind::Symlink {
                m.crc = crc32fast::hash(&m.link);
            }
        }
        // What parses must encode back to an index that parses to the same members.
        let again = bsar::archive::index::encode_index(&index.chunks, &index.members);
        let reparsed = parse_index(&again, index_offset, true).expect("a parsed index re-encodes");
        assert_eq!(reparsed.members, index.members);
    }
});
