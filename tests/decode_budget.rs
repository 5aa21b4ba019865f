//! Every decode path stays within the memory budget spec/format.md 6.3 gives it, counted by a
//! global allocator (tests/budget_support) that aborts the test the moment a decode's live
//! allocations pass its budget: real chunks of every codec (the fixtures, coded here), the fuzz
//! seeds, and hostile chunks that once made a library allocate without bound. Each case prints
//! its peak beside its budget (`cargo test --test decode_budget -- --nocapture`).

#[path = "budget_support/mod.rs"]
mod budget_support;
mod common;
#[path = "fuzz_framing/mod.rs"]
mod fuzz_framing;
#[path = "model_support/mod.rs"]
mod model_support;
#[path = "writer_support/mod.rs"]
mod writer_support;

use bsar::bitswap::Scheme;
use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use bsar::codec::lepton::LeptonCodec;
use bsar::codec::zstd::ZstdCodec;
use bsar::codec::{Codec, CodecError, Image, ItemShape, Payload};
use budget_support::within;
use std::path::Path;
use std::sync::Arc;

#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

/// Decodes every prefix of `chunk` under its budget; returns the last result. Prints the peak.
fn decode_within(
    codec: &dyn Codec,
    case: &str,
    chunk: &[u8],
    shapes: &[ItemShape],
) -> Result<Vec<Payload>, CodecError> {
    let budget = codec.decode_budget(chunk.len() as u64, shapes);
    let mut last = Err(CodecError::Corrupt("no items".into()));
    let mut peaks = Vec::new();
    for upto in [0, shapes.len().saturating_sub(1)] {
        let (r, peak) = within("decode_budget test", budget, || {
            codec.decode_chunk(chunk, shapes, upto)
        });
        peaks.push(peak);
        last = r;
    }
    let peak = peaks.into_iter().max().unwrap_or(0);
    println!(
        "{:<8} {case:<44} {:>12} {:>14} {:>7.3}%  {}",
        codec.name(),
        peak,
        budget,
        100.0 * peak as f64 / budget as f64,
        if last.is_ok() { "decoded" } else { "refused" }
    );
    last
}

/// Encodes `items` with `codec`, then decodes them within the budget, and checks them.
fn round_trip_within(codec: &dyn Codec, case: &str, items: &[Payload]) {
    let refs: Vec<&Payload> = items.iter().collect();
    let chunk = codec
        .encode_chunk(&refs)
        .expect("the codec takes the items");
    let shapes: Vec<ItemShape> = items.iter().map(Payload::shape).collect();
    let got = decode_within(codec, case, &chunk, &shapes).expect("the chunk decodes");
    assert_eq!(got, items, "{case}");
}

/// The files of a directory of the repository, sorted by name, with their bytes.
fn files_in(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no files in {}", dir.display());
    out
}

/// A fuzz target's seeds.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    files_in(&format!("fuzz/seeds/{target}"))
}

#[test]
fn zstd_chunks_decode_within_their_budget() {
    let codec = ZstdCodec::new(3);
    let sizes = [0usize, 1, 1000, 100_000, 3_000_000];
    let noisy: Vec<Payload> = sizes
        .iter()
        .map(|&n| Payload::Bytes(common::noise(n, n as u64)))
        .collect();
    round_trip_within(&codec, "noise, 0 B to 3 MB", &noisy);
    let zeros: Vec<Payload> = sizes.iter().map(|&n| Payload::Bytes(vec![0; n])).collect();
    round_trip_within(&codec, "zeros, 0 B to 3 MB", &zeros);
    round_trip_within(
        &codec,
        "one 20 MB item (output past the first reserve)",
        &[Payload::Bytes(common::noise(20 << 20, 7))],
    );
    for (name, data) in seeds("zstd_chunk") {
        let f = fuzz_framing::byte_items(&data).unwrap();
        decode_within(&codec, &format!("seed {name}"), f.chunk, &f.shapes).unwrap();
    }
}

#[test]
fn a_small_item_cannot_ask_for_a_large_window() {
    // A 5-byte item in a frame without a content size whose header asks for a 128 MiB window:
    // libzstd would allocate the window before the first byte came out. The window may be at
    // most the item rounded up to a power of two (2^10 here), so the frame is refused.
    let mut c = zstd::stream::raw::Encoder::new(3).unwrap();
    use zstd::stream::raw::{CParameter, Operation};
    c.set_parameter(CParameter::WindowLog(27)).unwrap();
    c.set_parameter(CParameter::ContentSizeFlag(false)).unwrap();
    let mut frame = vec![0u8; 256];
    let mut out = zstd::stream::raw::OutBuffer::around(&mut frame[..]);
    let mut input = zstd::stream::raw::InBuffer::around(b"hello");
    c.run(&mut input, &mut out).unwrap();
    c.finish(&mut out, true).unwrap();
    let n = out.pos();
    let frame = &frame[..n];
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(frame).unwrap(),
        None
    );
    let shapes = [ItemShape::Bytes { len: 5 }];
    let codec = ZstdCodec::new(3);
    let err = decode_within(&codec, "5-byte item, 128 MiB window", frame, &shapes).unwrap_err();
    assert!(err.to_string().contains("zstd"), "{err}");
    // The writer's check refuses it too, so bsar never writes such a frame.
    let err = codec.check_chunk(frame, &shapes).unwrap_err();
    assert!(err.to_string().contains("window"), "{err}");
    // The frame itself is sound: libzstd, unbounded, decodes it.
    assert_eq!(zstd::stream::decode_all(frame).unwrap(), b"hello");
    // What bsar writes always passes: libzstd shrinks the window to the input.
    for n in [0usize, 1, 1023, 1025, 70_000, 1 << 20] {
        let item = Payload::Bytes(common::noise(n, 3));
        for level in [1, 19] {
            let chunk = ZstdCodec::new(level).encode_chunk(&[&item]).unwrap();
            let shapes = [ItemShape::Bytes { len: n as u64 }];
            codec.check_chunk(&chunk, &shapes).unwrap();
        }
    }
}

#[test]
fn lepton_chunks_decode_within_their_budget() {
    let codec = LeptonCodec::new(3);
    let jpegs = files_in("tests/fixtures/exact/jpeg");
    let mut taken = 0;
    for (name, bytes) in &jpegs {
        // (Lepton refuses the truncated and CMYK fixtures; the writer stores those with zstd.)
        if bsar::codec::lepton::lepton_encode(bytes).is_some() {
            round_trip_within(&codec, name, &[Payload::Bytes(bytes.clone())]);
            taken += 1;
        }
    }
    assert!(taken >= 8, "Lepton took {taken} of the fixture JPEGs");
    let all: Vec<Payload> = jpegs
        .iter()
        .map(|(_, b)| Payload::Bytes(b.clone()))
        .collect();
    round_trip_within(&codec, "every fixture JPEG in one chunk", &all);
    // Files of one size and tables: a stack (one tall JPEG).
    let (_, grey) = jpegs.iter().find(|(n, _)| n == "grey.jpg").unwrap();
    let stack: Vec<Payload> = (0..6).map(|_| Payload::Bytes(grey.clone())).collect();
    round_trip_within(&codec, "six grey.jpg, stacked", &stack);
    for (name, data) in seeds("lepton_chunk") {
        let f = fuzz_framing::byte_items(&data).unwrap();
        let _ = decode_within(&codec, &format!("seed {name}"), f.chunk, &f.shapes);
    }
}

#[test]
fn the_lepton_oom_finding_stays_within_its_budget() {
    let data = include_bytes!("fixtures/hostile/lepton_chunk-oom-1865ca47");
    let f = fuzz_framing::byte_items(data).unwrap();
    let codec = LeptonCodec::new(3);
    let err = decode_within(&codec, "fuzz finding oom-1865ca47", f.chunk, &f.shapes).unwrap_err();
    assert!(err.to_string().contains("scan header"), "{err}");
}

fn fixture_images() -> Vec<Image> {
    files_in("tests/fixtures/train-images")
        .iter()
        .map(|(_, bytes)| {
            let (r, _) = bsar::imageio::decode(bytes).expect("a fixture");
            Image {
                width: r.width,
                height: r.height,
                channels: r.channels,
                depth: r.depth,
                pixels: r.pixels,
            }
        })
        .collect()
}

fn grey(img: &Image) -> Image {
    Image {
        channels: 1,
        depth: 8,
        pixels: img.pixels.chunks_exact(3).map(|p| p[1]).collect(),
        ..img.clone()
    }
}

#[test]
fn bitswap_chunks_decode_within_their_budget() {
    let images = fixture_images();
    assert_eq!(images[0].channels, 3);
    let colour: Vec<Payload> = images.iter().cloned().map(Payload::Image).collect();
    let greys: Vec<Payload> = images.iter().map(|i| Payload::Image(grey(i))).collect();
    // The shipped models, as `bsar create` uses them.
    let shipped: Vec<Arc<bsar::model::Model>> = bsar::shipped::all()
        .unwrap()
        .iter()
        .filter(|e| e.superseded_by.is_none())
        .map(|e| e.model.clone())
        .collect();
    let codec = BitswapCodec::new(shipped.clone(), Scheme::BitSwap, DEFAULT_PRECISIONS);
    round_trip_within(&codec, "shipped models, 8 photo crops", &colour);
    round_trip_within(&codec, "shipped models, 8 grey photo crops", &greys);
    // A tiled image (chunk version 5), its tiles decoded on the calling thread: counting is per
    // thread, and on more threads each tile's decode holds what it holds here (the budget
    // allows `MAX_TILE_THREADS` tiles' fixed tables at once).
    let wide = Image {
        width: images[0].width * 2,
        height: images[0].height,
        channels: 3,
        depth: 8,
        pixels: (0..images[0].height as usize)
            .flat_map(|y| {
                let row = images[0].width as usize * 3;
                let r = &images[0].pixels[y * row..(y + 1) * row];
                let s = &images[1].pixels[y * row..(y + 1) * row];
                r.iter().chain(s).copied().collect::<Vec<u8>>()
            })
            .collect(),
    };
    assert_eq!(images[0].width, images[1].width);
    let tiling = BitswapCodec::new(shipped.clone(), Scheme::BitSwap, DEFAULT_PRECISIONS)
        .with_tile_side(images[0].width / 3)
        .with_threads(1);
    round_trip_within(
        &tiling,
        "shipped models, one image in tiles",
        &[Payload::Image(wide)],
    );
    // The fuzz target's tiny models, on its seeds and with every patch by bits-back.
    let tiny = BitswapCodec::new(
        vec![
            Arc::new(model_support::tiny_fixture()),
            Arc::new(model_support::tiny_grey(5, 512)),
        ],
        Scheme::BitSwap,
        DEFAULT_PRECISIONS,
    );
    round_trip_within(&tiny, "tiny models, 8 photo crops", &colour);
    round_trip_within(
        &tiny.with_policy(bsar::bitswap::Policy::BitsBackOnly),
        "tiny models, bits-back only, 8 crops",
        &colour,
    );
    // The bitswap_chunk fuzz target's models and seeds.
    let fixture =
        |json: &[u8], weights: &[u8]| Arc::new(bsar::model::Model::load(json, weights).unwrap());
    let target = BitswapCodec::new(
        vec![
            fixture(
                include_bytes!("fixtures/model-tiny.json"),
                include_bytes!("fixtures/model-tiny.safetensors"),
            ),
            fixture(
                include_bytes!("fixtures/model-tiny-local.json"),
                include_bytes!("fixtures/model-tiny-local.safetensors"),
            ),
        ],
        Scheme::BitSwap,
        DEFAULT_PRECISIONS,
    );
    for (name, data) in seeds("bitswap_chunk") {
        let f = fuzz_framing::image_items(&data).unwrap();
        decode_within(&target, &format!("seed {name}"), f.chunk, &f.shapes).unwrap();
    }
}

/// The 16-bit fixtures (tests/fixtures/deep) as one chunk and each alone, a 16-bit image large
/// enough for several segments, and the deep_chunk fuzz target's seeds.
#[test]
fn deep_chunks_decode_within_their_budget() {
    use bsar::codec::deep::DeepCodec;
    let images: Vec<Payload> = files_in("tests/fixtures/deep")
        .into_iter()
        .filter_map(|(_, bytes)| bsar::imageio::decode_exact(&bytes))
        .filter(|(r, _)| r.depth == 16)
        .map(|(r, _)| {
            Payload::Image(Image {
                width: r.width,
                height: r.height,
                channels: r.channels,
                depth: r.depth,
                pixels: r.pixels,
            })
        })
        .collect();
    assert!(images.len() >= 6, "the 16-bit fixtures decode");
    round_trip_within(&DeepCodec, "16-bit fixtures, one chunk", &images);
    for (i, img) in images.iter().enumerate() {
        round_trip_within(
            &DeepCodec,
            &format!("16-bit fixture {i} alone"),
            &[img.clone()],
        );
    }
    let (w, h) = (1100u32, 500u32);
    let large = Image {
        width: w,
        height: h,
        channels: 3,
        depth: 16,
        pixels: (0..w * h * 3)
            .flat_map(|i| {
                let (x, y) = (i / 3 % w, i / 3 / w);
                let v =
                    (x * 40 + y * 90 + (i % 3) * 7000 + (i.wrapping_mul(2654435761) >> 26)) as u16;
                v.to_be_bytes()
            })
            .collect(),
    };
    round_trip_within(
        &DeepCodec,
        "1100x500 16-bit RGB, two segments",
        &[Payload::Image(large)],
    );
    for (name, data) in seeds("deep_chunk") {
        let f = fuzz_framing::deep_items(&data).unwrap();
        decode_within(&DeepCodec, &format!("seed {name}"), f.chunk, &f.shapes).unwrap();
    }
}

#[test]
fn image_files_rebuild_within_their_budget() {
    use bsar::imageio::{decode_exact, rebuild, rebuild_budget, Header};
    let mut rebuilt = 0;
    let palette = files_in("tests/fixtures/palette");
    assert!(palette.len() >= 10, "the palette and sub-8-bit fixtures");
    for (name, file) in files_in("tests/fixtures/exact/png")
        .into_iter()
        .chain(palette)
    {
        let Some((raster, wrapper)) = decode_exact(&file) else {
            continue; // 16-bit PNGs are stored as bytes
        };
        let header = Header {
            width: raster.width,
            height: raster.height,
            channels: raster.channels,
            depth: raster.depth,
        };
        let bytes = wrapper.to_bytes();
        let budget = rebuild_budget(bytes.len() as u64, header);
        let (got, peak) = within("rebuild", budget, || {
            rebuild(&bytes, header, raster.pixels.clone())
        });
        println!(
            "{:<8} {:<44} {peak:>12} {budget:>14} {:>7.3}%",
            "rebuild",
            name,
            100.0 * peak as f64 / budget as f64
        );
        assert_eq!(got.unwrap(), file);
        rebuilt += 1;
    }
    assert!(rebuilt >= 26, "{rebuilt} PNGs rebuilt");
}

#[test]
fn the_counter_aborts_a_decode_the_moment_it_passes_its_budget() {
    // In a child (this test binary again), since it aborts: one allocation past the budget,
    // however large, ends the process before it is made, naming what ran.
    const CHILD: &str = "BSAR_DECODE_BUDGET_CHILD";
    if let Ok(size) = std::env::var(CHILD) {
        let size: usize = size.parse().unwrap();
        let (v, _) = within("the child's decode", 1 << 20, || {
            Vec::<u8>::with_capacity(size)
        });
        std::hint::black_box(v);
        println!("the child survived");
        return;
    }
    let run = |size: usize| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "the_counter_aborts_a_decode_the_moment_it_passes_its_budget",
                "--nocapture",
            ])
            .env(CHILD, size.to_string())
            .output()
            .unwrap()
    };
    let within_budget = run(1000);
    assert!(within_budget.status.success());
    assert!(String::from_utf8_lossy(&within_budget.stdout).contains("the child survived"));
    for size in [(1 << 20) + 1, 1 << 39] {
        let out = run(size);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{size}: {err}");
        assert!(
            err.contains("decode budget exceeded: the child's decode")
                && err.contains(&format!("allocation of {size} bytes")),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("the child survived"));
    }
}

#[test]
fn every_fuzz_target_that_decodes_archive_data_runs_under_the_budget() {
    // A target added without the counting allocator would fuzz without the bound.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for target in [
        "container",
        "zstd_chunk",
        "lepton_chunk",
        "bitswap_chunk",
        "deep_chunk",
        "levels_block",
        "imageio",
        "index",
    ] {
        let src = std::fs::read_to_string(dir.join(format!("{target}.rs"))).unwrap();
        assert!(
            src.contains("#[global_allocator]")
                && src.contains("budget_support::Counting")
                && src.contains("budget_support::within("),
            "fuzz target {target} does not decode under the budget"
        );
    }
}

#[test]
fn the_container_seeds_are_archives_read_within_their_budget() {
    // The container target starts from these: a seed its reader refused would leave it fuzzing
    // the first check only. Every chunk of each is read, every member checked (the PNG rebuilt),
    // each chunk within its read budget.
    let registry = writer_support::registry();
    let mut codecs = std::collections::BTreeSet::new();
    let mut rebuilt = 0;
    for (name, data) in seeds("container") {
        let archive = bsar::archive::Archive::parse(&data)
            .unwrap_or_else(|e| panic!("seed {name} does not open: {e}"));
        for (ci, holders) in archive.index.chunk_members.iter().enumerate() {
            let budget = archive.read_budget(ci, &registry).unwrap();
            let (items, peak) = within("container seed", budget, || {
                archive.read_chunk(ci, holders.len() - 1, &registry)
            });
            let items = items.unwrap_or_else(|e| panic!("seed {name}, chunk {ci}: {e}"));
            assert_eq!(items.len(), holders.len());
            codecs.insert(registry.describe(archive.index.chunks[ci].codec));
            rebuilt += holders
                .iter()
                .filter(|&&m| archive.index.members[m as usize].crc.is_none())
                .count();
            println!(
                "{:<8} {:<44} {peak:>12} {budget:>14} {:>7.3}%",
                "read",
                format!("seed {name}, chunk {ci}"),
                100.0 * peak as f64 / budget as f64
            );
        }
    }
    let want = ["bitswap", "deep", "lepton", "zstd"].map(String::from);
    assert_eq!(codecs, want.into_iter().collect(), "codecs the seeds cover");
    assert!(
        rebuilt >= 1,
        "no seed member is checked through its rebuilt file"
    );
}
