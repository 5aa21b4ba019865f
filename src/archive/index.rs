//! The index: the chunk table and the member table, found through the trailer. Parsing checks
//! every rule of `spec/format.md` section "Index" so that later stages can trust what they read.

use super::bytes::{Cursor, PutLe};
use super::error::{show_path, Error, Result};
use super::format::HEADER_LEN;
pub use super::limits::{MAX_PATH, MAX_WRAPPER};
use crate::codec::ItemShape;

/// Magic of the row-layout index (4.2), which format 1.0 to 1.3 writers wrote.
pub const INDEX_MAGIC: [u8; 4] = *b"BSIX";
/// Magic of the packed index (4.8) of formats 1.4 and 1.5, which stores every member's CRC.
pub const PACKED_INDEX_MAGIC: [u8; 4] = *b"BSI2";
/// Magic of the packed index of format 1.6, what this writer writes: a member whose wrapper
/// checks its rebuilt file (a byte-exact PNG) has no CRC of its own (4.8).
pub const CHECKED_INDEX_MAGIC: [u8; 4] = *b"BSI3";
/// `chunk` value of a member that has no content in any chunk.
pub const NO_CHUNK: u32 = u32::MAX;
const CHUNK_ENTRY_LEN: usize = 32;
/// Smallest possible member entry (empty path, no link target): bounds `member_count`.
const MIN_MEMBER_ENTRY_LEN: usize = 2 + 49;

/// How the member table is laid out; the header's feature bits say which (`format::layout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Rows (4.2), formats 1.0 to 1.3.
    Rows,
    /// Columns (4.8), formats 1.4 and 1.5.
    Packed,
    /// Columns without the CRC of a member whose file is checked by its wrapper (4.8), 1.6.
    Checked,
}

impl Layout {
    pub fn magic(self) -> [u8; 4] {
        match self {
            Layout::Rows => INDEX_MAGIC,
            Layout::Packed => PACKED_INDEX_MAGIC,
            Layout::Checked => CHECKED_INDEX_MAGIC,
        }
    }

    /// The layout whose magic `raw` starts with, for tools that take an unpacked index alone.
    pub fn of_magic(raw: &[u8]) -> Option<Layout> {
        [Layout::Rows, Layout::Packed, Layout::Checked]
            .into_iter()
            .find(|l| raw.starts_with(&l.magic()))
    }
}

/// Whether a member of this content and wrapper keeps no CRC of its own in an index of `layout`:
/// in format 1.6, a file stored as pixels inside a wrapper that checks the rebuilt file
/// (`imageio::wrapper_checks_file`). The one rule both the writer and the reader apply.
pub fn file_checked(layout: Layout, content: Content, wrapper: &[u8]) -> bool {
    layout == Layout::Checked && content.is_pixels() && crate::imageio::wrapper_checks_file(wrapper)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File = 0,
    Dir = 1,
    Symlink = 2,
}

/// How a file's content is kept in its chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// The file's bytes, restored byte for byte.
    Bytes = 0,
    /// The file's decoded 8-bit pixels (`width x height x channels` bytes, the member's size and
    /// CRC), plus a wrapper kept in the member entry from which the file is rebuilt around them.
    Pixels = 1,
    /// The same with 16-bit samples, two bytes each, big-endian (format 1.9).
    Pixels16 = 2,
}

impl Content {
    /// Whether the chunk item is an image's pixels (kinds 1 and 2).
    pub fn is_pixels(self) -> bool {
        self != Content::Bytes
    }

    /// Bits a sample takes in the item: 16 for kind 2, else 8.
    pub fn depth(self) -> u8 {
        match self {
            Content::Pixels16 => 16,
            _ => 8,
        }
    }

    /// The pixel content of an image of `depth`-bit samples.
    pub fn pixels_of(depth: u8) -> Content {
        if depth == 16 {
            Content::Pixels16
        } else {
            Content::Pixels
        }
    }

    /// The length of the item a pixel member of geometry `g` holds: `width * height * channels`
    /// samples of `depth() / 8` bytes; `None` on overflow.
    pub fn pixel_bytes(self, g: Geometry) -> Option<u64> {
        g.pixel_count()?
            .checked_mul(crate::codec::sample_bytes(self.depth()))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Geometry {
    pub width: u32,
    pub height: u32,
    /// 0 when the member is not a recognised image.
    pub channels: u8,
}

impl Geometry {
    /// `width * height * channels`, the length of the image's pixels; `None` on overflow.
    pub fn pixel_count(&self) -> Option<u64> {
        (self.width as u64)
            .checked_mul(self.height as u64)?
            .checked_mul(self.channels as u64)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
    pub item_count: u32,
    pub codec: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEntry {
    /// Relative path, components separated by '/', as stored (not necessarily UTF-8).
    pub path: Vec<u8>,
    pub kind: Kind,
    pub content: Content,
    pub mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// Restored size in bytes (file content, or symlink target length).
    pub size: u64,
    /// CRC32 of the restored content (file bytes or symlink target). `None` for a member whose
    /// content is checked through its rebuilt file instead (`file_checked`): the reader rebuilds
    /// the file to check such a member's pixels (`reader::check_content`).
    pub crc: Option<u32>,
    pub chunk: u32,
    pub position: u32,
    pub geometry: Geometry,
    /// Symlink target; empty for other kinds.
    pub link: Vec<u8>,
    /// For `Content::Pixels`: the image file's other bytes (opaque to the container; see
    /// `crate::imageio::Wrapper`). Empty otherwise.
    pub wrapper: Vec<u8>,
}

impl MemberEntry {
    /// What the chunk's codec must return for this member.
    pub fn shape(&self) -> ItemShape {
        match self.content {
            Content::Bytes => ItemShape::Bytes { len: self.size },
            Content::Pixels | Content::Pixels16 => ItemShape::Image {
                width: self.geometry.width,
                height: self.geometry.height,
                channels: self.geometry.channels,
                depth: self.content.depth(),
            },
        }
    }

    pub fn shown(&self) -> String {
        show_path(&self.path)
    }

    /// The shape of the raster a pixel member's file is rebuilt from: its geometry and the
    /// sample depth of its content kind.
    pub fn image_header(&self) -> crate::imageio::Header {
        crate::imageio::Header {
            width: self.geometry.width,
            height: self.geometry.height,
            channels: self.geometry.channels,
            depth: self.content.depth(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    pub chunks: Vec<ChunkEntry>,
    pub members: Vec<MemberEntry>,
    /// For each chunk, its members in item order (derived, not stored).
    pub chunk_members: Vec<Vec<u32>>,
}

/// The layout this writer writes.
pub const WRITTEN_LAYOUT: Layout = Layout::Checked;

/// The unpacked index in a packed layout (4.8): `WRITTEN_LAYOUT`, or `Layout::Packed` for
/// tools and tests that make 1.4 and 1.5 archives (`Layout::Rows` is `encode_row_index`). Every
/// member must pass `check_member` for that layout (the writer makes sure by parsing what it
/// wrote).
pub fn encode_index(chunks: &[ChunkEntry], members: &[MemberEntry], layout: Layout) -> Vec<u8> {
    assert!(layout != Layout::Rows, "rows are encode_row_index's");
    let mut b = Vec::new();
    b.extend_from_slice(&layout.magic());
    put_counts_and_chunks(&mut b, chunks, members.len());
    super::columns::encode_members(&mut b, members, chunks.len());
    b
}

fn put_counts_and_chunks(b: &mut Vec<u8>, chunks: &[ChunkEntry], member_count: usize) {
    b.put_u32(chunks.len() as u32);
    b.put_u32(member_count as u32);
    for c in chunks {
        b.put_u64(c.offset);
        b.put_u64(c.len);
        b.put_u32(c.crc);
        b.put_u32(c.item_count);
        b.put_u8(c.codec);
        b.extend_from_slice(&[0u8; 7]);
    }
}

/// The unpacked index in the row layout of format 1.3 and earlier (4.2), for tests and tools
/// that make archives of those versions.
pub fn encode_row_index(chunks: &[ChunkEntry], members: &[MemberEntry]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&INDEX_MAGIC);
    put_counts_and_chunks(&mut b, chunks, members.len());
    for m in members {
        b.put_u16(m.path.len() as u16);
        b.extend_from_slice(&m.path);
        b.put_u8(m.kind as u8);
        b.put_u8(m.content as u8);
        b.put_u32(m.mode);
        b.put_i64(m.mtime_sec);
        b.put_u32(m.mtime_nsec);
        b.put_u64(m.size);
        b.put_u32(m.crc.expect("rows store every member's CRC"));
        b.put_u32(m.chunk);
        b.put_u32(m.position);
        b.put_u32(m.geometry.width);
        b.put_u32(m.geometry.height);
        b.put_u8(m.geometry.channels);
        b.put_u16(m.link.len() as u16);
        b.extend_from_slice(&m.link);
        if m.content.is_pixels() {
            b.put_u32(m.wrapper.len() as u32);
            b.extend_from_slice(&m.wrapper);
        }
    }
    b
}

fn corrupt(msg: String) -> Error {
    Error::Corrupt(format!("index is damaged: {msg}"))
}

/// Parses and validates the index. `index_offset` is where it starts in the file: chunks must
/// tile the bytes between the header and the index exactly. `layout` is what the header says
/// the index is.
pub fn parse_index(data: &[u8], index_offset: u64, layout: Layout) -> Result<Index> {
    let mut c = Cursor::new(data);
    let short = |what: &str| corrupt(format!("{what} runs past the end of the index"));
    let magic = c.take(4).map_err(|_| short("magic"))?;
    if magic != layout.magic() {
        return Err(corrupt("bad index magic".into()));
    }
    let min_member = match layout {
        Layout::Rows => MIN_MEMBER_ENTRY_LEN,
        Layout::Packed | Layout::Checked => super::columns::MIN_MEMBER_BYTES,
    };
    let chunk_count = c.u32().map_err(|_| short("chunk count"))? as usize;
    let member_count = c.u32().map_err(|_| short("member count"))? as usize;
    // Bound the counts by the bytes present before allocating anything for them.
    if chunk_count.saturating_mul(CHUNK_ENTRY_LEN) > c.remaining() {
        return Err(corrupt(format!(
            "chunk count {chunk_count} does not fit in the index"
        )));
    }
    let chunk_bytes = chunk_count * CHUNK_ENTRY_LEN;
    if member_count.saturating_mul(min_member) > c.remaining() - chunk_bytes {
        return Err(corrupt(format!(
            "member count {member_count} does not fit in the index"
        )));
    }
    let mut chunks = Vec::with_capacity(chunk_count);
    let mut expected_offset = HEADER_LEN as u64;
    for i in 0..chunk_count {
        let e = parse_chunk_entry(&mut c).map_err(|_| short("chunk table"))?;
        let (entry, reserved_ok) = e;
        if !reserved_ok {
            return Err(corrupt(format!("chunk {i}: reserved bytes are not zero")));
        }
        if entry.offset != expected_offset {
            return Err(corrupt(format!(
                "chunk {i} starts at byte {}, expected {expected_offset}",
                entry.offset
            )));
        }
        if entry.len == 0 || entry.item_count == 0 {
            return Err(corrupt(format!("chunk {i} is empty")));
        }
        expected_offset = entry
            .offset
            .checked_add(entry.len)
            .filter(|&end| end <= index_offset)
            .ok_or_else(|| corrupt(format!("chunk {i} runs into the index")))?;
        chunks.push(entry);
    }
    if expected_offset != index_offset {
        return Err(corrupt(format!(
            "chunks end at byte {expected_offset} but the index starts at {index_offset}"
        )));
    }
    let member_err = |i: usize, e: MemberErr| match e {
        MemberErr::Short => short(&format!("member {i}")),
        MemberErr::Bad(msg) => corrupt(format!("member {i}: {msg}")),
        MemberErr::Unsupported(msg) => Error::Unsupported(format!("member {i}: {msg}")),
    };
    let mut members = Vec::with_capacity(member_count);
    if layout != Layout::Rows {
        let cols = super::columns::split_columns(&mut c).map_err(corrupt)?;
        let mut decoder = super::columns::Decoder::new(cols, chunk_count, layout);
        for i in 0..member_count {
            members.push(decoder.member().map_err(|e| member_err(i, e))?);
        }
        decoder.finish().map_err(corrupt)?;
    } else {
        for i in 0..member_count {
            members.push(parse_member(&mut c).map_err(|e| member_err(i, e))?);
        }
        if c.remaining() != 0 {
            return Err(corrupt(format!(
                "{} stray bytes at the end of the index",
                c.remaining()
            )));
        }
    }
    for m in &members {
        check_member(m, &chunks, layout)
            .map_err(|msg| corrupt(format!("member '{}': {msg}", m.shown())))?;
    }
    let chunk_members = assign_items(&chunks, &members)?;
    Ok(Index {
        chunks,
        members,
        chunk_members,
    })
}

fn parse_chunk_entry(
    c: &mut Cursor,
) -> std::result::Result<(ChunkEntry, bool), super::bytes::Short> {
    let offset = c.u64()?;
    let len = c.u64()?;
    let crc = c.u32()?;
    let item_count = c.u32()?;
    let codec = c.u8()?;
    let reserved_ok = c.take(7)?.iter().all(|&b| b == 0);
    Ok((
        ChunkEntry {
            offset,
            len,
            crc,
            item_count,
            codec,
        },
        reserved_ok,
    ))
}

pub(super) enum MemberErr {
    Short,
    Bad(String),
    Unsupported(String),
}

impl From<super::bytes::Short> for MemberErr {
    fn from(_: super::bytes::Short) -> Self {
        MemberErr::Short
    }
}

/// A member's type from its stored value (4.2), the same in both layouts.
pub(super) fn kind_of(v: u8) -> std::result::Result<Kind, MemberErr> {
    match v {
        0 => Ok(Kind::File),
        1 => Ok(Kind::Dir),
        2 => Ok(Kind::Symlink),
        k => Err(MemberErr::Bad(format!("unknown member type {k}"))),
    }
}

/// A file's content kind from its stored value (4.3): an unknown one is unsupported, naming
/// the member.
pub(super) fn content_of(v: u8, path: &[u8]) -> std::result::Result<Content, MemberErr> {
    match v {
        0 => Ok(Content::Bytes),
        1 => Ok(Content::Pixels),
        2 => Ok(Content::Pixels16),
        k => Err(MemberErr::Unsupported(format!(
            "'{}' has content kind {k}, which this bsar does not support",
            show_path(path)
        ))),
    }
}

fn parse_member(c: &mut Cursor) -> std::result::Result<MemberEntry, MemberErr> {
    let path_len = c.u16()? as usize;
    if path_len == 0 || path_len > MAX_PATH {
        return Err(MemberErr::Bad(format!(
            "path length {path_len} is out of range"
        )));
    }
    let path = c.take(path_len)?.to_vec();
    let kind = kind_of(c.u8()?)?;
    let content = content_of(c.u8()?, &path)?;
    let mode = c.u32()?;
    let mtime_sec = c.i64()?;
    let mtime_nsec = c.u32()?;
    let size = c.u64()?;
    let crc = Some(c.u32()?);
    let chunk = c.u32()?;
    let position = c.u32()?;
    let geometry = Geometry {
        width: c.u32()?,
        height: c.u32()?,
        channels: c.u8()?,
    };
    let link_len = c.u16()? as usize;
    if link_len > MAX_PATH {
        return Err(MemberErr::Bad(format!(
            "symlink target length {link_len} is out of range"
        )));
    }
    let link = c.take(link_len)?.to_vec();
    let wrapper = if content.is_pixels() {
        let len = c.u32()? as usize;
        if len > MAX_WRAPPER {
            return Err(MemberErr::Bad(format!(
                "image wrapper length {len} is out of range"
            )));
        }
        c.take(len)?.to_vec()
    } else {
        Vec::new()
    };
    Ok(MemberEntry {
        path,
        kind,
        content,
        mode,
        mtime_sec,
        mtime_nsec,
        size,
        crc,
        chunk,
        position,
        geometry,
        link,
        wrapper,
    })
}

/// Rules on one member that need no other member.
fn check_member(
    m: &MemberEntry,
    chunks: &[ChunkEntry],
    layout: Layout,
) -> std::result::Result<(), String> {
    // Either its own CRC or its file's, never both nor neither (4.8).
    if m.crc.is_none() != file_checked(layout, m.content, &m.wrapper) {
        return Err(match m.crc {
            Some(_) => "a member checked through its file also has a CRC".into(),
            None => "a member has no CRC".into(),
        });
    }
    if m.mtime_nsec >= 1_000_000_000 {
        return Err(format!("mtime nanoseconds {} out of range", m.mtime_nsec));
    }
    if m.mode & !0o7777 != 0 {
        return Err(format!("mode {:#o} has bits beyond 0o7777", m.mode));
    }
    let g = m.geometry;
    if g.channels > 4 || (g.channels == 0 && (g.width != 0 || g.height != 0)) {
        return Err("invalid image geometry".into());
    }
    let no_content = m.chunk == NO_CHUNK && m.position == 0;
    if m.content.is_pixels()
        && (m.kind != Kind::File
            || m.chunk == NO_CHUNK
            || m.size == 0
            || g.channels == 0
            || m.content.pixel_bytes(g) != Some(m.size))
    {
        return Err("pixel content without a matching image geometry and chunk".into());
    }
    match m.kind {
        Kind::Dir => {
            if !no_content || m.size != 0 || m.crc != Some(0) || !m.link.is_empty() {
                return Err("a directory has content".into());
            }
        }
        Kind::Symlink => {
            if !no_content || m.link.is_empty() || m.size != m.link.len() as u64 {
                return Err("bad symlink entry".into());
            }
            if !m.crc.is_some_and(|crc| super::bytes::crc_ok(&m.link, crc)) {
                return Err("symlink target CRC mismatch".into());
            }
        }
        Kind::File => {
            if !m.link.is_empty() {
                return Err("a file has a symlink target".into());
            }
            if m.chunk == NO_CHUNK {
                if !no_content || m.size != 0 || m.crc != Some(0) {
                    return Err("a non-empty file is in no chunk".into());
                }
            } else {
                let chunk = chunks.get(m.chunk as usize).ok_or_else(|| {
                    format!("chunk {} does not exist ({} chunks)", m.chunk, chunks.len())
                })?;
                if m.position >= chunk.item_count {
                    return Err(format!(
                        "position {} is past the {} items of chunk {}",
                        m.position, chunk.item_count, m.chunk
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Each item of each chunk belongs to exactly one member.
fn assign_items(chunks: &[ChunkEntry], members: &[MemberEntry]) -> Result<Vec<Vec<u32>>> {
    // item_count is bounded by members below (each item needs its own member), so the sum of all
    // vectors is at most the member count once the first check passes.
    let total: u64 = chunks.iter().map(|c| c.item_count as u64).sum();
    let placed = members.iter().filter(|m| m.chunk != NO_CHUNK).count() as u64;
    if total != placed {
        return Err(corrupt(format!(
            "chunks hold {total} items but {placed} members point into chunks"
        )));
    }
    let mut slots: Vec<Vec<u32>> = chunks
        .iter()
        .map(|c| vec![u32::MAX; c.item_count as usize])
        .collect();
    for (i, m) in members.iter().enumerate() {
        if m.chunk == NO_CHUNK {
            continue;
        }
        let slot = &mut slots[m.chunk as usize][m.position as usize];
        if *slot != u32::MAX {
            return Err(corrupt(format!(
                "members '{}' and '{}' share item {} of chunk {}",
                members[*slot as usize].shown(),
                m.shown(),
                m.position,
                m.chunk
            )));
        }
        *slot = i as u32;
    }
    // With counts equal and no item shared, every slot is filled.
    Ok(slots)
}
