//! Re-makes the fuzz seeds of the Bit-Swap, deep-image and Lepton chunk, levels block, index and
//! container targets (fuzz/seeds/bitswap_chunk, deep_chunk, levels_block, lepton_chunk, index,
//! container) with the
//! current encoders, whenever a format changes; name the targets to re-make only theirs:
//!
//!     cargo run --release --example make_fuzz_seeds [TARGET]...
//!
//! Each seed follows the fuzz target's input layout: `[count/upto] [w h c] x count [chunk]`, two
//! RGB images coded with the tiny fixture model. One seed is Bit-Swap under the default policy
//! (it holds direct and bits-back patches), the other BB-ANS with bits-back only; two hold a
//! label image coded by the levels code, alone and beside a stream image. Chunks of an
//! older version are kept beside them under `v2-*` and `v3-*` names, for the old decoders (copy
//! the current seeds to the old version's names before a format change re-makes them).

use bsar::bitswap::{Policy, Scheme};
use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use bsar::codec::{Codec, Image, Payload};
use bsar::model::Model;
use std::sync::Arc;

#[path = "../tests/model_support/mod.rs"]
mod model_support;
#[path = "../tests/writer_support/mod.rs"]
mod writer_support;

/// A smooth gradient with a little deterministic noise, then a flat band: some patches suit the
/// predictive code and some the model.
fn image(w: u32, h: u32, seed: u32) -> Image {
    let mut s = seed;
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (s >> 28) as u32;
                let v = if y >= h / 2 {
                    90
                } else {
                    (x * 6 + y * 3 + c * 20 + noise) % 256
                };
                pixels.push(v as u8);
            }
        }
    }
    Image {
        width: w,
        height: h,
        channels: 3,
        depth: 8,
        pixels,
    }
}

/// A label map of four colours in diagonal bands: an image for the levels code.
fn label_image(w: u32, h: u32) -> Image {
    const COLOURS: [[u8; 3]; 4] = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [220, 220, 0]];
    let pixels = (0..h)
        .flat_map(|y| (0..w).map(move |x| COLOURS[((x + 2 * y) / 7 % 4) as usize]))
        .flatten()
        .collect();
    Image {
        width: w,
        height: h,
        channels: 3,
        depth: 8,
        pixels,
    }
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let asked: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |t: &str| asked.is_empty() || asked.iter().any(|a| a == t);
    if wanted("bitswap_chunk") {
        bitswap_seeds(root);
    }
    if wanted("levels_block") {
        levels_seeds(root);
    }
    if wanted("deep_chunk") {
        deep_seeds(root);
    }
    if wanted("lepton_chunk") {
        lepton_seeds(root);
    }
    if wanted("index") {
        index_seeds(root);
    }
    if wanted("container") {
        container_seeds(root);
    }
}

/// Whole archives as the library's writer makes them (`writer_support::round_trip`, which also
/// reads every member back), small enough for the fuzzer's default input length: members of
/// every kind in a zstd chunk; byte-exact PNG and PNM images in a Bit-Swap chunk of the tiny
/// models (the container target decodes with them); a JPEG in a Lepton chunk; and a 16-bit PNG
/// and PNM in a chunk of the deep-image codec.
fn container_seeds(root: &str) {
    use writer_support::TreeFile;
    let file = |path: &str, bytes: Vec<u8>| TreeFile {
        path: path.as_bytes().to_vec(),
        bytes,
    };
    let read = |p: &str| std::fs::read(format!("{root}/tests/fixtures/{p}")).unwrap();
    let pgm = {
        let mut f = b"P5\n12 10\n255\n".to_vec();
        f.extend((0..120u32).map(|i| (i * 7 % 251) as u8));
        f
    };
    let registry = writer_support::registry();
    std::fs::create_dir_all(format!("{root}/fuzz/seeds/container")).unwrap();
    for (name, files) in [
        (
            "files.bsar",
            vec![
                file("d/a.txt", b"hello\n".to_vec()),
                file("d/b.txt", b"hello again, hello again\n".repeat(4)),
                file("d/empty", Vec::new()),
                file("e/c.txt", b"third".to_vec()),
            ],
        ),
        (
            "images.bsar",
            vec![
                file("i/grey.png", read("exact/png/pillow-grey.png")),
                file("i/grey.pgm", pgm),
            ],
        ),
        (
            "jpeg.bsar",
            vec![file("j/grey.jpg", read("exact/jpeg/grey.jpg"))],
        ),
        (
            "deep.bsar",
            vec![
                file("k/grey.png", read("deep/room-grey-16bit.png")),
                file("k/rgb.ppm", read("deep/flower-rgb-10bit.ppm")),
            ],
        ),
    ] {
        let archive = writer_support::round_trip(&files, &registry, true, 1);
        let path = format!("{root}/fuzz/seeds/container/{name}");
        std::fs::write(&path, &archive).expect("write the seed");
        println!("{path}: {} bytes", archive.len());
    }
}

fn bitswap_seeds(root: &str) {
    let model = Model::load(
        include_bytes!("../tests/fixtures/model-tiny.json"),
        include_bytes!("../tests/fixtures/model-tiny.safetensors"),
    )
    .expect("the fixture model loads");
    let model = Arc::new(model);
    let local = Model::load(
        include_bytes!("../tests/fixtures/model-tiny-local.json"),
        include_bytes!("../tests/fixtures/model-tiny-local.safetensors"),
    )
    .expect("the local fixture model loads");
    let local = Arc::new(local);
    let images = [image(13, 9, 1), image(8, 16, 2)];
    let payloads: Vec<Payload> = images.iter().cloned().map(Payload::Image).collect();
    let refs: Vec<&Payload> = payloads.iter().collect();
    for (name, m, scheme, policy) in [
        (
            "two-images-bitswap.bin",
            &model,
            Scheme::BitSwap,
            Policy::Cheapest,
        ),
        (
            "two-images-bbans.bin",
            &model,
            Scheme::BbAns,
            Policy::BitsBackOnly,
        ),
        // Every patch by bits-back, so that the local-linear pixel path is what the seed holds.
        (
            "local-bitswap.bin",
            &local,
            Scheme::BitSwap,
            Policy::BitsBackOnly,
        ),
    ] {
        let codec =
            BitswapCodec::new(vec![m.clone()], scheme, DEFAULT_PRECISIONS).with_policy(policy);
        let chunk = codec.encode_chunk(&refs).expect("encodes");
        // count 2 (stored as 1), decode up to image 1; channel byte 2 means 3 channels.
        let mut seed = vec![1 | (1 << 2)];
        for im in &images {
            seed.extend_from_slice(&[(im.width - 1) as u8, (im.height - 1) as u8, 2]);
        }
        seed.extend_from_slice(&chunk);
        let path = format!("{root}/fuzz/seeds/bitswap_chunk/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
    // Images of few colours, which the levels code takes (spec/levels.md): one alone, and one
    // beside a stream image.
    let labels = Payload::Image(label_image(24, 18));
    let streamed = Payload::Image(image(24, 16, 1));
    let codec = BitswapCodec::new(vec![model.clone()], Scheme::BitSwap, DEFAULT_PRECISIONS);
    for (name, items) in [
        ("levels-bitswap.bin", vec![&labels]),
        ("levels-mixed-bitswap.bin", vec![&streamed, &labels]),
    ] {
        let chunk = codec.encode_chunk(&items).expect("encodes");
        let mut seed = vec![(items.len() as u8 - 1) | ((items.len() as u8 - 1) << 2)];
        for p in &items {
            let Payload::Image(im) = p else {
                unreachable!()
            };
            seed.extend_from_slice(&[(im.width - 1) as u8, (im.height - 1) as u8, 2]);
        }
        seed.extend_from_slice(&chunk);
        let path = format!("{root}/fuzz/seeds/bitswap_chunk/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
    // One 40x20 image in tiles of 16 (chunk version 5, six tiles), at each level's context code.
    let big = Payload::Image(image(40, 20, 5));
    for (name, newest) in [
        ("tiled-bitswap.bin", bsar::context::Version::V4),
        ("tiled-fast-bitswap.bin", bsar::context::Version::V3),
    ] {
        let codec = BitswapCodec::new(vec![model.clone()], Scheme::BitSwap, DEFAULT_PRECISIONS)
            .with_context(newest)
            .with_tile_side(16);
        let chunk = codec.encode_chunk(&[&big]).expect("encodes");
        assert_eq!(chunk[0], 5, "tiled");
        // count 1, decode up to image 0; 40x20, 3 channels.
        let mut seed = vec![0, 39, 19, 2];
        seed.extend_from_slice(&chunk);
        let path = format!("{root}/fuzz/seeds/bitswap_chunk/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
}

/// Levels blocks in the levels_block target's layout (that of bitswap_chunk): a grey label map
/// of five values, the four-colour RGB label image and a binary image, in one block; and the
/// binary image alone.
fn levels_seeds(root: &str) {
    use bsar::levels::{encode, Levels};
    let grey: Vec<u8> = (0..24 * 18).map(|i| ((i % 24) / 5 * 40) as u8).collect();
    let binary: Vec<u8> = (0..30 * 20)
        .map(|i| ((i % 30) * (i / 30) % 7 == 0) as u8)
        .collect();
    let rgb = label_image(24, 18);
    let images = [
        Levels::of(24, 18, 1, &grey).unwrap(),
        Levels::of(24, 18, 3, &rgb.pixels).unwrap(),
        Levels::of(30, 20, 1, &binary).unwrap(),
    ];
    std::fs::create_dir_all(format!("{root}/fuzz/seeds/levels_block")).unwrap();
    for (name, set) in [("three.bin", &images[..]), ("binary.bin", &images[2..])] {
        let n = set.len() as u8;
        let mut seed = vec![(n - 1) | ((n - 1) << 2)];
        for l in set {
            let c = if l.channels == 1 { 0 } else { 2 };
            seed.extend_from_slice(&[(l.width - 1) as u8, (l.height - 1) as u8, c]);
        }
        seed.extend_from_slice(&encode(&set.iter().collect::<Vec<_>>()));
        let path = format!("{root}/fuzz/seeds/levels_block/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
}

/// Chunks of the deep-image codec in the deep_chunk target's layout (`tests/fuzz_framing`):
/// 16-bit RGB beside grey+alpha of 12 bits in use, an RGBA image of 8-bit data widened to 16
/// bits (`v * 257`), and an 8-bit grey image.
fn deep_seeds(root: &str) {
    use bsar::codec::deep::DeepCodec;
    let image = |w: u32, h: u32, channels: u8, depth: u8, f: &dyn Fn(u32, u32, u32) -> u32| {
        let mut pixels = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for c in 0..channels as u32 {
                    let v = f(x, y, c);
                    match depth {
                        16 => pixels.extend_from_slice(&(v as u16).to_be_bytes()),
                        _ => pixels.push(v as u8),
                    }
                }
            }
        }
        Image {
            width: w,
            height: h,
            channels,
            depth,
            pixels,
        }
    };
    let noise = |x: u32, y: u32, c: u32| (x.wrapping_mul(2654435761) ^ (y * 40503 + c)) >> 27;
    let sets: [(&str, Vec<Image>); 3] = [
        (
            "rgb-and-grey-alpha.bin",
            vec![
                image(24, 18, 3, 16, &|x, y, c| {
                    x * 2000 + y * 900 + c * 5000 + noise(x, y, c)
                }),
                image(20, 16, 2, 16, &|x, y, c| {
                    ((x * 150 + y * 90 + c * 3000) & 4095) << 4
                }),
            ],
        ),
        (
            "rgba-widened.bin",
            vec![image(30, 12, 4, 16, &|x, y, c| {
                ((x * 7 + y * 3 + c * 50) % 256) * 257
            })],
        ),
        (
            "grey-8bit.bin",
            vec![image(17, 9, 1, 8, &|x, y, _| {
                (x * 9 + y * 5 + noise(x, y, 0)) % 256
            })],
        ),
    ];
    std::fs::create_dir_all(format!("{root}/fuzz/seeds/deep_chunk")).unwrap();
    for (name, set) in sets {
        let n = set.len() as u8;
        let mut seed = vec![(n - 1) | ((n - 1) << 2)];
        for i in &set {
            let depth_bit = if i.depth == 8 { 4 } else { 0 };
            seed.extend_from_slice(&[
                (i.width - 1) as u8,
                (i.height - 1) as u8,
                (i.channels - 1) | depth_bit,
            ]);
        }
        let items: Vec<Payload> = set.into_iter().map(Payload::Image).collect();
        let refs: Vec<&Payload> = items.iter().collect();
        seed.extend_from_slice(&DeepCodec.encode_chunk(&refs).expect("codes"));
        let path = format!("{root}/fuzz/seeds/deep_chunk/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
}

/// Unpacked indexes in the index target's layout (`[u64 index_offset] [index]`), packed (format
/// 1.4) and in rows (1.3), of one member of each kind: a directory, files in two chunks (one an
/// image kept as pixels), an empty file and a symbolic link; and packed as format 1.6 writes it,
/// with the image a byte-exact PNG (wrapper kind 4), which has no CRC of its own there.
fn index_seeds(root: &str) {
    use bsar::archive::index::{encode_index, encode_row_index, Layout};
    use bsar::archive::{ChunkEntry, Content, Geometry, Kind, MemberEntry, NO_CHUNK};
    let entry = |path: &str, kind: Kind| MemberEntry {
        path: path.as_bytes().to_vec(),
        kind,
        content: Content::Bytes,
        mode: 0o644,
        mtime_sec: 1_764_000_000,
        mtime_nsec: 120_000_000,
        size: 0,
        crc: Some(0),
        chunk: NO_CHUNK,
        position: 0,
        geometry: Geometry::default(),
        link: Vec::new(),
        wrapper: Vec::new(),
    };
    let placed = |path: &str, chunk: u32, position: u32, size: u64| MemberEntry {
        chunk,
        position,
        size,
        crc: Some(0x0BAD_F00D ^ position),
        ..entry(path, Kind::File)
    };
    let mut image = placed("d/img.png", 1, 0, 12);
    image.content = Content::Pixels;
    image.geometry = Geometry {
        width: 2,
        height: 2,
        channels: 3,
    };
    image.wrapper = vec![2, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut link = entry("d/link", Kind::Symlink);
    link.link = b"a.txt".to_vec();
    link.size = 5;
    link.crc = Some(crc32fast::hash(b"a.txt"));
    let members = vec![
        entry("d", Kind::Dir),
        placed("d/a.txt", 0, 0, 5),
        image,
        placed("d/b.txt", 0, 1, 9),
        entry("d/empty", Kind::File),
        link,
    ];
    let chunks = vec![
        ChunkEntry {
            offset: 16,
            len: 20,
            crc: 1,
            item_count: 2,
            codec: 1,
        },
        ChunkEntry {
            offset: 36,
            len: 30,
            crc: 2,
            item_count: 1,
            codec: 2,
        },
    ];
    let mut checked = members.clone();
    checked[2].wrapper = [4u8]
        .into_iter()
        .chain(0x3610_A686u32.to_le_bytes())
        .collect();
    checked[2].crc = None;
    std::fs::create_dir_all(format!("{root}/fuzz/seeds/index")).unwrap();
    for (name, raw) in [
        (
            "packed.bin",
            encode_index(&chunks, &members, Layout::Packed),
        ),
        ("rows.bin", encode_row_index(&chunks, &members)),
        (
            "checked.bin",
            encode_index(&chunks, &checked, Layout::Checked),
        ),
    ] {
        let mut seed = 66u64.to_le_bytes().to_vec();
        seed.extend_from_slice(&raw);
        let path = format!("{root}/fuzz/seeds/index/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
}

/// Lepton chunks in the lepton_chunk target's layout (`[count-1 | upto << 3] [u16 len] x count
/// [chunk]`), in the format this bsar writes (2, headers in one frame): the grey fixture JPEG
/// alone, with the truncated one (which goes through zstd), three Pillow and cjpeg files, and a
/// stack (two files of one size and tables) around another file.
/// (`grey.bin` and `grey-and-truncated.bin`, the same files in format 1, were written by bsar
/// 1.2 and are kept as they are.)
fn lepton_seeds(root: &str) {
    use bsar::codec::lepton::LeptonCodec;
    let read = |n: &str| std::fs::read(format!("{root}/tests/fixtures/exact/jpeg/{n}")).unwrap();
    std::fs::create_dir_all(format!("{root}/fuzz/seeds/lepton_chunk")).unwrap();
    for (name, files) in [
        ("grey-2.bin", vec![read("grey.jpg")]),
        (
            "grey-and-truncated-2.bin",
            vec![read("grey.jpg"), read("truncated.jpg")],
        ),
        (
            "stack-2.bin",
            vec![
                read("pillow-q75.jpg"),
                read("grey.jpg"),
                read("pillow-q75.jpg"),
            ],
        ),
        (
            "three-2.bin",
            vec![
                read("pillow-q75.jpg"),
                read("pillow-q95.jpg"),
                read("baseline.jpg"),
            ],
        ),
    ] {
        let payloads: Vec<Payload> = files.iter().cloned().map(Payload::Bytes).collect();
        let refs: Vec<&Payload> = payloads.iter().collect();
        let chunk = LeptonCodec::new(19)
            .encode_chunk(&refs)
            .expect("Lepton takes it");
        let count = files.len() as u8;
        let mut seed = vec![(count - 1) | ((count - 1) << 3)];
        for f in &files {
            seed.extend_from_slice(&(f.len() as u16).to_le_bytes());
        }
        seed.extend_from_slice(&chunk);
        let path = format!("{root}/fuzz/seeds/lepton_chunk/{name}");
        std::fs::write(&path, &seed).expect("write the seed");
        println!("{path}: {} bytes", seed.len());
    }
}
