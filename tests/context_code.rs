//! The context code (spec/context.md): its test vectors, round trips of every shape through the
//! model alone, chunk independence of its adaptive state, and old (version 2) archives.

mod common;

use bsar::ans::Stack;
use bsar::context::{ContextModel, Dist, ImageCoder, Version};
use std::path::Path;

const PRECISION: u32 = 20;

/// The test images of spec/context.md 6.
fn test_image(w: usize, h: usize, c: usize) -> Vec<u8> {
    let g = |i: u64| ((i * 2_654_435_761) % (1 << 32)) >> 24;
    let mut out = Vec::with_capacity(w * h * c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let i = ((y * w + x) * c + ch) as u64;
                out.push(((3 * (x + y) + 40 * ch + g(i) as usize / 8) % 256) as u8);
            }
        }
    }
    out
}

struct Img {
    w: usize,
    h: usize,
    c: usize,
    patch: usize,
    px: Vec<u8>,
}

fn img(w: usize, h: usize, c: usize, patch: usize) -> Img {
    Img {
        w,
        h,
        c,
        patch,
        px: test_image(w, h, c),
    }
}

/// Every sample's distribution and interval, in visiting order, with one chunk state.
fn run(images: &[Img]) -> Vec<(Dist, (u32, u32))> {
    run_version(Version::V4, images)
}

fn run_version(version: Version, images: &[Img]) -> Vec<(Dist, (u32, u32))> {
    let mut model = ContextModel::new(version);
    let mut out = Vec::new();
    for i in images {
        let mut coder = ImageCoder::new(i.w, i.h, i.c, i.patch, PRECISION);
        let mut px = i.px.clone();
        coder.code_image(&mut model, &mut px, |d, v| {
            out.push((*d, d.interval(v)));
            v
        });
        assert_eq!(px, i.px, "the encoder's view leaves the image as it is");
    }
    out
}

/// Decodes the intervals' starts back through the model: the decoder's view.
fn decode(images: &[Img], coded: &[(Dist, (u32, u32))]) -> Vec<Vec<u8>> {
    decode_version(Version::V4, images, coded)
}

fn decode_version(version: Version, images: &[Img], coded: &[(Dist, (u32, u32))]) -> Vec<Vec<u8>> {
    let mut model = ContextModel::new(version);
    let mut it = coded.iter();
    let mut out = Vec::new();
    for i in images {
        let mut coder = ImageCoder::new(i.w, i.h, i.c, i.patch, PRECISION);
        let mut px = vec![0u8; i.px.len()];
        coder.code_image(&mut model, &mut px, |d, _| {
            let (want, (start, freq)) = it.next().expect("as many samples");
            assert_eq!(d, want, "decoder and encoder see the same distribution");
            let (v, s, f) = d.find(start + freq / 2);
            assert_eq!((s, f), (*start, *freq));
            v
        });
        out.push(px);
    }
    out
}

fn crc_of_intervals(coded: &[(Dist, (u32, u32))]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (_, (s, f)) in coded {
        h.update(&s.to_le_bytes());
        h.update(&f.to_le_bytes());
    }
    h.finalize()
}

fn crc_of_message(coded: &[(Dist, (u32, u32))]) -> u32 {
    let mut stack = Stack::new(1);
    for (_, (s, f)) in coded.iter().rev() {
        stack.push(0, *s, *f, PRECISION);
    }
    crc32fast::hash(&stack.to_bytes())
}

fn chunk_b() -> Vec<Img> {
    vec![img(5, 4, 3, 4), img(37, 23, 3, 32), img(30, 29, 1, 28)]
}

/// Image A's first six samples (G, R, B of pixels (0, 0) and (0, 1)) as `(pred, inv_scale,
/// start, freq)`, and chunk B's CRC-32 of every interval and of the rANS message that pushes
/// them: spec/context.md 6.
struct Vectors {
    first_six: [(i32, u32, u32, u32); 6],
    intervals_crc: u32,
    message_crc: u32,
}

const VECTORS: [(Version, Vectors); 2] = [
    (
        Version::V3,
        Vectors {
            first_six: [
                (1024, 3994, 30029, 1176),
                (748, 3994, 0, 13248),
                (748, 3994, 420764, 14446),
                (350, 3994, 719574, 12582),
                (0, 2721, 794010, 7202),
                (682, 6990, 504569, 26237),
            ],
            intervals_crc: 0xC59ACF69,
            message_crc: 0x03F1D425,
        },
    ),
    (
        Version::V4,
        Vectors {
            first_six: [
                (1024, 3744, 35568, 1352),
                (773, 3744, 0, 14528),
                (773, 3744, 385594, 13085),
                (358, 3744, 696223, 12290),
                (0, 2513, 777196, 6984),
                (679, 5242, 516866, 19679),
            ],
            intervals_crc: 0xA185300C,
            message_crc: 0x327166CA,
        },
    ),
];

#[test]
fn test_vectors_of_the_spec() {
    let mut wrong = Vec::new();
    for (version, want) in &VECTORS {
        let a = run_version(*version, &[img(5, 4, 3, 4)]);
        let first: Vec<(i32, u32, u32, u32)> = a
            .iter()
            .take(6)
            .map(|(d, (s, f))| (d.pred, d.inv_scale, *s, *f))
            .collect();
        let b = run_version(*version, &chunk_b());
        let (ci, cm) = (crc_of_intervals(&b), crc_of_message(&b));
        if std::env::var_os("BSAR_PRINT_VECTORS").is_some() {
            println!("{version:?}: first {first:?}\nintervals {ci:#010X} message {cm:#010X}");
        }
        if first != want.first_six || (ci, cm) != (want.intervals_crc, want.message_crc) {
            wrong.push(*version);
        }
    }
    assert!(wrong.is_empty(), "test vectors differ for {wrong:?}");
}

/// Both versions decode what they encode (the tests below use version 4, the one written).
#[test]
fn version_3_round_trips_too() {
    for (c, patch) in [(1usize, 28usize), (3, 32), (3, 4)] {
        let images = vec![img(33, 31, c, patch), img(31, 33, c, patch)];
        let coded = run_version(Version::V3, &images);
        let back = decode_version(Version::V3, &images, &coded);
        for (b, i) in back.iter().zip(&images) {
            assert_eq!(b, &i.px, "{c} channels, patch {patch}");
        }
        assert_ne!(coded, run(&images), "the versions differ");
    }
}

#[test]
fn every_shape_round_trips_through_the_model() {
    for c in [1usize, 3] {
        for (w, h) in [(1, 1), (1, 9), (9, 1), (2, 2), (33, 31), (64, 40), (70, 3)] {
            for patch in [4usize, 28, 32] {
                let images = vec![img(w, h, c, patch), img(h, w, c, patch)];
                let coded = run(&images);
                assert_eq!(coded.len(), 2 * w * h * c);
                let back = decode(&images, &coded);
                for (b, i) in back.iter().zip(&images) {
                    assert_eq!(b, &i.px, "{w}x{h}x{c} patch {patch}");
                }
            }
        }
    }
}

#[test]
fn extreme_images_round_trip() {
    // Constant images at both ends, and noise: the model's scales and biases hit their bounds.
    for fill in [0u8, 255] {
        let mut i = img(40, 35, 3, 32);
        i.px.iter_mut().for_each(|v| *v = fill);
        let images = vec![i];
        assert_eq!(decode(&images, &run(&images))[0], images[0].px);
    }
    let mut i = img(40, 35, 3, 32);
    i.px = common::noise(i.px.len(), 7);
    let images = vec![i];
    let coded = run(&images);
    assert_eq!(decode(&images, &coded)[0], images[0].px);
    let bits: f64 = coded
        .iter()
        .map(|(_, (_, f))| 20.0 - (*f as f64).log2())
        .sum();
    let rate = bits / coded.len() as f64;
    assert!(rate < 9.0, "noise costs about 8 bits a sample, not {rate}");
}

#[test]
fn the_state_adapts_over_a_chunk_and_starts_afresh_in_each() {
    // A smooth image with a little noise: after one image like it, the next costs less.
    let smooth = |seed: u64| {
        let mut i = img(48, 40, 3, 32);
        let jitter = common::noise(i.px.len(), seed);
        for (k, v) in i.px.iter_mut().enumerate() {
            let (x, y, c) = ((k / 3) % 48, k / 3 / 48, k % 3);
            *v = (60 + 2 * x + y + 20 * c + (jitter[k] % 5) as usize) as u8;
        }
        i
    };
    let cost = |c: &[(Dist, (u32, u32))]| -> f64 {
        c.iter().map(|(_, (_, f))| 20.0 - (*f as f64).log2()).sum()
    };
    let alone = cost(&run(&[smooth(2)]));
    let both = run(&[smooth(1), smooth(2)]);
    let second = cost(&both[48 * 40 * 3..]);
    assert!(second < alone, "adapted {second} vs fresh {alone}");
    // A fresh model is the same whatever ran before it (no state outside ContextModel).
    assert_eq!(cost(&run(&[smooth(2)])), alone);
}

/// A chunk of version 2 (the predictive patch code of spec/bitswap.md 3.6), written by bsar
/// before version 3, still extracts to the original pixels.
#[test]
fn version_2_archives_still_extract() {
    old_archive_extracts("v2", false);
}

/// A chunk of version 3 (the context code without its least-squares stages), written by bsar
/// 0.1 with format 1.4 before version 4, still extracts to the original files byte for byte.
#[test]
fn version_3_archives_still_extract() {
    old_archive_extracts("v3", true);
}

/// `tests/fixtures/NAME/NAME.bsar` extracts to `tests/fixtures/NAME/imgs` (the same pixels, or
/// the same bytes where `exact`) and verifies.
fn old_archive_extracts(name: &str, exact: bool) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    let archive = fixtures.join(format!("{name}.bsar"));
    common::ok(tmp.path(), &["extract", archive.to_str().unwrap()]);
    let mut n = 0;
    for e in std::fs::read_dir(fixtures.join("imgs")).unwrap() {
        let p = e.unwrap().path();
        let file = p.file_name().unwrap();
        let want = std::fs::read(&p).unwrap();
        let got = std::fs::read(tmp.path().join("imgs").join(file)).unwrap();
        if exact {
            assert!(got == want, "{} is not byte for byte", p.display());
        } else {
            let want = bsar::imageio::decode(&want).unwrap().0;
            let got = bsar::imageio::decode(&got).unwrap().0;
            assert_eq!(got.pixels, want.pixels, "{}", p.display());
        }
        n += 1;
    }
    assert_eq!(n, 4);
    common::ok(tmp.path(), &["verify", archive.to_str().unwrap()]);
}
