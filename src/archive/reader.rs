//! Reading an archive held in memory (a memory map, in the tool). Opening checks the header,
//! trailer and index; chunks are checked and decoded only when asked for, so reading one member
//! touches only its chunk.

use super::bytes::crc_ok;
use super::error::{Error, Result};
use super::format::{check_header, layout, read_trailer, HEADER_LEN, TRAILER_LEN};
use super::index::{parse_index, Content, Index, Kind, MemberEntry, NO_CHUNK};
use crate::codec::{ChunkToDecode, Codec, CodecError, ItemShape, Payload, Registry};

/// One member's restored content out of a chunk that decoded, or why that member alone is
/// damaged (its content fails its CRC, or its file does not rebuild).
pub type Item = Result<Restored>;

/// A member's checked content, and for a member checked through its file (no CRC of its own,
/// `index::file_checked`), that file: the check had to rebuild it, so extraction need not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub content: Vec<u8>,
    pub file: Option<Vec<u8>>,
}

pub struct Archive<'a> {
    data: &'a [u8],
    pub index: Index,
}

impl<'a> Archive<'a> {
    /// Checks the header, the trailer and the index (including their CRCs).
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        if data.len() < HEADER_LEN + TRAILER_LEN {
            if data.len() >= 8 && data[..8] != super::format::MAGIC {
                return Err(Error::NotAnArchive(
                    "not a bsar archive (bad magic number)".into(),
                ));
            }
            return Err(Error::NotAnArchive(format!(
                "not a bsar archive, or truncated: {} bytes is shorter than any archive",
                data.len()
            )));
        }
        let features = check_header(data)?;
        let t = read_trailer(data)?;
        let index_bytes = &data[t.index_offset as usize..(t.index_offset + t.index_len) as usize];
        if !crc_ok(index_bytes, t.index_crc) {
            return Err(Error::Corrupt("index is damaged (CRC mismatch)".into()));
        }
        let raw_index = super::packed::unpack_index(index_bytes)?;
        let index = parse_index(&raw_index, t.index_offset, layout(features))?;
        Ok(Archive { data, index })
    }

    pub fn members(&self) -> &[MemberEntry] {
        &self.index.members
    }

    /// A name for chunk `ci` in messages: its number and the members it holds.
    pub fn describe_chunk(&self, ci: usize) -> String {
        let holders = &self.index.chunk_members[ci];
        let first = self.index.members[holders[0] as usize].shown();
        match holders.len() {
            1 => format!("chunk {ci} (member '{first}')"),
            n => format!("chunk {ci} (members '{first}' and {} more)", n - 1),
        }
    }

    /// The stored bytes of chunk `ci`, after checking their CRC.
    pub fn chunk_bytes(&self, ci: usize) -> Result<&'a [u8]> {
        let c = &self.index.chunks[ci];
        let bytes = &self.data[c.offset as usize..(c.offset + c.len) as usize];
        if !crc_ok(bytes, c.crc) {
            return Err(Error::Corrupt(format!(
                "{} is damaged (CRC mismatch)",
                self.describe_chunk(ci)
            )));
        }
        Ok(bytes)
    }

    /// Checks every chunk without decoding its items: its CRC, that its codec is known, and its
    /// structure as the codec reads it (`Codec::check_chunk`). With `parse`, what the writer runs on
    /// what it wrote: the reader's own code, so a written archive opens.
    pub fn check_chunks(&self, registry: &Registry) -> Result<()> {
        (0..self.index.chunks.len()).try_for_each(|ci| self.check_chunk(ci, registry))
    }

    /// `check_chunks` for chunk `ci` alone.
    pub fn check_chunk(&self, ci: usize, registry: &Registry) -> Result<()> {
        self.codec_of(ci, registry)?
            .check_chunk(self.chunk_bytes(ci)?, &self.shapes(ci))
            .map_err(|e| Error::Corrupt(format!("{} is damaged: {e}", self.describe_chunk(ci))))
    }

    /// Where chunk `ci` lies in the archive: (offset, length).
    pub fn chunk_span(&self, ci: usize) -> (u64, u64) {
        let c = &self.index.chunks[ci];
        (c.offset, c.len)
    }

    /// The codec of chunk `ci`, or why this bsar cannot decode it.
    fn codec_of<'r>(&self, ci: usize, registry: &'r Registry) -> Result<&'r dyn Codec> {
        let id = self.index.chunks[ci].codec;
        registry.get(id).ok_or_else(|| {
            Error::Unsupported(format!(
                "{} uses codec {id} ({}), which this bsar does not support",
                self.describe_chunk(ci),
                registry.describe(id)
            ))
        })
    }

    /// How many chunks the archive has.
    pub fn chunk_count(&self) -> usize {
        self.index.chunks.len()
    }

    /// The codec id of chunk `ci`.
    pub fn chunk_codec(&self, ci: usize) -> u8 {
        self.index.chunks[ci].codec
    }

    /// What the member table promises about each item of chunk `ci`.
    pub fn shapes(&self, ci: usize) -> Vec<ItemShape> {
        self.index.chunk_members[ci]
            .iter()
            .map(|&m| self.index.members[m as usize].shape())
            .collect()
    }

    /// The most memory reading chunk `ci` (any `upto`) may hold allocated at once, whatever its
    /// bytes hold (spec/format.md 6.3): its codec's decode budget, then for each member checked
    /// through its rebuilt file, a copy of its pixels and what its rebuild keeps, with the
    /// rebuild's fixed tables once. `None` where this bsar lacks the chunk's codec.
    pub fn read_budget(&self, ci: usize, registry: &Registry) -> Option<u64> {
        use crate::imageio::{rebuild_budget, REBUILD_TABLES};
        let c = &self.index.chunks[ci];
        let shapes = self.shapes(ci);
        let mut budget = registry.get(c.codec)?.decode_budget(c.len, &shapes);
        let mut rebuilds = false;
        for &mi in &self.index.chunk_members[ci] {
            let m = &self.index.members[mi as usize];
            if m.crc.is_none() {
                let header = m.image_header();
                let kept = rebuild_budget(m.wrapper.len() as u64, header) - REBUILD_TABLES;
                budget = budget
                    .saturating_add(header.pixel_bytes())
                    .saturating_add(kept);
                rebuilds = true;
            }
        }
        let items = shapes.len() as u64;
        Some(
            budget
                .saturating_add(if rebuilds { REBUILD_TABLES } else { 0 })
                .saturating_add(crate::codec::ITEM_OVERHEAD.saturating_mul(items)),
        )
    }

    /// Decodes items `0..=upto` of chunk `ci` and returns their restored bytes, each checked
    /// against its member's CRC (`check_content`); the first damaged item fails the call.
    pub fn read_chunk(&self, ci: usize, upto: usize, registry: &Registry) -> Result<Vec<Vec<u8>>> {
        let mut r = self.read_chunks(&[(ci, upto)], registry);
        r.pop()
            .expect("one result per chunk")?
            .into_iter()
            .map(|item| item.map(|r| r.content))
            .collect()
    }

    /// Decodes items `0..=upto` of chunk `(ci, upto)` of `wanted`, with the chunks of one codec
    /// handed to it at once (`Codec::decode_chunks`, which may batch work across them). Result
    /// `i` is `wanted[i]`'s: why the chunk cannot be read, or its items, each checked against
    /// its member (`check_content`) on its own, so that one damaged member costs no other.
    pub fn read_chunks(
        &self,
        wanted: &[(usize, usize)],
        registry: &Registry,
    ) -> Vec<Result<Vec<Item>>> {
        let shapes: Vec<Vec<ItemShape>> = wanted.iter().map(|&(ci, _)| self.shapes(ci)).collect();
        // Per chunk: its codec and bytes, or why it cannot be decoded.
        let found: Vec<Result<(&dyn Codec, &[u8])>> = wanted
            .iter()
            .map(|&(ci, _)| Ok((self.codec_of(ci, registry)?, self.chunk_bytes(ci)?)))
            .collect();
        let mut decoded: Vec<Option<std::result::Result<Vec<Payload>, CodecError>>> =
            wanted.iter().map(|_| None).collect();
        let mut ids: Vec<u8> = found.iter().flatten().map(|(c, _)| c.id()).collect();
        ids.dedup();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let which: Vec<usize> = (0..wanted.len())
                .filter(|&i| matches!(&found[i], Ok((c, _)) if c.id() == id))
                .collect();
            let Ok((codec, _)) = &found[which[0]] else {
                unreachable!()
            };
            let requests: Vec<ChunkToDecode> = which
                .iter()
                .map(|&i| ChunkToDecode {
                    data: found[i].as_ref().map(|f| f.1).unwrap_or_default(),
                    shapes: &shapes[i],
                    upto: wanted[i].1,
                })
                .collect();
            for (&i, r) in which.iter().zip(codec.decode_chunks(&requests)) {
                decoded[i] = Some(r);
            }
        }
        found
            .into_iter()
            .zip(decoded)
            .enumerate()
            .map(|(i, (f, d))| {
                f?;
                let (ci, upto) = wanted[i];
                let payloads = d.expect("every found chunk is decoded").map_err(|e| {
                    Error::Corrupt(format!(
                        "{} cannot be decoded: {e}",
                        self.describe_chunk(ci)
                    ))
                })?;
                self.check_items(ci, upto, &shapes[i], payloads)
            })
            .collect()
    }

    /// Checks decoded payloads against the member table and returns their bytes: a payload of
    /// the wrong shape fails the chunk, a content check only its member.
    fn check_items(
        &self,
        ci: usize,
        upto: usize,
        shapes: &[ItemShape],
        payloads: Vec<Payload>,
    ) -> Result<Vec<Item>> {
        let holders = &self.index.chunk_members[ci];
        if payloads.len() != upto + 1 {
            return Err(Error::Corrupt(format!(
                "{}: codec returned {} items, expected {}",
                self.describe_chunk(ci),
                payloads.len(),
                upto + 1
            )));
        }
        let mut out = Vec::with_capacity(payloads.len());
        for (pos, payload) in payloads.into_iter().enumerate() {
            let m = &self.index.members[holders[pos] as usize];
            if !shapes[pos].matches(&payload) {
                return Err(Error::Corrupt(format!(
                    "member '{}' decodes to the wrong size or shape",
                    m.shown()
                )));
            }
            let bytes = match payload {
                Payload::Bytes(b) => b,
                Payload::Image(img) => img.pixels,
            };
            out.push(check_content(m, &bytes).map(|file| Restored {
                content: bytes,
                file,
            }));
        }
        Ok(out)
    }

    /// Whether member `mi` is read by streaming (`stream_member`): a file stored as bytes, alone
    /// in a chunk whose codec decodes it as it writes it out (`Codec::streams`, for large files).
    pub fn streams(&self, mi: usize, registry: &Registry) -> bool {
        let m = &self.index.members[mi];
        if m.kind != Kind::File || m.chunk == NO_CHUNK || m.content != Content::Bytes {
            return false;
        }
        let c = &self.index.chunks[m.chunk as usize];
        c.item_count == 1
            && registry
                .get(c.codec)
                .is_some_and(|codec| codec.streams(m.shape()))
    }

    /// Writes member `mi`'s content (a member that `streams`) to `out` as its chunk decodes, in
    /// memory that does not grow with its size. The chunk's CRC and the member's are checked as
    /// the bytes pass, so a failure may come after some were written: the caller throws them
    /// away. `release(offset, len)` is told of each stretch of the archive's bytes read for the
    /// last time (a memory-mapped reader can drop those pages).
    pub fn stream_member(
        &self,
        mi: usize,
        registry: &Registry,
        out: &mut dyn std::io::Write,
        release: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let m = &self.index.members[mi];
        let ci = m.chunk as usize;
        let c = &self.index.chunks[ci];
        let codec = self.codec_of(ci, registry)?;
        let data = &self.data[c.offset as usize..(c.offset + c.len) as usize];
        let mut input = Releasing {
            data,
            pos: 0,
            released: 0,
            base: c.offset,
            crc: crc32fast::Hasher::new(),
            release,
        };
        let mut output = Hashing {
            inner: out,
            crc: crc32fast::Hasher::new(),
        };
        let decoded = codec.decode_stream(&mut input, m.shape(), &mut output);
        if let Err(CodecError::Internal(e)) = decoded {
            return Err(Error::Io(e));
        }
        // Where the decoder stopped early, the rest of the chunk still counts for its CRC, which
        // names damage first, as `chunk_bytes` would.
        let rest = &data[input.pos..];
        input.crc.update(rest);
        input.pos = data.len();
        input.release_to(data.len());
        if input.crc.finalize() != c.crc {
            return Err(Error::Corrupt(format!(
                "{} is damaged (CRC mismatch)",
                self.describe_chunk(ci)
            )));
        }
        match decoded {
            Err(e) => {
                return Err(Error::Corrupt(format!(
                    "{} is damaged: {e}",
                    self.describe_chunk(ci)
                )))
            }
            Ok(()) => {}
        }
        match m.crc {
            Some(crc) if output.crc.finalize() != crc => Err(Error::Corrupt(format!(
                "member '{}' is damaged (content CRC mismatch)",
                m.shown()
            ))),
            _ => Ok(()),
        }
    }

    /// The restored content of member `mi`: file bytes, symlink target, or nothing.
    pub fn read_member(&self, mi: usize, registry: &Registry) -> Result<Vec<u8>> {
        self.read_member_restored(mi, registry).map(|r| r.content)
    }

    /// [`Archive::read_member`], with the file that checking it rebuilt, where it did.
    pub fn read_member_restored(&self, mi: usize, registry: &Registry) -> Result<Restored> {
        let m = &self.index.members[mi];
        let plain = |content| {
            Ok(Restored {
                content,
                file: None,
            })
        };
        match m.kind {
            Kind::Dir => plain(Vec::new()),
            Kind::Symlink => plain(m.link.clone()),
            Kind::File if m.chunk == NO_CHUNK => plain(Vec::new()),
            Kind::File => {
                let (ci, upto) = (m.chunk as usize, m.position as usize);
                let mut r = self.read_chunks(&[(ci, upto)], registry);
                let mut items = r.pop().expect("one result per chunk")?;
                items.pop().expect("the codec returned upto + 1 items")
            }
        }
    }
}

/// Checks restored content against the member table's size and CRC; for a member without a
/// CRC of its own (`index::file_checked`), by rebuilding its file, which must match the CRC-32
/// its wrapper records for it, and which is returned.
pub fn check_content(m: &MemberEntry, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let damaged = |why: &str| {
        Err(Error::Corrupt(format!(
            "member '{}' is damaged ({why})",
            m.shown()
        )))
    };
    if bytes.len() as u64 != m.size {
        return damaged("content size mismatch");
    }
    match m.crc {
        Some(crc) if !crc_ok(bytes, crc) => damaged("content CRC mismatch"),
        Some(_) => Ok(None),
        None => {
            debug_assert!(m.content.is_pixels());
            let header = m.image_header();
            match crate::imageio::rebuild(&m.wrapper, header, bytes.to_vec()) {
                Ok(file) => Ok(Some(file)),
                Err(e) => damaged(&format!("its file does not rebuild: {e}")),
            }
        }
    }
}

/// How much of a streamed chunk is read before it is released.
const RELEASE_STEP: usize = 8 << 20;

/// Reads a streamed chunk's bytes, hashing them, and releases them in steps once read.
struct Releasing<'d, 'r> {
    data: &'d [u8],
    pos: usize,
    released: usize,
    /// The chunk's offset in the archive.
    base: u64,
    crc: crc32fast::Hasher,
    release: &'r mut dyn FnMut(u64, u64),
}

impl Releasing<'_, '_> {
    fn release_to(&mut self, end: usize) {
        if end > self.released {
            (self.release)(
                self.base + self.released as u64,
                (end - self.released) as u64,
            );
            self.released = end;
        }
    }
}

impl std::io::Read for Releasing<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.crc.update(&buf[..n]);
        self.pos += n;
        if self.pos - self.released >= RELEASE_STEP {
            self.release_to(self.pos);
        }
        Ok(n)
    }
}

/// Hashes what is written through it.
struct Hashing<'w> {
    inner: &'w mut dyn std::io::Write,
    crc: crc32fast::Hasher,
}

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
