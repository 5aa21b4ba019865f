//! Totals and the one-line summary printed at the end of create, extract and verify.

use crate::archive::{ChunkEntry, Content, Kind, MemberEntry, NO_CHUNK};
use crate::imageio::Wrapper;

/// The size of a member's file on disk as it was archived: its bytes, or for a member stored as
/// pixels the original file's length from its wrapper. `None` where the archive did not record
/// it (PNG members of format 1.0 archives).
pub fn file_size(m: &MemberEntry) -> Option<u64> {
    match (m.kind, m.content) {
        (Kind::File, Content::Pixels | Content::Pixels16) => Wrapper::from_bytes(&m.wrapper)
            .ok()
            .and_then(|w| w.file_len(m.size)),
        (Kind::File, Content::Bytes) => Some(m.size),
        _ => Some(0),
    }
}

/// Each member's share of its chunk's stored bytes, in proportion to its size. Exact for a member
/// alone in its chunk; an estimate for members sharing one coded stream.
pub fn stored_shares(members: &[MemberEntry], chunks: &[ChunkEntry]) -> Vec<f64> {
    let mut chunk_input = vec![0u64; chunks.len()];
    for m in members.iter().filter(|m| m.chunk != NO_CHUNK) {
        chunk_input[m.chunk as usize] += m.size;
    }
    members
        .iter()
        .map(|m| {
            if m.chunk == NO_CHUNK {
                return 0.0;
            }
            let c = m.chunk as usize;
            chunks[c].len as f64 * m.size as f64 / chunk_input[c].max(1) as f64
        })
        .collect()
}

#[derive(Default, Debug)]
pub struct Totals {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    /// File bytes, as archived (`file_size`; the pixels' length where it is unknown).
    pub content_bytes: u64,
    pub images: u64,
    /// Sum of width * height * channels over image members.
    pub image_dims: u64,
    /// Stored bytes attributed to image members (see `stored_shares`).
    pub image_stored: f64,
}

/// Totals over the members selected by `pick`.
pub fn totals(
    members: &[MemberEntry],
    chunks: &[ChunkEntry],
    pick: impl Fn(usize) -> bool,
) -> Totals {
    let shares = stored_shares(members, chunks);
    let mut t = Totals::default();
    for (i, m) in members.iter().enumerate().filter(|(i, _)| pick(*i)) {
        match m.kind {
            Kind::File => t.files += 1,
            Kind::Dir => t.dirs += 1,
            Kind::Symlink => t.links += 1,
        }
        if m.kind == Kind::File {
            t.content_bytes += file_size(m).unwrap_or(m.size);
        }
        let g = m.geometry;
        if m.kind == Kind::File && g.channels > 0 {
            t.images += 1;
            t.image_dims += g.width as u64 * g.height as u64 * g.channels as u64;
            t.image_stored += shares[i];
        }
    }
    t
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "12 members (9 files, 2 directories, 1 symlink)".
pub fn members_phrase(t: &Totals) -> String {
    let total = t.files + t.dirs + t.links;
    format!(
        "{} ({}, {}, {})",
        plural(total, "member", "members"),
        plural(t.files, "file", "files"),
        plural(t.dirs, "directory", "directories"),
        plural(t.links, "symlink", "symlinks")
    )
}

/// "; 40 images, 3.1234 bits/dim" or nothing when there are no images.
pub fn images_phrase(t: &Totals) -> String {
    if t.images == 0 || t.image_dims == 0 {
        return String::new();
    }
    format!(
        "; {}, {:.4} bits/dim",
        plural(t.images, "image", "images"),
        t.image_stored * 8.0 / t.image_dims as f64
    )
}
