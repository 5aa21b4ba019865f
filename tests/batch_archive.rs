//! Archives written and read with chunks handed to the codec in groups (`WriteOptions::group`,
//! `Archive::read_chunks`: the path `--device gpu` takes, here with the CPU engine behind the
//! batch coder) are byte-identical to the per-chunk path, and errors stay with their chunk.

mod common;
mod model_support;

use bsar::archive::{
    write_archive, Archive, ChunkBounds, Content, Kind, Loaded, MemberSpec, Source, WriteOptions,
};
use bsar::bitswap::{CpuNets, Scheme};
use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use bsar::codec::{Registry, CODEC_BITSWAP, CODEC_ZSTD};
use bsar::model::Model;
use common::noise;
use model_support::{tiny_fixture, tiny_grey};
use std::sync::Arc;

fn models() -> Vec<Arc<Model>> {
    vec![Arc::new(tiny_fixture()), Arc::new(tiny_grey(5, 512))]
}

/// Member files: PNM images (RGB and grey, several sizes) and, every seventh, plain bytes.
fn files() -> Vec<Vec<u8>> {
    (0..26u64)
        .map(|i| {
            if i % 7 == 3 {
                return noise(300 + i as usize, i);
            }
            let (w, h) = [(24, 24), (39, 27), (1, 1), (51, 48), (15, 63)][i as usize % 5];
            let grey = i % 3 == 0;
            let c = if grey { 1 } else { 3 };
            let jitter = noise(w * h * c, 100 + i);
            let mut f = format!("P{}\n{w} {h}\n255\n", if grey { 5 } else { 6 }).into_bytes();
            f.extend((0..w * h * c).map(|k| {
                let (x, y) = ((k / c) % w, (k / c) / w);
                // Mostly smooth images, which the image codec codes; a few noise images, which
                // it loses on and which the writer then stores as bytes.
                if i % 4 != 1 {
                    (x * 11 + y * 5 + (k % c) * 30) as u8 + jitter[k] % 4
                } else {
                    jitter[k]
                }
            }));
            f
        })
        .collect()
}

struct Mem(Vec<Vec<u8>>);

impl Source for Mem {
    fn load(&self, i: usize) -> Result<Loaded, String> {
        // What `bsar create` loads: the same decoding and geometry.
        Ok(bsar::cli::load_member(
            self.0[i].clone(),
            true,
            bsar::imageio::Fidelity::Bytes,
        ))
    }
}

fn specs(files: &[Vec<u8>]) -> Vec<MemberSpec> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| MemberSpec {
            path: format!("m{i:02}").into_bytes(),
            kind: Kind::File,
            mode: 0o644,
            mtime_sec: 0,
            mtime_nsec: 0,
            size: f.len() as u64,
            link: vec![],
            image: i % 7 != 3,
            deep: false,
            jpeg: false,
            alone: false,
        })
        .collect()
}

fn registry(scheme: Scheme, batched: bool) -> Registry {
    let mut codec = BitswapCodec::new(models(), scheme, DEFAULT_PRECISIONS);
    if batched {
        codec = codec.with_batching(Arc::new(CpuNets { threads: 2 }), 5);
    }
    let mut r = Registry::with_defaults(3);
    r.register(Box::new(codec));
    r
}

fn write(files: &[Vec<u8>], registry: &Registry, group: usize, threads: usize) -> Vec<u8> {
    let opts = WriteOptions {
        codec: CODEC_ZSTD,
        fallback: CODEC_ZSTD,
        bounds: ChunkBounds {
            max_bytes: 1 << 20,
            max_items: 2,
        },
        image_codec: Some(CODEC_BITSWAP),
        deep_codec: None,
        image_bounds: ChunkBounds {
            max_bytes: 1 << 20,
            max_items: 3,
        },
        jpeg_codec: None,
        threads,
        group,
        stream_from: 0,
    };
    let mut out = Vec::new();
    write_archive(
        &mut out,
        &specs(files),
        &Mem(files.to_vec()),
        registry,
        &opts,
        &|_| {},
    )
    .expect("archive written");
    out
}

#[test]
fn grouped_chunks_give_the_same_archive_and_contents() {
    let files = files();
    for scheme in [Scheme::BitSwap, Scheme::BbAns] {
        let cpu = write(&files, &registry(scheme, false), 0, 2);
        let archive = Archive::parse(&cpu).unwrap();
        let chunks = archive.index.chunks.len();
        let image_chunks = archive
            .index
            .chunks
            .iter()
            .filter(|c| c.codec == CODEC_BITSWAP)
            .count();
        assert!(
            image_chunks >= 6 && chunks > image_chunks,
            "{chunks} chunks, {image_chunks} of images"
        );
        // Groups of 4 and of all chunks, batched; groups with the per-chunk default; 1 thread.
        for (group, batched, threads) in [(4, true, 2), (100, true, 1), (3, false, 2)] {
            let got = write(&files, &registry(scheme, batched), group, threads);
            assert!(
                got == cpu,
                "{scheme:?}: group {group} batched {batched}: archive differs"
            );
        }
        // Reading: every chunk in one group, batched, equals chunk-by-chunk reading, and the
        // restored pixels are the images' pixels.
        let batched = registry(scheme, true);
        let plain = registry(scheme, false);
        let wanted: Vec<(usize, usize)> = (0..chunks)
            .map(|ci| (ci, archive.index.chunk_members[ci].len() - 1))
            .collect();
        let together = archive.read_chunks(&wanted, &batched);
        for (&(ci, upto), r) in wanted.iter().zip(together) {
            let one = archive.read_chunk(ci, upto, &plain).unwrap();
            assert_eq!(items(r), one, "chunk {ci}");
            for (pos, item) in one.iter().enumerate() {
                let m = archive.index.chunk_members[ci][pos] as usize;
                let want = Mem(files.clone()).load(m).unwrap();
                let want = match archive.index.members[m].content {
                    Content::Pixels | Content::Pixels16 => want.pixels.map(|p| p.0.pixels).unwrap(),
                    Content::Bytes => want.bytes,
                };
                assert_eq!(*item, want, "member {m}");
            }
        }
        // Only a prefix of some chunks.
        let prefixes: Vec<(usize, usize)> = wanted.iter().map(|&(ci, _)| (ci, 0)).collect();
        for (&(ci, _), r) in prefixes
            .iter()
            .zip(archive.read_chunks(&prefixes, &batched))
        {
            assert_eq!(items(r), archive.read_chunk(ci, 0, &plain).unwrap());
        }
    }
}

/// A chunk's items from `read_chunks`, every one of which must have passed its check.
fn items(r: bsar::archive::Result<Vec<bsar::archive::Item>>) -> Vec<Vec<u8>> {
    r.unwrap().into_iter().map(|i| i.unwrap().content).collect()
}

#[test]
fn a_damaged_chunk_fails_alone_in_its_group() {
    let files = files();
    let reg = registry(Scheme::BitSwap, true);
    let mut bytes = write(&files, &reg, 4, 2);
    let archive = Archive::parse(&bytes).unwrap();
    let bad = (0..archive.index.chunks.len())
        .filter(|&c| archive.index.chunks[c].codec == CODEC_BITSWAP)
        .nth(2)
        .unwrap();
    let entry = &archive.index.chunks[bad];
    let at = (entry.offset + entry.len / 2) as usize;
    let n = archive.index.chunks.len();
    drop(archive);
    bytes[at] ^= 0x10;
    let archive = Archive::parse(&bytes).unwrap();
    let wanted: Vec<(usize, usize)> = (0..n)
        .map(|ci| (ci, archive.index.chunk_members[ci].len() - 1))
        .collect();
    for (&(ci, upto), r) in wanted.iter().zip(archive.read_chunks(&wanted, &reg)) {
        let one = archive.read_chunk(ci, upto, &registry(Scheme::BitSwap, false));
        if ci == bad {
            let (e, e1) = (r.unwrap_err().to_string(), one.unwrap_err().to_string());
            assert_eq!(e, e1);
            assert!(
                e.contains(&format!("chunk {bad}")) && e.contains("CRC"),
                "{e}"
            );
        } else {
            assert_eq!(items(r), one.unwrap(), "chunk {ci}");
        }
    }
}
