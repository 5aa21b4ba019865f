//! The packed member table (index magic `BSI2`, formats 1.4 and 1.5, and `BSI3`, format 1.6;
//! `spec/format.md` 4.8). The two differ in one rule: in `BSI3` a member whose wrapper checks its
//! rebuilt file (`index::file_checked`) stores no CRC.
//!
//! The row layout of 4.2 interleaves every member's fields, so zstd sees a random CRC between
//! every two paths and cannot learn the table's structure: an MNIST member cost about 22 bytes of
//! compressed index. Here each field is a column of its own, stored as a delta from the member
//! before where members resemble their neighbours (front-coded paths, times, chunk and position),
//! and a field the rules fix is not stored at all (a directory's size, a symlink's CRC, an
//! image's pixel count). Decoding yields the very `MemberEntry` values of the row layout, which
//! then pass the same checks (`index::check_member`).

use super::bytes::{unzigzag, zigzag, Cursor, PutLe};
use super::index::{
    content_of, file_checked, kind_of, Content, Geometry, Kind, Layout, MemberEntry, MemberErr,
    MAX_PATH, MAX_WRAPPER, NO_CHUNK,
};

/// The columns, in their stored order.
const NAMES: usize = 0;
const TYPES: usize = 1;
const MODES: usize = 2;
const TIMES: usize = 3;
const PLACES: usize = 4;
const SIZES: usize = 5;
const CRCS: usize = 6;
const SHAPES: usize = 7;
const LINKS: usize = 8;
const WRAPPERS: usize = 9;
const COLUMNS: usize = 10;

/// Fewest bytes a member takes: 2 in NAMES, 1 in TYPES, 2 in MODES, 2 in TIMES, 1 in SHAPES.
pub(super) const MIN_MEMBER_BYTES: usize = 8;

/// What the coding of a member is relative to: the member before it, and per chunk the position
/// after the last member placed in it.
struct Previous {
    path: Vec<u8>,
    sec: i64,
    nsec: u32,
    chunk: u32,
    next_position: Vec<u32>,
}

impl Previous {
    fn new(chunk_count: usize) -> Previous {
        Previous {
            path: Vec::new(),
            sec: 0,
            nsec: 0,
            chunk: 0,
            next_position: vec![0; chunk_count],
        }
    }
}

/// Appends the member table of `members` in packed form. Every member must satisfy
/// `index::check_member` against `chunk_count` chunks and the layout (the writer checks this by
/// parsing what it wrote: a field the rules imply is not stored, so an entry breaking them would
/// not round-trip). A member's CRC is stored where it has one.
pub(super) fn encode_members(out: &mut Vec<u8>, members: &[MemberEntry], chunk_count: usize) {
    let mut col: [Vec<u8>; COLUMNS] = Default::default();
    let mut prev = Previous::new(chunk_count);
    for m in members {
        let shared = m
            .path
            .iter()
            .zip(&prev.path)
            .take_while(|(a, b)| a == b)
            .count();
        col[NAMES].put_varint(shared as u64);
        col[NAMES].put_varint((m.path.len() - shared) as u64);
        col[NAMES].extend_from_slice(&m.path[shared..]);
        col[TYPES].put_u8(m.kind as u8 | (m.content as u8) << 4);
        col[MODES].put_u16(m.mode as u16);
        col[TIMES].put_varint(zigzag(m.mtime_sec.wrapping_sub(prev.sec)));
        col[TIMES].put_varint(zigzag(m.mtime_nsec as i64 - prev.nsec as i64));
        if m.kind == Kind::File {
            if m.chunk == NO_CHUNK {
                col[PLACES].put_varint(0);
            } else {
                col[PLACES].put_varint(1 + zigzag(m.chunk as i64 - prev.chunk as i64));
                let next = &mut prev.next_position[m.chunk as usize];
                col[PLACES].put_varint(zigzag(m.position as i64 - *next as i64));
                *next = m.position.wrapping_add(1);
                prev.chunk = m.chunk;
                if m.content == Content::Bytes {
                    col[SIZES].put_varint(m.size);
                }
                if let Some(crc) = m.crc {
                    col[CRCS].put_u32(crc);
                }
            }
        }
        col[SHAPES].put_u8(m.geometry.channels);
        if m.geometry.channels != 0 {
            col[SHAPES].put_varint(m.geometry.width as u64);
            col[SHAPES].put_varint(m.geometry.height as u64);
        }
        if m.kind == Kind::Symlink {
            col[LINKS].put_varint(m.link.len() as u64);
            col[LINKS].extend_from_slice(&m.link);
        }
        if m.content.is_pixels() {
            col[WRAPPERS].put_varint(m.wrapper.len() as u64);
            col[WRAPPERS].extend_from_slice(&m.wrapper);
        }
        prev.path.clone_from(&m.path);
        prev.sec = m.mtime_sec;
        prev.nsec = m.mtime_nsec;
    }
    for c in &col {
        out.put_varint(c.len() as u64);
        out.extend_from_slice(c);
    }
}

/// Splits the rest of the index into its columns; none may run past the end, and nothing may
/// follow the last.
pub(super) fn split_columns<'a>(c: &mut Cursor<'a>) -> Result<[Cursor<'a>; COLUMNS], String> {
    let mut cols = Vec::with_capacity(COLUMNS);
    for i in 0..COLUMNS {
        let len = c
            .varint()
            .ok()
            .flatten()
            .ok_or_else(|| format!("the length of column {i} is damaged"))?;
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|len| c.take(len).ok())
            .ok_or_else(|| format!("column {i} runs past the end of the index"))?;
        cols.push(Cursor::new(bytes));
    }
    if c.remaining() != 0 {
        return Err(format!(
            "{} stray bytes at the end of the index",
            c.remaining()
        ));
    }
    Ok(cols.try_into().unwrap_or_else(|_| unreachable!()))
}

/// Decoding state for the members, one after the other.
pub(super) struct Decoder<'a> {
    cols: [Cursor<'a>; COLUMNS],
    prev: Previous,
    layout: Layout,
}

fn bad(msg: &str) -> MemberErr {
    MemberErr::Bad(msg.to_string())
}

impl<'a> Decoder<'a> {
    pub fn new(cols: [Cursor<'a>; COLUMNS], chunk_count: usize, layout: Layout) -> Decoder<'a> {
        Decoder {
            cols,
            prev: Previous::new(chunk_count),
            layout,
        }
    }

    fn varint(&mut self, col: usize, what: &str) -> Result<u64, MemberErr> {
        self.cols[col]
            .varint()?
            .ok_or_else(|| bad(&format!("{what} is not a valid varint")))
    }

    fn varint_u32(&mut self, col: usize, what: &str) -> Result<u32, MemberErr> {
        u32::try_from(self.varint(col, what)?).map_err(|_| bad(&format!("{what} is out of range")))
    }

    /// A varint length, at most `max`, then that many bytes.
    fn bytes(&mut self, col: usize, max: usize, what: &str) -> Result<Vec<u8>, MemberErr> {
        let len = self.varint(col, what)?;
        if len > max as u64 {
            return Err(bad(&format!("{what} {len} is out of range")));
        }
        Ok(self.cols[col].take(len as usize)?.to_vec())
    }

    pub fn member(&mut self) -> Result<MemberEntry, MemberErr> {
        let shared = self.varint(NAMES, "path prefix length")?;
        let suffix = self.varint(NAMES, "path suffix length")?;
        if shared > self.prev.path.len() as u64 {
            return Err(bad("path prefix is longer than the previous path"));
        }
        let len = shared.saturating_add(suffix);
        if len == 0 || len > MAX_PATH as u64 {
            return Err(bad(&format!("path length {len} is out of range")));
        }
        let mut path = self.prev.path[..shared as usize].to_vec();
        path.extend_from_slice(self.cols[NAMES].take(suffix as usize)?);
        let t = self.cols[TYPES].u8()?;
        let kind = kind_of(t & 0x0F)?;
        let content = content_of(t >> 4, &path)?;
        let mode = self.cols[MODES].u16()? as u32;
        let sec = self
            .prev
            .sec
            .wrapping_add(unzigzag(self.varint(TIMES, "mtime")?));
        let nsec = unzigzag(self.varint(TIMES, "mtime nanoseconds")?)
            .checked_add(self.prev.nsec as i64)
            .filter(|n| (0..1_000_000_000).contains(n))
            .ok_or_else(|| bad("mtime nanoseconds out of range"))? as u32;
        // Read before the CRC, whose presence it decides (each column is read in member order
        // on its own, so the order of columns read within a member does not matter).
        let wrapper = if content.is_pixels() {
            self.bytes(WRAPPERS, MAX_WRAPPER, "image wrapper length")?
        } else {
            Vec::new()
        };
        let (mut chunk, mut position, mut size, mut crc) = (NO_CHUNK, 0, 0, Some(0));
        let mut stored_size = None;
        if kind == Kind::File {
            let place = self.varint(PLACES, "chunk")?;
            if place != 0 {
                chunk = unzigzag(place - 1)
                    .checked_add(self.prev.chunk as i64)
                    .filter(|&c| 0 <= c && c < self.prev.next_position.len() as i64)
                    .ok_or_else(|| bad("chunk does not exist"))? as u32;
                let next = self.prev.next_position[chunk as usize];
                position = unzigzag(self.varint(PLACES, "position")?)
                    .checked_add(next as i64)
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| bad("position is out of range"))?;
                self.prev.next_position[chunk as usize] = position.wrapping_add(1);
                self.prev.chunk = chunk;
                if content == Content::Bytes {
                    stored_size = Some(self.varint(SIZES, "size")?);
                }
                crc = if file_checked(self.layout, content, &wrapper) {
                    None
                } else {
                    Some(self.cols[CRCS].u32()?)
                };
            }
        }
        let channels = self.cols[SHAPES].u8()?;
        let geometry = if channels == 0 {
            Geometry::default()
        } else {
            Geometry {
                width: self.varint_u32(SHAPES, "image width")?,
                height: self.varint_u32(SHAPES, "image height")?,
                channels,
            }
        };
        let link = if kind == Kind::Symlink {
            self.bytes(LINKS, MAX_PATH, "symlink target length")?
        } else {
            Vec::new()
        };
        // The fields the rules fix (spec/format.md 4.2), which the packed form does not store.
        match (kind, content) {
            (Kind::Symlink, _) => {
                size = link.len() as u64;
                crc = Some(crc32fast::hash(&link));
            }
            (Kind::File, c) if c.is_pixels() && chunk != NO_CHUNK => {
                size = c
                    .pixel_bytes(geometry)
                    .ok_or_else(|| bad("image geometry overflows"))?;
            }
            _ => size = stored_size.unwrap_or(size),
        }
        self.prev.path.clone_from(&path);
        self.prev.sec = sec;
        self.prev.nsec = nsec;
        Ok(MemberEntry {
            path,
            kind,
            content,
            mode,
            mtime_sec: sec,
            mtime_nsec: nsec,
            size,
            crc,
            chunk,
            position,
            geometry,
            link,
            wrapper,
        })
    }

    /// After the last member: every column must have been read to its end.
    pub fn finish(&self) -> Result<(), String> {
        match self.cols.iter().position(|c| c.remaining() != 0) {
            Some(i) => Err(format!(
                "column {i} has {} bytes that no member uses",
                self.cols[i].remaining()
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::HEADER_LEN;
    use super::super::index::{encode_index, encode_row_index, parse_index, ChunkEntry};
    use super::*;
    use Layout::{Checked, Packed, Rows};

    fn chunk(offset: u64, items: u32) -> ChunkEntry {
        ChunkEntry {
            offset,
            len: 10,
            crc: 0x1234_5678,
            item_count: items,
            codec: 1,
        }
    }

    fn member(path: &str, kind: Kind) -> MemberEntry {
        MemberEntry {
            path: path.as_bytes().to_vec(),
            kind,
            content: Content::Bytes,
            mode: 0o755,
            mtime_sec: 1_700_000_000,
            mtime_nsec: 5,
            size: 0,
            crc: Some(0),
            chunk: NO_CHUNK,
            position: 0,
            geometry: Geometry::default(),
            link: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    fn file(path: &str, chunk: u32, position: u32, size: u64) -> MemberEntry {
        MemberEntry {
            chunk,
            position,
            size,
            crc: Some(0xDEAD_BEEF ^ position),
            mode: 0o644,
            ..member(path, Kind::File)
        }
    }

    /// Every kind of member and every delta the coding meets: two chunks whose members alternate
    /// and arrive out of position order, times that step back across seconds and before 1970,
    /// an empty file, a symlink, images kept as pixels: a byte-exact PNG (wrapper kind 4, whose
    /// file CRC checks it: no CRC of its own in `layout` `Checked`) and a PNM (kind 2).
    fn sample(layout: Layout) -> (Vec<ChunkEntry>, Vec<MemberEntry>) {
        let chunks = vec![
            chunk(HEADER_LEN as u64, 3),
            chunk(HEADER_LEN as u64 + 10, 3),
        ];
        let mut link = member("d/link", Kind::Symlink);
        link.link = b"../x".to_vec();
        link.size = 4;
        link.crc = Some(crc32fast::hash(b"../x"));
        let mut image = file("d/img.png", 1, 1, 6);
        image.content = Content::Pixels;
        image.geometry = Geometry {
            width: 3,
            height: 2,
            channels: 1,
        };
        image.wrapper = vec![4, 1, 2, 3];
        if layout == Checked {
            image.crc = None;
        }
        let mut pnm = file("d/img.pgm", 1, 2, 2);
        pnm.content = Content::Pixels;
        pnm.geometry = Geometry {
            width: 1,
            height: 2,
            channels: 1,
        };
        pnm.wrapper = vec![2, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut early = file("d/b", 0, 2, 1);
        early.mtime_sec = -86_400;
        early.mtime_nsec = 999_999_999;
        let mut empty = file("e", NO_CHUNK, 0, 0);
        empty.crc = Some(0);
        empty.mtime_nsec = 0;
        let members = vec![
            member("d", Kind::Dir),
            file("d/a", 0, 1, 7),
            image,
            pnm,
            early,
            link,
            file("d/c", 1, 0, 3),
            file("d/a2", 0, 0, u64::MAX),
            empty,
        ];
        (chunks, members)
    }

    fn parse(
        raw: &[u8],
        chunks: &[ChunkEntry],
        layout: Layout,
    ) -> crate::archive::Result<Vec<MemberEntry>> {
        let end = chunks
            .last()
            .map_or(HEADER_LEN as u64, |c| c.offset + c.len);
        parse_index(raw, end, layout).map(|ix| ix.members)
    }

    #[test]
    fn every_layout_gives_back_its_members() {
        let (chunks, members) = sample(Packed);
        let packed = encode_index(&chunks, &members, Packed);
        assert_eq!(&packed[..4], b"BSI2");
        assert_eq!(parse(&packed, &chunks, Packed).unwrap(), members);
        let rows = encode_row_index(&chunks, &members);
        assert_eq!(parse(&rows, &chunks, Rows).unwrap(), members);
        assert!(packed.len() < rows.len());
        let (_, checked_members) = sample(Checked);
        let checked = encode_index(&chunks, &checked_members, Checked);
        assert_eq!(&checked[..4], b"BSI3");
        assert_eq!(parse(&checked, &chunks, Checked).unwrap(), checked_members);
        // The same table less one CRC: the byte-exact PNG's. The PNM keeps its own.
        assert_eq!(checked.len(), packed.len() - 4);
        // Each layout only under its own feature bits.
        for (raw, layout) in [(&packed, Packed), (&rows, Rows), (&checked, Checked)] {
            for other in [Packed, Rows, Checked] {
                if other != layout {
                    assert!(
                        parse(raw, &chunks, other).is_err(),
                        "{layout:?} as {other:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_member_has_its_own_crc_or_its_files_never_both_nor_neither() {
        let (chunks, members) = sample(Checked);
        // A byte-exact PNG with a CRC as well: the table holds one CRC more than the decoder
        // reads, and is refused.
        let mut both = members.clone();
        both[2].crc = Some(7);
        assert!(parse(&encode_index(&chunks, &both, Checked), &chunks, Checked).is_err());
        // A PNM without one, and a byte-exact PNG without one in a 1.5 table.
        let mut neither = members.clone();
        neither[3].crc = None;
        assert!(parse(&encode_index(&chunks, &neither, Checked), &chunks, Checked).is_err());
        assert!(parse(&encode_index(&chunks, &members, Packed), &chunks, Packed).is_err());
    }

    #[test]
    fn the_specs_example_has_the_specs_bytes() {
        // spec/format.md section 11: `d`, then `d/a` (5 bytes) in chunk 0.
        let chunks = vec![chunk(HEADER_LEN as u64, 1)];
        let mut a = file("d/a", 0, 0, 5);
        a.crc = Some(0x3610_A686);
        let raw = encode_index(&chunks, &[member("d", Kind::Dir), a], Checked);
        let mut c = Cursor::new(&raw[12 + 32..]);
        let cols = split_columns(&mut c).unwrap();
        let rest = |mut k: Cursor| k.take(k.remaining()).unwrap().to_vec();
        let [names, _, _, _, places, sizes, crcs, ..] = cols;
        assert_eq!(rest(names), [0x00, 0x01, b'd', 0x01, 0x02, b'/', b'a']);
        assert_eq!(rest(places), [0x01, 0x00]);
        assert_eq!(rest(sizes), [0x05]);
        assert_eq!(rest(crcs), 0x3610_A686u32.to_le_bytes());
    }

    #[test]
    fn damaged_packed_tables_are_refused_without_panics() {
        let (chunks, members) = sample(Checked);
        let raw = encode_index(&chunks, &members, Checked);
        let mut refused = 0;
        for cut in 0..raw.len() {
            assert!(
                parse(&raw[..cut], &chunks, Checked).is_err(),
                "cut at {cut}"
            );
        }
        for i in 12 + 64..raw.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = raw.clone();
                bad[i] ^= flip;
                match parse(&bad, &chunks, Checked) {
                    Err(_) => refused += 1,
                    // Some flips give other valid members (a path's byte, a CRC): never the same.
                    Ok(m) => assert_ne!(m, members, "byte {i} ^ {flip:#x} changed nothing"),
                }
            }
        }
        assert!(refused > 0);
        let mut stray = raw.clone();
        stray.push(0);
        assert!(parse(&stray, &chunks, Checked).is_err());
    }

    #[test]
    fn a_prefix_longer_than_the_previous_path_is_refused() {
        let chunks = vec![chunk(HEADER_LEN as u64, 1)];
        let mut raw = encode_index(&chunks, &[file("a", 0, 0, 1)], Checked);
        // names column: length 3, then shared 0, suffix 1, 'a': make shared 1.
        let at = 12 + 32 + 1;
        assert_eq!(raw[at..at + 3], [0x00, 0x01, b'a']);
        raw[at] = 1;
        let err = parse(&raw, &chunks, Checked).unwrap_err().to_string();
        assert!(err.contains("member 0") && err.contains("prefix"), "{err}");
    }
}
