//! The shard manifest reader (`spec/shards.md`) on arbitrary bytes: nothing may panic, and a
//! manifest it accepts names only shards inside its directory, each with a well-formed CRC32.
//!     cargo +nightly fuzz run manifest corpus/manifest seeds/manifest
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path};

fuzz_target!(|data: &[u8]| {
    let dir = Path::new("shards");
    if let Ok((m, paths)) = bsar::cli::manifest::parse(data, dir) {
        assert_eq!(m.shards.len(), paths.len());
        for (s, p) in m.shards.iter().zip(&paths) {
            let rel = p
                .strip_prefix(dir)
                .expect("a shard lies in the manifest's directory");
            assert!(
                rel.components().all(|c| matches!(c, Component::Normal(_))),
                "{p:?}"
            );
            assert!(u32::from_str_radix(&s.crc32, 16).is_ok() && s.crc32.len() == 8);
        }
    }
});
