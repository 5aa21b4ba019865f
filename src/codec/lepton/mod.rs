//! Codec id 3: JPEG files recompressed losslessly by Lepton (the `lepton_jpeg` crate, pinned),
//! about a fifth smaller, and restored to the identical bytes (spec/format.md 6.2).
//!
//! Each item is one file, coded on its own: Lepton where it is smaller than the file's zstd frame
//! (and decodes back to the very same bytes, which the encoder checks), the zstd frame otherwise,
//! so a JPEG Lepton cannot take (damaged, CMYK, arithmetic-coded) costs what zstd costs. A chunk
//! where no item gains is refused (`Unsupported`), and the writer stores it with zstd instead.
//!
//! Lepton's model starts afresh with every file, and so does its header (the JPEG's tables and
//! markers, deflated on their own): on a data set's files, nearly the same few hundred bytes each
//! time. Format 2 keeps every item's header in one Zstandard frame for the chunk, which codes the
//! repeats for almost nothing.

mod chunk;
mod data;
mod stack;

pub use chunk::{FORMAT_LEPTON_0_5_8, FORMAT_SHARED_HEADERS};
pub use data::{lepton_decode, lepton_encode};

use super::zstd::{check_frame_header, decode_frame, ZstdCodec};
use super::{Codec, CodecError, ItemShape, Payload, CODEC_LEPTON};
use chunk::{
    header_cap, parse, Item, ITEM_LEPTON_BODY, ITEM_STACK_FIRST, ITEM_STACK_PART, ITEM_ZSTD,
};
use data::{encode_unchecked, join, split};
use std::collections::HashMap;

pub struct LeptonCodec {
    zstd: ZstdCodec,
    level: i32,
}

impl LeptonCodec {
    /// `zstd_level` codes the items Lepton does not make smaller, and the header frame.
    pub fn new(zstd_level: i32) -> Self {
        LeptonCodec {
            zstd: ZstdCodec::new(zstd_level),
            level: zstd_level,
        }
    }
}

/// A Lepton stream in its parts, checked: the rebuilt stream decodes to the file (with the
/// reader's own code, so the writer never keeps what its reader refuses).
struct Coded {
    fixed: Vec<u8>,
    header: Vec<u8>,
    body: Vec<u8>,
}

fn lepton_parts(jpeg: &[u8]) -> Option<Coded> {
    let l = encode_unchecked(jpeg)?;
    let p = split(&l)?;
    let again = join(p.fixed, &p.header, p.body);
    (lepton_decode(&again, jpeg.len() as u64).ok()? == jpeg).then(|| Coded {
        fixed: p.fixed.to_vec(),
        header: p.header,
        body: p.body.to_vec(),
    })
}

/// How one item is written.
enum Plan {
    Zstd(Vec<u8>),
    Lepton(Coded),
    /// File `part` of stack `stack`.
    Stacked {
        stack: usize,
        part: usize,
    },
}

/// A stack the writer keeps: its Lepton stream and its files' parts, in item order.
struct Planned<'a> {
    coded: Coded,
    files: Vec<stack::Layout<'a>>,
}

/// Stacks `files` (item indices, all of one key) if Lepton takes the tall JPEG, it splits back
/// into the files with the reader's code, and its body is smaller than what the files cost
/// alone (`alone`, bytes).
fn try_stack<'a>(layouts: Vec<stack::Layout<'a>>, alone: usize) -> Option<Planned<'a>> {
    let tall = stack::tall(&layouts);
    let coded = lepton_parts(&tall)?;
    let again = join(&coded.fixed, &coded.header, &coded.body);
    let back = lepton_decode(&again, tall.len() as u64).ok()?;
    let lens: Vec<usize> = layouts.iter().map(|l| l.scan.len()).collect();
    let scans = stack::scans(&back, &lens).ok()?;
    if scans.iter().zip(&layouts).any(|(s, l)| *s != l.scan) {
        return None;
    }
    // Each file then costs its mode byte, scan length and (for later parts) stack number.
    (coded.body.len() + 11 * layouts.len() < alone).then_some(Planned {
        coded,
        files: layouts,
    })
}

impl Codec for LeptonCodec {
    fn id(&self) -> u8 {
        CODEC_LEPTON
    }

    fn name(&self) -> &str {
        "lepton"
    }

    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let mut files = Vec::with_capacity(items.len());
        for item in items {
            let Payload::Bytes(file) = item else {
                return Err(CodecError::Unsupported(
                    "Lepton codes files, not pixels".into(),
                ));
            };
            files.push(&file[..]);
        }
        // Each file alone: Lepton where it is smaller than the file's zstd frame.
        let mut plans = Vec::with_capacity(files.len());
        let mut alone = Vec::with_capacity(files.len());
        for (item, file) in items.iter().zip(&files) {
            let frame = self.zstd.encode_chunk(&[item])?;
            match lepton_parts(file) {
                Some(c) if c.body.len() + c.header.len() / 2 < frame.len() => {
                    alone.push(c.body.len() + 5);
                    plans.push(Plan::Lepton(c));
                }
                _ => {
                    alone.push(frame.len() + 1);
                    plans.push(Plan::Zstd(frame));
                }
            }
        }
        // Files of one key, in item order, stacked in runs as tall as Lepton takes. Each file's
        // layout is read once and moves into the one run it can belong to.
        let mut layouts: Vec<Option<stack::Layout>> =
            files.iter().map(|f| stack::layout(f)).collect();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        {
            let mut by_key: HashMap<&[u8], usize> = HashMap::new();
            for (i, l) in layouts.iter().enumerate() {
                if let Some(l) = l {
                    let g = *by_key.entry(&l.key[..]).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(i);
                }
            }
        }
        let mut stacks: Vec<(usize, Planned)> = Vec::new();
        for g in &groups {
            let tallest = layouts[g[0]].as_ref().map_or(1, stack::max_stack);
            for run in g.chunks(tallest.max(1)) {
                if run.len() < 2 {
                    continue;
                }
                let run_layouts: Vec<_> = run.iter().filter_map(|&i| layouts[i].take()).collect();
                let cost: usize = run.iter().map(|&i| alone[i]).sum();
                if let Some(p) = try_stack(run_layouts, cost) {
                    stacks.push((run[0], p));
                    for (part, &i) in run.iter().enumerate() {
                        plans[i] = Plan::Stacked {
                            stack: stacks.len() - 1,
                            part,
                        };
                    }
                }
            }
        }
        if plans.iter().all(|p| matches!(p, Plan::Zstd(_))) {
            return Err(CodecError::Unsupported(
                "no JPEG file in the chunk that Lepton makes smaller".into(),
            ));
        }
        // Stacks are numbered in the order their first files come.
        let mut order: Vec<usize> = (0..stacks.len()).collect();
        order.sort_by_key(|&k| stacks[k].0);
        let mut number = vec![0usize; stacks.len()];
        for (n, &k) in order.iter().enumerate() {
            number[k] = n;
        }
        let mut entries = Vec::new();
        let mut coded = Vec::new();
        let put = |v: &mut Vec<u8>, b: &[u8]| {
            v.extend_from_slice(&(b.len() as u32).to_le_bytes());
            v.extend_from_slice(b);
        };
        for plan in &plans {
            match plan {
                Plan::Zstd(frame) => {
                    coded.push(ITEM_ZSTD);
                    coded.extend_from_slice(frame);
                }
                Plan::Lepton(c) => {
                    entries.extend_from_slice(&c.fixed);
                    put(&mut entries, &c.header);
                    coded.push(ITEM_LEPTON_BODY);
                    put(&mut coded, &c.body);
                }
                Plan::Stacked { stack, part } => {
                    let p = &stacks[*stack].1;
                    let l = &p.files[*part];
                    if *part == 0 {
                        entries.extend_from_slice(&p.coded.fixed);
                        put(&mut entries, &p.coded.header);
                        coded.push(ITEM_STACK_FIRST);
                        put(&mut coded, &p.coded.body);
                    } else {
                        coded.push(ITEM_STACK_PART);
                        coded.extend_from_slice(&(number[*stack] as u16).to_le_bytes());
                    }
                    coded.extend_from_slice(&(l.scan.len() as u32).to_le_bytes());
                    put(&mut entries, l.prefix);
                    put(&mut entries, l.suffix);
                }
            }
        }
        let frame = zstd::bulk::compress(&entries, self.level)
            .map_err(|e| CodecError::Internal(format!("zstd: {e}")))?;
        let mut out = vec![FORMAT_SHARED_HEADERS];
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
        out.extend_from_slice(&coded);
        Ok(out)
    }

    /// The header frame decoded and its entries copied out (three times their bound), the
    /// outputs kept, a stack's tall JPEG and its scans (twice the files' bytes), one stream
    /// joined for Lepton (at most the chunk and a header), and the largest single decode: Lepton's
    /// for the longest file or stack, or a zstd frame's.
    fn decode_budget(&self, data_len: u64, shapes: &[ItemShape]) -> u64 {
        let lens = shapes.iter().map(|s| s.decoded_len());
        let files = super::decoded_total(shapes);
        let headers = lens.clone().map(header_cap).fold(0, u64::saturating_add);
        let frame = crate::codec::zstd::frame_budget(headers);
        let largest = lens.max().unwrap_or(0);
        let lepton = data::decode_budget(files.saturating_add(8));
        let zstd = crate::codec::zstd::frame_budget(largest);
        headers
            .saturating_mul(3)
            .saturating_add(frame)
            .saturating_add(files.saturating_mul(3))
            .saturating_add(data_len.saturating_add(header_cap(files)))
            .saturating_add(lepton.max(zstd))
            .saturating_add(super::ITEM_OVERHEAD.saturating_mul(shapes.len() as u64))
    }

    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        let c = parse(data, shapes)?;
        for (i, (item, shape)) in c.items.iter().zip(shapes).enumerate() {
            if !matches!(shape, ItemShape::Bytes { .. }) {
                return Err(CodecError::Corrupt(format!(
                    "item {i}: Lepton items are files"
                )));
            }
            if let Item::Zstd(frame) = item {
                check_frame_header(frame, shape.decoded_len())
                    .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
            }
        }
        Ok(())
    }

    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        super::check_upto(upto, shapes.len())?;
        let c = parse(data, shapes)?;
        // Each stack's scans, decoded when a file of it is first wanted.
        let mut scans: Vec<Option<Vec<Vec<u8>>>> = (0..c.stacks.len()).map(|_| None).collect();
        let mut out = Vec::with_capacity(upto + 1);
        for (i, (item, shape)) in c.items.iter().zip(shapes).take(upto + 1).enumerate() {
            let ItemShape::Bytes { len } = *shape else {
                return Err(CodecError::Corrupt(format!(
                    "item {i}: Lepton items are files"
                )));
            };
            let bytes = match item {
                Item::Zstd(f) => decode_frame(f, len),
                Item::Lepton(l) => lepton_decode(l, len),
                Item::Body {
                    body,
                    fixed,
                    header,
                } => lepton_decode(&join(fixed, header, body), len),
                Item::Part {
                    stack,
                    prefix,
                    suffix,
                    ..
                } => {
                    let s = &c.stacks[*stack];
                    if scans[*stack].is_none() {
                        let tall = lepton_decode(&join(&s.fixed, &s.header, s.body), s.tall_len)
                            .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
                        let lens: Vec<usize> = s
                            .items
                            .iter()
                            .map(|&k| match c.items[k] {
                                Item::Part { scan, .. } => scan,
                                _ => unreachable!("a stack lists its parts"),
                            })
                            .collect();
                        let got = stack::scans(&tall, &lens)
                            .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
                        scans[*stack] = Some(got.into_iter().map(<[u8]>::to_vec).collect());
                    }
                    let part = s.items.iter().position(|&k| k == i).expect("listed");
                    let scan = &scans[*stack].as_ref().expect("decoded")[part];
                    Ok([&prefix[..], scan, suffix].concat())
                }
            }
            .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
            out.push(Payload::Bytes(bytes));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::chunk::ITEM_LEPTON;
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/exact/jpeg/");

    fn fixtures(names: &[&str]) -> Vec<Payload> {
        names
            .iter()
            .map(|n| Payload::Bytes(std::fs::read(format!("{DIR}{n}")).unwrap()))
            .collect()
    }

    fn shapes(items: &[Payload]) -> Vec<ItemShape> {
        items
            .iter()
            .map(|p| ItemShape::Bytes {
                len: p.len() as u64,
            })
            .collect()
    }

    fn bytes(p: &Payload) -> &[u8] {
        match p {
            Payload::Bytes(b) => b,
            _ => unreachable!(),
        }
    }

    #[test]
    fn shared_headers_cost_less_than_whole_streams_and_decode_to_the_files() {
        let items = fixtures(&[
            "pillow-q75.jpg",
            "cmyk.jpg",
            "pillow-q95.jpg",
            "baseline.jpg",
        ]);
        let refs: Vec<&Payload> = items.iter().collect();
        let codec = LeptonCodec::new(19);
        let chunk = codec.encode_chunk(&refs).unwrap();
        assert_eq!(chunk[0], FORMAT_SHARED_HEADERS);
        let s = shapes(&items);
        codec.check_chunk(&chunk, &s).unwrap();
        let back = codec.decode_chunk(&chunk, &s, 3).unwrap();
        assert_eq!(back, items);
        // Format 1 (each stream whole, as bsar 1.2 wrote) of the same files is larger.
        let mut old = vec![FORMAT_LEPTON_0_5_8];
        for p in &items {
            match lepton_encode(bytes(p)) {
                Some(l) => {
                    old.push(ITEM_LEPTON);
                    old.extend_from_slice(&(l.len() as u32).to_le_bytes());
                    old.extend_from_slice(&l);
                }
                None => {
                    old.push(ITEM_ZSTD);
                    old.extend_from_slice(&zstd::bulk::compress(bytes(p), 19).unwrap());
                }
            }
        }
        assert!(
            chunk.len() < old.len(),
            "{} against {}",
            chunk.len(),
            old.len()
        );
        // ... and still decodes.
        codec.check_chunk(&old, &s).unwrap();
        assert_eq!(codec.decode_chunk(&old, &s, 3).unwrap(), items);
    }

    /// `file` with a comment segment after SOI: another file, with the same tables and scan.
    fn with_comment(file: &[u8], text: &[u8]) -> Vec<u8> {
        let mut out = file[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xFE]);
        out.extend_from_slice(&(text.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(text);
        out.extend_from_slice(&file[2..]);
        out
    }

    #[test]
    fn files_of_one_size_and_tables_are_stacked_and_split_back() {
        let q75 = bytes(&fixtures(&["pillow-q75.jpg"])[0]).to_vec();
        let items = vec![
            Payload::Bytes(q75.clone()),
            Payload::Bytes(std::fs::read(format!("{DIR}grey.jpg")).unwrap()),
            Payload::Bytes(with_comment(&q75, b"second")),
            Payload::Bytes(with_comment(&q75, b"third, longer")),
        ];
        let refs: Vec<&Payload> = items.iter().collect();
        let codec = LeptonCodec::new(19);
        let chunk = codec.encode_chunk(&refs).unwrap();
        let s = shapes(&items);
        let c = parse(&chunk, &s).unwrap();
        assert_eq!(c.stacks.len(), 1);
        assert_eq!(c.stacks[0].items, vec![0, 2, 3]);
        assert!(matches!(c.items[1], Item::Body { .. }));
        codec.check_chunk(&chunk, &s).unwrap();
        for upto in [0, 3] {
            assert_eq!(
                codec.decode_chunk(&chunk, &s, upto).unwrap(),
                items[..=upto]
            );
        }
        // Smaller than the files' chunks one by one (the writer keeps a stack only if its body
        // is smaller than the files' bodies alone).
        let apart: usize = refs
            .iter()
            .map(|r| codec.encode_chunk(&[r]).unwrap().len())
            .sum();
        assert!(chunk.len() < apart, "{} {apart}", chunk.len());
        // A member table that gives a stacked file another length is refused before decoding.
        let mut wrong = s.clone();
        wrong[2] = ItemShape::Bytes {
            len: items[2].len() as u64 + 1,
        };
        assert!(codec.check_chunk(&chunk, &wrong).is_err());
    }

    #[test]
    fn a_header_frame_that_does_not_match_the_items_is_refused() {
        let items = fixtures(&["grey.jpg", "exif.jpg"]);
        let refs: Vec<&Payload> = items.iter().collect();
        let codec = LeptonCodec::new(3);
        let chunk = codec.encode_chunk(&refs).unwrap();
        let s = shapes(&items);
        let n = u32::from_le_bytes(chunk[1..5].try_into().unwrap()) as usize;
        let entries = zstd::bulk::decompress(&chunk[5..5 + n], 1 << 20).unwrap();
        // The frame again with one byte more, then with the last entry cut short.
        for bad in [
            [&entries[..], &[0]].concat(),
            entries[..entries.len() - 1].to_vec(),
        ] {
            let frame = zstd::bulk::compress(&bad, 3).unwrap();
            let mut c = vec![FORMAT_SHARED_HEADERS];
            c.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            c.extend_from_slice(&frame);
            c.extend_from_slice(&chunk[5 + n..]);
            let e = codec.check_chunk(&c, &s).unwrap_err().to_string();
            assert!(e.contains("header frame"), "{e}");
            assert!(codec.decode_chunk(&c, &s, 0).is_err());
        }
        // A format 1 chunk may not carry format 2's item mode.
        let mut c = chunk.clone();
        c[0] = FORMAT_LEPTON_0_5_8;
        assert!(codec.check_chunk(&c, &s).is_err());
    }
}
