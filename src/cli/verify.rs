//! `bsar verify`: check the header, trailer and index, then decode every chunk and check every
//! chunk CRC and every member's content CRC, and rebuild every image file as extraction would
//! (a byte-exact one against its CRC-32). Nothing is written.

use super::args::VerifyArgs;
use super::open::map_archive;
use super::paths::{check_link_target, check_member_path};
use super::progress::bytes_bar;
use super::reading::{ChunkStream, StreamState};
use super::summary::{images_phrase, members_phrase, totals};
use super::{CliError, CliResult};
use crate::archive::{check_content, Archive, Content, Kind, Restored, NO_CHUNK};

pub fn run(a: VerifyArgs) -> CliResult<()> {
    verify(a).map(|_| ())
}

/// Verifies one archive and returns its member count (which a manifest states for each shard).
pub(super) fn verify(a: VerifyArgs) -> CliResult<u64> {
    let map = map_archive(&a.archive)?;
    let shown = a.archive.display();
    let fail = |e: crate::archive::Error| CliError(format!("{shown}: {e}"));
    let archive = Archive::parse(&map).map_err(fail)?;
    let engine = super::device::choose(a.device)?;
    let reading = super::reading::reading(&engine, a.threads);
    let registry = super::reading_registry(&engine, reading.threads);
    let members = archive.members();
    // An archive that extract would refuse does not pass verification either.
    for m in members {
        let unsafe_path = check_member_path(&m.path).err().or_else(|| {
            (m.kind == Kind::Symlink)
                .then(|| check_link_target(&m.path, &m.link).err())
                .flatten()
        });
        if let Some(why) = unsafe_path {
            return Err(CliError(format!(
                "{shown}: member '{}' is unsafe: {why}",
                m.shown()
            )));
        }
        if m.kind == Kind::Symlink {
            check_content(m, &m.link).map_err(fail)?;
        }
        // Extraction rebuilds a pixel member's file from its wrapper: it must parse.
        if m.content.is_pixels() {
            crate::imageio::Wrapper::from_bytes(&m.wrapper)
                .map_err(|e| CliError(format!("{shown}: member '{}': {e}", m.shown())))?;
        }
    }
    let total: u64 = members.iter().map(|m| m.size).sum();
    let bar = bytes_bar(total, "verify");
    // A large file alone in its chunk is decoded as a stream and checked as it passes, on this
    // thread; the workers decode the other chunks.
    let streamed = |ci: usize| {
        let holders = &archive.index.chunk_members[ci];
        holders.len() == 1 && archive.streams(holders[0] as usize, &registry)
    };
    let all: Vec<(usize, usize)> = archive
        .index
        .chunk_members
        .iter()
        .enumerate()
        .map(|(ci, holders)| (ci, holders.len() - 1))
        .collect();
    let decoded: Vec<(usize, usize)> = all
        .iter()
        .copied()
        .filter(|&(ci, _)| !streamed(ci))
        .collect();
    // Every chunk is checked, damaged or not, so that the report names every damaged member.
    let mut lost = super::extract::Lost::default();
    // read_chunks checks the chunk CRCs and every member's size and CRC; chunks are decoded on
    // every core, ahead of the checks below.
    let state = StreamState::new();
    // Extraction rebuilds each image file from its pixels and wrapper (and checks a byte-exact
    // file's CRC-32): so does verification, without writing it (nor keeping it).
    // A member checked through its file was rebuilt by that check already.
    let restore = |mi: usize, item: Restored| match (members[mi].content, item.file) {
        (_, Some(_)) => Ok(Vec::new()),
        (Content::Pixels | Content::Pixels16, None) => {
            super::extract::image_file(&members[mi], &item.content).map(|_| Vec::new())
        }
        (Content::Bytes, None) => Ok(Vec::new()),
    };
    std::thread::scope(|s| {
        let mut stream =
            ChunkStream::start(s, &state, &archive, &registry, &decoded, &reading, &restore);
        for &(ci, _) in &all {
            let holders = &archive.index.chunk_members[ci];
            if streamed(ci) {
                let mi = holders[0] as usize;
                let mut release = |at, len| super::extract::release(&map, at, len);
                if let Err(e) =
                    archive.stream_member(mi, &registry, &mut std::io::sink(), &mut release)
                {
                    lost.member(&members[mi], ci as u32, &format!("{shown}: {e}"));
                }
                bar.inc(members[mi].size);
                continue;
            }
            match stream.get(ci) {
                Err(e) => {
                    for &m in holders {
                        lost.member(&members[m as usize], ci as u32, &format!("{shown}: {e}"));
                    }
                }
                Ok(contents) => {
                    for (&mi, content) in holders.iter().zip(contents) {
                        if let Err(e) = content {
                            lost.member(&members[mi as usize], NO_CHUNK, &format!("{shown}: {e}"));
                        }
                    }
                }
            }
            bar.inc(holders.iter().map(|&m| members[m as usize].size).sum());
        }
    });
    bar.finish_and_clear();
    lost.result(&shown.to_string(), "verified", "verified")?;
    if !a.quiet {
        let t = totals(members, &archive.index.chunks, |_| true);
        println!(
            "verified {shown}: {}, {} bytes in {} chunks, all CRCs match{}",
            members_phrase(&t),
            t.content_bytes,
            archive.index.chunks.len(),
            images_phrase(&t)
        );
    }
    Ok(members.len() as u64)
}
