//! A Lepton chunk's framing (spec/format.md 6.2), read: its items and, in format 2, the entries
//! of its header frame, checked against the member table's lengths before anything is decoded.

use super::super::zstd::{decode_frame_within, frame_len};
use super::super::{CodecError, ItemShape};
use super::data::FIXED;

pub const FORMAT_LEPTON_0_5_8: u8 = 1;
pub const FORMAT_SHARED_HEADERS: u8 = 2;

/// Item modes: what follows the mode byte.
pub const ITEM_ZSTD: u8 = 0;
/// Format 1: a whole Lepton stream.
pub const ITEM_LEPTON: u8 = 1;
/// Format 2: a Lepton stream's body; its header is in the header frame.
pub const ITEM_LEPTON_BODY: u8 = 2;
/// Format 2: the first file of a stack: the tall JPEG's Lepton body, then the file's scan length.
pub const ITEM_STACK_FIRST: u8 = 3;
/// Format 2: a later file of a stack: the stack's number (u16) and the file's scan length.
pub const ITEM_STACK_PART: u8 = 4;

/// One item as it lies in the chunk, with its header frame entry.
pub enum Item<'a> {
    Zstd(&'a [u8]),
    Lepton(&'a [u8]),
    Body {
        body: &'a [u8],
        fixed: Vec<u8>,
        header: Vec<u8>,
    },
    /// A file of stack `stack`: its bytes before and after its scan, which is `scan` bytes.
    Part {
        stack: usize,
        scan: usize,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
    },
}

/// A stack: the tall JPEG's Lepton stream in parts, and the items it holds, in item order.
pub struct Stack<'a> {
    pub fixed: Vec<u8>,
    pub header: Vec<u8>,
    pub body: &'a [u8],
    pub items: Vec<usize>,
    /// The tall JPEG's length (from the fixed header), within the sum of its files' lengths.
    pub tall_len: u64,
}

pub struct Chunk<'a> {
    pub items: Vec<Item<'a>>,
    pub stacks: Vec<Stack<'a>>,
}

fn bad(m: String) -> CodecError {
    CodecError::Corrupt(m)
}

/// Takes `n` bytes, or says the chunk ends early.
fn take<'a>(r: &mut &'a [u8], n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], CodecError> {
    if r.len() < n {
        return Err(bad(what()));
    }
    let (a, b) = r.split_at(n);
    *r = b;
    Ok(a)
}

fn u32_le(r: &mut &[u8], what: &dyn Fn() -> String) -> Result<usize, CodecError> {
    let b = take(r, 4, what)?;
    Ok(u32::from_le_bytes(b.try_into().unwrap()) as usize)
}

/// The longest header frame entry an item of `len` bytes may have (spec/format.md 6.2): a
/// JPEG's header is never much longer than the JPEG (data::precheck's own bound).
pub fn header_cap(len: u64) -> u64 {
    (FIXED as u64 + 16)
        .saturating_add(len.saturating_mul(3))
        .saturating_add(1 << 16)
}

/// Reads a chunk of `shapes.len()` items; nothing may follow the last, and the header frame must
/// hold exactly the entries its items need.
pub fn parse<'a>(data: &'a [u8], shapes: &[ItemShape]) -> Result<Chunk<'a>, CodecError> {
    let count = shapes.len();
    let (&format, mut rest) = data
        .split_first()
        .ok_or_else(|| bad("empty Lepton chunk".into()))?;
    if format != FORMAT_LEPTON_0_5_8 && format != FORMAT_SHARED_HEADERS {
        return Err(bad(format!(
            "Lepton chunk of format {format}, which this bsar does not know"
        )));
    }
    let in_frame = || "Lepton chunk ends in its header frame".to_string();
    let frame: &[u8] = if format == FORMAT_SHARED_HEADERS {
        let n = u32_le(&mut rest, &in_frame)?;
        take(&mut rest, n, &in_frame)?
    } else {
        &[]
    };
    // The items' framing first: what the header frame must then hold.
    enum Raw<'a> {
        Zstd(&'a [u8]),
        Lepton(&'a [u8]),
        Body(&'a [u8]),
        First(&'a [u8], usize),
        Part(usize, usize),
    }
    let mut raw = Vec::with_capacity(count.min(data.len()));
    let mut opened = 0usize;
    for i in 0..count {
        let short = || format!("item {i}: chunk ends early");
        let mode = take(&mut rest, 1, &short)?[0];
        let item = match (format, mode) {
            (_, ITEM_ZSTD) => {
                let n = frame_len(rest).map_err(|e| bad(format!("item {i}: {e}")))?;
                Raw::Zstd(take(&mut rest, n, &short)?)
            }
            (FORMAT_LEPTON_0_5_8, ITEM_LEPTON) => {
                let n = u32_le(&mut rest, &short)?;
                Raw::Lepton(take(&mut rest, n, &short)?)
            }
            (FORMAT_SHARED_HEADERS, ITEM_LEPTON_BODY) => {
                let n = u32_le(&mut rest, &short)?;
                Raw::Body(take(&mut rest, n, &short)?)
            }
            (FORMAT_SHARED_HEADERS, ITEM_STACK_FIRST) => {
                let n = u32_le(&mut rest, &short)?;
                let body = take(&mut rest, n, &short)?;
                opened += 1;
                Raw::First(body, u32_le(&mut rest, &short)?)
            }
            (FORMAT_SHARED_HEADERS, ITEM_STACK_PART) => {
                let b = take(&mut rest, 2, &short)?;
                let stack = u16::from_le_bytes([b[0], b[1]]) as usize;
                if stack >= opened {
                    return Err(bad(format!(
                        "item {i}: part of a stack not opened before it"
                    )));
                }
                Raw::Part(stack, u32_le(&mut rest, &short)?)
            }
            (_, m) => return Err(bad(format!("item {i}: unknown item mode {m}"))),
        };
        raw.push(item);
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} stray bytes after the last of {count} items",
            rest.len()
        )));
    }
    // The header frame, decoded within a bound from the lengths of the files it serves (a
    // JPEG's header is never much longer than the JPEG: data::precheck's own bound).
    let lens: Vec<u64> = shapes.iter().map(|s| s.decoded_len()).collect();
    let needs = |r: &Raw| !matches!(r, Raw::Zstd(_) | Raw::Lepton(_));
    let total: u64 = raw
        .iter()
        .zip(&lens)
        .filter(|(r, _)| needs(r))
        .map(|(_, &l)| header_cap(l))
        .sum();
    let entries = if total == 0 {
        if !frame.is_empty() {
            return Err(bad(
                "Lepton chunk has a header frame but no item uses it".into()
            ));
        }
        Vec::new()
    } else {
        let e = decode_frame_within(frame, total)
            .map_err(|e| bad(format!("Lepton header frame: {e}")))?;
        if e.len() as u64 > total {
            return Err(bad(
                "Lepton header frame holds more than its files' headers could".into(),
            ));
        }
        e
    };
    let mut r = &entries[..];
    let mut items = Vec::with_capacity(raw.len());
    let mut stacks: Vec<Stack> = Vec::new();
    for (i, (item, &len)) in raw.into_iter().zip(&lens).enumerate() {
        let e = Entry {
            cap: header_cap(len),
            item: i,
        };
        let item = match item {
            Raw::Zstd(f) => Item::Zstd(f),
            Raw::Lepton(l) => Item::Lepton(l),
            Raw::Body(body) => {
                let (fixed, header) = e.lepton_header(&mut r)?;
                Item::Body {
                    body,
                    fixed,
                    header,
                }
            }
            Raw::First(body, scan) => {
                let (fixed, header) = e.lepton_header(&mut r)?;
                let tall_len = u64::from(u32::from_le_bytes(fixed[20..24].try_into().unwrap()));
                stacks.push(Stack {
                    fixed,
                    header,
                    body,
                    items: Vec::new(),
                    tall_len,
                });
                e.part(stacks.len() - 1, scan, len, &mut r)?
            }
            Raw::Part(stack, scan) => e.part(stack, scan, len, &mut r)?,
        };
        if let Item::Part { stack, .. } = item {
            stacks[stack].items.push(i);
        }
        items.push(item);
    }
    if !r.is_empty() {
        return Err(bad(
            "Lepton header frame holds more entries than the chunk's items".into(),
        ));
    }
    for (k, s) in stacks.iter().enumerate() {
        let files: u64 = s.items.iter().map(|&i| lens[i]).sum();
        if s.tall_len > files + 8 {
            return Err(bad(format!(
                "Lepton stack {k} states a JPEG longer than its files could make"
            )));
        }
    }
    Ok(Chunk { items, stacks })
}

/// Reads item `item`'s entries of the header frame; none may exceed `cap` bytes.
struct Entry {
    cap: u64,
    item: usize,
}

impl Entry {
    fn damaged(&self) -> String {
        format!("Lepton header frame damaged (item {})", self.item)
    }

    fn bytes(&self, r: &mut &[u8]) -> Result<Vec<u8>, CodecError> {
        let n = u32_le(r, &|| self.damaged())?;
        if n as u64 > self.cap {
            return Err(bad(self.damaged()));
        }
        Ok(take(r, n, &|| self.damaged())?.to_vec())
    }

    /// Lepton's fixed header and the header inflated.
    fn lepton_header(&self, r: &mut &[u8]) -> Result<(Vec<u8>, Vec<u8>), CodecError> {
        let fixed = take(r, FIXED, &|| self.damaged())?.to_vec();
        Ok((fixed, self.bytes(r)?))
    }

    /// A stack's file: its prefix and suffix, which with its scan make its length.
    fn part(
        &self,
        stack: usize,
        scan: usize,
        len: u64,
        r: &mut &[u8],
    ) -> Result<Item<'static>, CodecError> {
        let prefix = self.bytes(r)?;
        let suffix = self.bytes(r)?;
        if (prefix.len() + suffix.len()) as u64 + scan as u64 != len {
            return Err(bad(format!(
                "item {}: its parts make another length than the member table's",
                self.item
            )));
        }
        Ok(Item::Part {
            stack,
            scan,
            prefix,
            suffix,
        })
    }
}
