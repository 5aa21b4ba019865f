//! The archive reader on arbitrary bytes: header, trailer, index (chunk and member tables), then
//! every chunk through its codec and every member's path rules. It must never panic, hang or
//! allocate without bound. (Fuzzing builds skip CRC comparisons; see archive::bytes::crc_ok.)
#![no_main]

use bsar::archive::Archive;
use bsar::cli::paths::{check_link_target, check_member_path};
use bsar::codec::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = Archive::parse(data) else {
        return;
    };
    let registry = Registry::default();
    for (ci, holders) in archive.index.chunk_members.iter().enumerate() {
        // Every chunk has at least one item once parsing has succeeded.
        let _ = archive.read_chunk(ci, holders.len() - 1, &registry);
        let _ = archive.read_chunk(ci, 0, &registry);
    }
    for m in archive.members() {
        let _ = check_member_path(&m.path);
        let _ = check_link_target(&m.path, &m.link);
        let _ = m.shown();
    }
});
