//! The fixed-size parts of a .bsar file: the header at the front and the trailer at the end.
//! Byte layouts are defined in `spec/format.md`; the constants here are that document's.

use super::bytes::{crc_ok, Cursor, PutLe};
use super::error::{Error, Result};
use super::index::Layout;

/// First 8 bytes of every archive. The high byte and CR LF catch 7-bit and newline-mangling
/// transfers, as in PNG.
pub const MAGIC: [u8; 8] = *b"\x89BSAR\r\n\x1a";
/// Last 8 bytes of every archive.
pub const END_MAGIC: [u8; 8] = *b"BSAR_END";

pub const VERSION_MAJOR: u8 = 1;
pub const VERSION_MINOR: u8 = 9;
/// Required-feature bit: the index is packed (magic `BSI2`, spec/format.md 4.8), not in rows.
/// Format 1.4 defines it; a 1.3 reader refuses such an archive by its feature bits, with a clear
/// message, instead of calling the index damaged.
pub const FEATURE_PACKED_INDEX: u16 = 1;
/// Required-feature bit: the packed index leaves out the CRC of members whose wrapper checks
/// their rebuilt file (magic `BSI3`, spec/format.md 4.8). Format 1.6 defines it; it is only valid
/// with `FEATURE_PACKED_INDEX`. A 1.5 reader refuses such an archive by its feature bits.
pub const FEATURE_FILE_CHECKED: u16 = 2;
/// Required-feature bits this reader understands.
pub const KNOWN_FEATURES: u16 = FEATURE_PACKED_INDEX | FEATURE_FILE_CHECKED;
/// Required-feature bits this writer sets.
const WRITTEN_FEATURES: u16 = FEATURE_PACKED_INDEX | FEATURE_FILE_CHECKED;

pub const HEADER_LEN: usize = 16;
pub const TRAILER_LEN: usize = 32;

/// The header as written by this version.
pub fn encode_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(&MAGIC);
    h.put_u8(VERSION_MAJOR);
    h.put_u8(VERSION_MINOR);
    h.put_u16(WRITTEN_FEATURES);
    let crc = crc32fast::hash(&h);
    h.put_u32(crc);
    h
}

/// Checks the header at the front of `data` (which must be at least `HEADER_LEN` long) and
/// returns its required-feature bits.
pub fn check_header(data: &[u8]) -> Result<u16> {
    let h = &data[..HEADER_LEN];
    if h[..8] != MAGIC {
        return Err(Error::NotAnArchive(
            "not a bsar archive (bad magic number)".into(),
        ));
    }
    let (major, minor) = (h[8], h[9]);
    let features = u16::from_le_bytes([h[10], h[11]]);
    let crc_ok = crc_ok(&h[..12], u32::from_le_bytes(h[12..16].try_into().unwrap()));
    if major != VERSION_MAJOR {
        // A future version may lay out its header differently, so its CRC need not check out here.
        let hint = if crc_ok {
            ""
        } else {
            " (or the header is damaged)"
        };
        return Err(Error::Unsupported(format!(
            "archive format version {major}.{minor} is not supported by this bsar, which reads \
             version {VERSION_MAJOR}.x{hint}"
        )));
    }
    if !crc_ok {
        return Err(Error::Corrupt("header is damaged (CRC mismatch)".into()));
    }
    let unknown = features & !KNOWN_FEATURES;
    if unknown != 0 {
        return Err(Error::Unsupported(format!(
            "archive needs features {unknown:#06x} that this bsar does not support"
        )));
    }
    if features & FEATURE_FILE_CHECKED != 0 && features & FEATURE_PACKED_INDEX == 0 {
        return Err(Error::Corrupt(
            "header is damaged: feature bit 1 without feature bit 0".into(),
        ));
    }
    Ok(features)
}

/// The member table's layout under the header's required-feature bits (as `check_header`
/// returns them).
pub fn layout(features: u16) -> Layout {
    if features & FEATURE_FILE_CHECKED != 0 {
        Layout::Checked
    } else if features & FEATURE_PACKED_INDEX != 0 {
        Layout::Packed
    } else {
        Layout::Rows
    }
}

/// Where the index lies, as read from the trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub index_offset: u64,
    pub index_len: u64,
    pub index_crc: u32,
}

pub fn encode_trailer(t: &Trailer) -> Vec<u8> {
    let mut b = Vec::with_capacity(TRAILER_LEN);
    b.put_u64(t.index_offset);
    b.put_u64(t.index_len);
    b.put_u32(t.index_crc);
    let crc = crc32fast::hash(&b);
    b.put_u32(crc);
    b.extend_from_slice(&END_MAGIC);
    b
}

/// Reads and checks the trailer at the end of `data`, which is the whole archive.
pub fn read_trailer(data: &[u8]) -> Result<Trailer> {
    let t = &data[data.len() - TRAILER_LEN..];
    if t[24..] != END_MAGIC {
        return Err(Error::Corrupt(
            "trailer not found at the end of the archive (truncated or damaged)".into(),
        ));
    }
    let mut c = Cursor::new(t);
    let short = |_| Error::Corrupt("trailer is too short".into());
    let index_offset = c.u64().map_err(short)?;
    let index_len = c.u64().map_err(short)?;
    let index_crc = c.u32().map_err(short)?;
    let crc = c.u32().map_err(short)?;
    if !crc_ok(&t[..20], crc) {
        return Err(Error::Corrupt("trailer is damaged (CRC mismatch)".into()));
    }
    // The index sits right before the trailer, after the header: nothing in the file is unowned.
    let index_end = (data.len() - TRAILER_LEN) as u64;
    if index_offset < HEADER_LEN as u64 || index_offset.checked_add(index_len) != Some(index_end) {
        return Err(Error::Corrupt(format!(
            "trailer is damaged: index at {index_offset}+{index_len} does not end at byte {index_end}"
        )));
    }
    Ok(Trailer {
        index_offset,
        index_len,
        index_crc,
    })
}
