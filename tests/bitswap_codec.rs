//! The Bit-Swap codec (codec 2) at the library level, with the tiny fixture model (RGB, P = 8,
//! two latent layers) and a random-weights grey model of the same shape: exact round trips of
//! every kind of image, random access, determinism, corruption and truncation, the chunk header's
//! checks, and the "initial bits" (paid once per chunk, bounded by one patch's latents).

mod common;
#[path = "fuzz_framing/mod.rs"]
mod fuzz_framing;
mod model_support;

use bsar::ans::Stack;
use bsar::bitswap::{self, Planes, Policy, Precisions, Scheme};
use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use bsar::codec::{Codec, CodecError, Image, ItemShape, Payload};
use bsar::model::Model;
use common::noise;
use model_support::tiny_fixture;
use std::sync::Arc;

const SCHEMES: [Scheme; 2] = [Scheme::BitSwap, Scheme::BbAns];

fn tiny_rgb() -> Arc<Model> {
    let m = tiny_fixture();
    assert_eq!((m.config().channels, m.config().patch), (3, 8));
    Arc::new(m)
}

/// A grey model with random weights, shaped like the fixture (the shipped grey model has 28x28
/// patches and eight layers: too slow for a test that codes hundreds of chunks).
fn tiny_grey_with_bins(latent_bins: usize) -> Arc<Model> {
    Arc::new(model_support::tiny_grey(42, latent_bins))
}

fn tiny_grey() -> Arc<Model> {
    tiny_grey_with_bins(1024)
}

/// The codec most tests use: every patch by bits-back, so they exercise the bits-back stream
/// (under the default policy the predictive code would take most patches from the tiny
/// fixture model). `policies_seed_the_stack_and_all_decode` covers the policies.
fn codec(scheme: Scheme) -> BitswapCodec {
    BitswapCodec::new(vec![tiny_rgb(), tiny_grey()], scheme, DEFAULT_PRECISIONS)
        .with_policy(Policy::BitsBackOnly)
}

#[derive(Clone, Copy, Debug)]
enum Alpha {
    /// Every alpha sample 255 (coded as a flag, no alpha plane).
    Opaque,
    /// Alpha samples that vary (coded in the alpha block).
    Varied,
}

/// A `w x h` image with `channels` samples per pixel. Even seeds give smooth gradients with a
/// little noise (what the model is trained for), odd seeds pure noise (its worst case).
fn image(w: u32, h: u32, channels: u8, seed: u64, alpha: Alpha) -> Image {
    let n = (w * h) as usize;
    let jitter = noise(n * 4, seed);
    let colour = if channels >= 3 { 3 } else { 1 };
    let has_alpha = channels == 2 || channels == 4;
    let mut pixels = Vec::with_capacity(n * channels as usize);
    for i in 0..n {
        let (x, y) = ((i as u32 % w) as u64, (i as u32 / w) as u64);
        for c in 0..colour {
            let v = if seed % 2 == 0 {
                let ramp = (x * 200 / w as u64 + y * 50 / h as u64 + 30 * c as u64) as i32;
                (ramp + (jitter[i * 4 + c] % 7) as i32 - 3).clamp(0, 255) as u8
            } else {
                jitter[i * 4 + c]
            };
            pixels.push(v);
        }
        if has_alpha {
            pixels.push(match alpha {
                Alpha::Opaque => 255,
                Alpha::Varied => (x * 37 + y * 11) as u8 ^ jitter[i * 4 + 3] >> 6,
            });
        }
    }
    Image {
        width: w,
        height: h,
        channels,
        depth: 8,
        pixels,
    }
}

fn shape_of(img: &Image) -> ItemShape {
    ItemShape::Image {
        width: img.width,
        height: img.height,
        channels: img.channels,
        depth: img.depth,
    }
}

fn encode(codec: &BitswapCodec, images: &[Image]) -> Vec<u8> {
    let payloads: Vec<Payload> = images.iter().cloned().map(Payload::Image).collect();
    let refs: Vec<&Payload> = payloads.iter().collect();
    codec.encode_chunk(&refs).expect("encodes")
}

fn decode(
    codec: &BitswapCodec,
    chunk: &[u8],
    shapes: &[ItemShape],
    upto: usize,
) -> Result<Vec<Image>, CodecError> {
    let out = codec.decode_chunk(chunk, shapes, upto)?;
    assert_eq!(
        out.len(),
        upto + 1,
        "decode_chunk returns exactly upto + 1 items"
    );
    Ok(out
        .into_iter()
        .map(|p| match p {
            Payload::Image(i) => i,
            Payload::Bytes(_) => panic!("Bit-Swap decoded bytes, not an image"),
        })
        .collect())
}

fn assert_round_trip(codec: &BitswapCodec, images: &[Image]) -> Vec<u8> {
    let chunk = encode(codec, images);
    let shapes: Vec<ItemShape> = images.iter().map(shape_of).collect();
    let back = decode(codec, &chunk, &shapes, images.len() - 1)
        .unwrap_or_else(|e| panic!("decoding {:?}: {e}", shapes));
    for (i, (a, b)) in images.iter().zip(&back).enumerate() {
        assert!(
            a == b,
            "image {i} ({}x{}x{}) differs after the round trip",
            a.width,
            a.height,
            a.channels
        );
    }
    chunk
}

/// Shapes around the 8x8 patch: single pixels, single rows and columns, partial, exact and
/// several patches.
const SIZES: [(u32, u32); 9] = [
    (1, 1),
    (13, 1),
    (1, 11),
    (7, 5),
    (8, 8),
    (9, 8),
    (8, 17),
    (16, 16),
    (21, 19),
];

/// (channels, alpha) pairs: grey, grey+opaque alpha, grey+varied alpha, RGB, RGBA both ways.
const KINDS: [(u8, Alpha); 6] = [
    (1, Alpha::Opaque),
    (2, Alpha::Opaque),
    (2, Alpha::Varied),
    (3, Alpha::Opaque),
    (4, Alpha::Opaque),
    (4, Alpha::Varied),
];

#[test]
fn every_shape_and_channel_count_round_trips_alone_with_both_schemes() {
    for scheme in SCHEMES {
        let codec = codec(scheme);
        for (k, &(w, h)) in SIZES.iter().enumerate() {
            for (j, &(channels, alpha)) in KINDS.iter().enumerate() {
                let img = image(w, h, channels, (k * 8 + j) as u64, alpha);
                let chunk = assert_round_trip(&codec, &[img]);
                assert_eq!(chunk[1], scheme.id(), "the chunk records its scheme");
            }
        }
    }
}

#[test]
fn mixed_images_share_one_chunk_and_decode_in_any_prefix() {
    let mut images = Vec::new();
    for (k, &(w, h)) in SIZES.iter().enumerate() {
        let (channels, alpha) = KINDS[k % KINDS.len()];
        images.push(image(w, h, channels, k as u64, alpha));
        // The other colour kind too, so grey and RGB images alternate.
        let (channels, alpha) = KINDS[(k + 3) % KINDS.len()];
        images.push(image(h, w, channels, 100 + k as u64, alpha));
    }
    let shapes: Vec<ItemShape> = images.iter().map(shape_of).collect();
    for scheme in SCHEMES {
        let codec = codec(scheme);
        let chunk = assert_round_trip(&codec, &images);
        assert_eq!(chunk[4], 2, "both models are listed in the chunk");
        // Random access: any prefix, without the rest.
        for upto in 0..images.len() {
            let got = decode(&codec, &chunk, &shapes, upto).unwrap();
            assert_eq!(got, images[..=upto], "prefix up to {upto}");
        }
    }
}

#[test]
fn extreme_precisions_round_trip() {
    let images = [
        image(9, 10, 3, 2, Alpha::Opaque),
        image(5, 12, 1, 3, Alpha::Opaque),
    ];
    for (pixel, latent) in [(8, 12), (24, 24), (12, 20)] {
        for scheme in SCHEMES {
            let codec = BitswapCodec::new(
                vec![tiny_rgb(), tiny_grey()],
                scheme,
                Precisions { pixel, latent },
            );
            let chunk = assert_round_trip(&codec, &images);
            assert_eq!((chunk[2], chunk[3]), (pixel as u8, latent as u8));
        }
    }
}

#[test]
fn encoding_is_deterministic() {
    let images = [
        image(17, 9, 4, 6, Alpha::Varied),
        image(8, 8, 1, 7, Alpha::Opaque),
        image(3, 30, 3, 8, Alpha::Opaque),
    ];
    for scheme in SCHEMES {
        let a = encode(&codec(scheme), &images);
        // A fresh codec, fresh model instances: same bytes.
        let b = encode(&codec(scheme), &images);
        assert_eq!(a, b, "{scheme:?}");
        let c = encode(&codec(scheme), &images);
        assert_eq!(a, c, "{scheme:?}");
    }
    // The two schemes really are different codes of the same images.
    assert_ne!(
        encode(&codec(Scheme::BitSwap), &images),
        encode(&codec(Scheme::BbAns), &images)
    );
}

/// Length of the chunk's header (everything before the rANS message), from spec/bitswap.md 2.
/// Offset of the `alpha_len` field: after the model ids and the flags (one shared byte, or one
/// per image; spec/bitswap.md section 2).
fn alpha_len_at(chunk: &[u8], items: usize) -> usize {
    let form_at = 5 + 32 * chunk[4] as usize;
    form_at + 1 + if chunk[form_at] == 0 { 1 } else { items }
}

fn header_len(chunk: &[u8], items: usize) -> usize {
    let at = alpha_len_at(chunk, items);
    let alpha = u32::from_le_bytes(chunk[at..at + 4].try_into().unwrap()) as usize;
    at + 4 + alpha
}

fn alpha_block(chunk: &[u8], items: usize) -> std::ops::Range<usize> {
    alpha_len_at(chunk, items) + 4..header_len(chunk, items)
}

#[test]
fn flipped_bytes_in_header_or_message_are_refused() {
    let images = [
        image(10, 9, 3, 2, Alpha::Opaque),
        image(6, 7, 2, 4, Alpha::Varied),
        image(8, 3, 4, 5, Alpha::Opaque),
    ];
    let shapes: Vec<ItemShape> = images.iter().map(shape_of).collect();
    for scheme in SCHEMES {
        let codec = codec(scheme);
        let chunk = encode(&codec, &images);
        let alpha = alpha_block(&chunk, images.len());
        assert!(!alpha.is_empty(), "the test needs an alpha block");
        let mut checked = 0;
        for pos in (0..chunk.len()).filter(|p| !alpha.contains(p)) {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = chunk.clone();
                bad[pos] ^= mask;
                match codec.decode_chunk(&bad, &shapes, images.len() - 1) {
                    Err(CodecError::Corrupt(_)) | Err(CodecError::Unsupported(_)) => checked += 1,
                    Err(e) => panic!("byte {pos} ^ {mask:#04x}: unexpected error kind {e:?}"),
                    // Version 3 read as version 2: they differ only in the direct code, so a
                    // chunk may still decode (to other pixels where a patch was coded directly,
                    // which the container's content CRC catches).
                    Ok(_) if pos == 0 && bad[0] == 2 => checked += 1,
                    Ok(_) => panic!(
                        "{scheme:?}: byte {pos} ^ {mask:#04x} of {} decoded without error",
                        chunk.len()
                    ),
                }
            }
        }
        assert_eq!(
            checked,
            3 * (chunk.len() - alpha.len()),
            "every byte outside alpha"
        );
        // The alpha block is one zstd frame with no checksum of its own (the container's content
        // CRC guards it): damage there may decode, but must not panic nor touch the colour planes.
        for pos in alpha.clone() {
            let mut bad = chunk.clone();
            bad[pos] ^= 0x10;
            if let Ok(got) = codec.decode_chunk(&bad, &shapes, images.len() - 1) {
                assert_eq!(got.len(), images.len());
            }
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let images = [
        image(9, 9, 4, 2, Alpha::Varied),
        image(4, 4, 1, 3, Alpha::Opaque),
    ];
    let shapes: Vec<ItemShape> = images.iter().map(shape_of).collect();
    for scheme in SCHEMES {
        let codec = codec(scheme);
        let chunk = encode(&codec, &images);
        for len in 0..chunk.len() {
            assert!(
                codec.decode_chunk(&chunk[..len], &shapes, 1).is_err(),
                "{scheme:?}: chunk cut to {len} of {} bytes decoded",
                chunk.len()
            );
        }
        // Extra bytes after the message are damage too (the stack is not back at its start).
        let mut longer = chunk.clone();
        longer.extend_from_slice(&[0, 0, 0, 0]);
        assert!(codec.decode_chunk(&longer, &shapes, 1).is_err());
    }
}

#[test]
fn a_missing_model_is_named() {
    let images = [image(8, 8, 3, 2, Alpha::Opaque)];
    let rgb = tiny_rgb();
    let chunk = encode(
        &BitswapCodec::new(vec![rgb.clone()], Scheme::BitSwap, DEFAULT_PRECISIONS),
        &images,
    );
    let grey_only = BitswapCodec::new(vec![tiny_grey()], Scheme::BitSwap, DEFAULT_PRECISIONS);
    let err = grey_only
        .decode_chunk(&chunk, &[shape_of(&images[0])], 0)
        .unwrap_err();
    let short: String = rgb.id()[..8].iter().map(|b| format!("{b:02x}")).collect();
    match err {
        CodecError::Unsupported(m) => {
            assert!(m.contains("needs model") && m.contains(&short), "{m}");
            assert!(!m.contains('\n'));
        }
        e => panic!("expected Unsupported, got {e:?}"),
    }
    // And an encoder without a model for the colour planes refuses (the writer then falls back).
    let refs = [&Payload::Image(images[0].clone())];
    assert!(matches!(
        grey_only.encode_chunk(&refs),
        Err(CodecError::Unsupported(_))
    ));
    let bytes = Payload::Bytes(b"not an image".to_vec());
    assert!(matches!(
        grey_only.encode_chunk(&[&bytes]),
        Err(CodecError::Unsupported(_))
    ));
}

#[test]
fn shapes_that_disagree_with_the_chunk_are_refused() {
    let images = [
        image(10, 9, 3, 2, Alpha::Opaque),
        image(7, 6, 1, 4, Alpha::Opaque),
        image(8, 8, 4, 6, Alpha::Varied),
    ];
    let good: Vec<ItemShape> = images.iter().map(shape_of).collect();
    let img = |w, h, c| ItemShape::Image {
        width: w,
        height: h,
        channels: c,
        depth: 8,
    };
    for scheme in SCHEMES {
        let codec = codec(scheme);
        let chunk = encode(&codec, &images);
        assert!(codec.decode_chunk(&chunk, &good, 2).is_ok());
        let variants: Vec<Vec<ItemShape>> = vec![
            good[..2].to_vec(),
            [&good[..], &[img(8, 8, 3)]].concat(),
            vec![img(11, 9, 3), good[1], good[2]],
            vec![img(10, 8, 3), good[1], good[2]],
            vec![img(9, 10, 3), good[1], good[2]],
            vec![good[0], img(6, 7, 1), good[2]],
            vec![good[0], good[1], img(8, 8, 3)],
            vec![good[0], img(7, 6, 3), good[2]],
            vec![good[0], img(7, 6, 2), good[2]],
            vec![img(10, 9, 1), good[1], good[2]],
            vec![good[0], ItemShape::Bytes { len: 42 }, good[2]],
            vec![good[0], img(0, 6, 1), good[2]],
            vec![good[0], img(7, 6, 5), good[2]],
        ];
        for shapes in &variants {
            let last = shapes.len() - 1;
            assert!(
                codec.decode_chunk(&chunk, shapes, last).is_err(),
                "{scheme:?}: {shapes:?} accepted"
            );
        }
    }
}

#[test]
fn asking_past_the_last_item_is_refused() {
    let images = [image(5, 5, 1, 2, Alpha::Opaque)];
    let codec = codec(Scheme::BitSwap);
    let chunk = encode(&codec, &images);
    let shapes = [shape_of(&images[0])];
    for upto in [1, 2, usize::MAX] {
        assert!(
            codec.decode_chunk(&chunk, &shapes, upto).is_err(),
            "upto {upto}"
        );
    }
    assert!(codec.decode_chunk(&chunk, &[], 0).is_err());
}

#[test]
fn a_message_with_more_than_one_lane_is_refused() {
    // spec/bitswap.md: chunks use a one-lane stack. Rewrite a valid message as a two-lane stack
    // whose extra head is the initial 2^32, which every other check would accept.
    let images = [image(8, 8, 3, 2, Alpha::Opaque)];
    let codec = codec(Scheme::BitSwap);
    let chunk = encode(&codec, &images);
    let shapes = [shape_of(&images[0])];
    let at = header_len(&chunk, 1);
    let stack = Stack::from_bytes(&chunk[at..]).unwrap();
    assert_eq!(stack.lanes(), 1);
    let msg = &chunk[at..];
    let head_len = 5 + (msg[1] & 3) as usize;
    let mut two = vec![2u8, msg[1] & 3];
    two.extend_from_slice(&msg[2..2 + head_len]);
    two.extend_from_slice(&[0, 0, 0, 0, 1]);
    two.extend_from_slice(&msg[2 + head_len..]);
    assert_eq!(Stack::from_bytes(&two).unwrap().lanes(), 2);
    let mut bad = chunk[..at].to_vec();
    bad.extend_from_slice(&two);
    assert!(matches!(
        codec.decode_chunk(&bad, &shapes, 0),
        Err(CodecError::Corrupt(_))
    ));
}

#[test]
fn precisions_too_low_for_the_model_are_errors_not_panics() {
    // A model with 8192 latent bins needs latent precision >= 13. A chunk that claims 12 (in the
    // range the header allows) must be refused, and an encoder asked for it must refuse too.
    let grey = tiny_grey_with_bins(8192);
    let images = [image(9, 9, 1, 2, Alpha::Opaque)];
    let shapes = [shape_of(&images[0])];
    let ok = BitswapCodec::new(
        vec![grey.clone()],
        Scheme::BitSwap,
        Precisions {
            pixel: 16,
            latent: 13,
        },
    );
    let mut chunk = assert_round_trip(&ok, &images);
    assert_eq!(chunk[3], 13);
    chunk[3] = 12;
    assert!(matches!(
        ok.decode_chunk(&chunk, &shapes, 0),
        Err(CodecError::Corrupt(_))
    ));
    let low = BitswapCodec::new(
        vec![grey],
        Scheme::BitSwap,
        Precisions {
            pixel: 16,
            latent: 12,
        },
    );
    let refs = [&Payload::Image(images[0].clone())];
    assert!(low.encode_chunk(&refs).is_err());
    // Precisions outside the spec's ranges are refused by the encoder as well.
    for (pixel, latent) in [(7, 20), (25, 20), (20, 11), (20, 25)] {
        let c = BitswapCodec::new(
            vec![tiny_rgb()],
            Scheme::BbAns,
            Precisions { pixel, latent },
        );
        let refs = [&Payload::Image(image(4, 4, 3, 1, Alpha::Opaque))];
        assert!(c.encode_chunk(&refs).is_err(), "({pixel}, {latent})");
    }
}

/// Initial bits: the stack borrows words only while the first patch the encoder meets pops its
/// latents (spec/bitswap.md 3.4), so however many images a chunk holds, the borrowed words are
/// bounded by one patch's latent symbols at the latent precision.
#[test]
fn initial_bits_are_paid_once_per_chunk() {
    let rgb = tiny_rgb();
    let cfg = rgb.config();
    let latents_per_patch =
        (cfg.patch / 2) * (cfg.patch / 2) * cfg.latent_channels * cfg.latent_layers;
    let bound_words =
        (latents_per_patch as u64 * DEFAULT_PRECISIONS.latent as u64).div_ceil(32) + 2;
    let imgs: Vec<Image> = (0..20)
        .map(|i| image(16, 16, 3, 2 * i, Alpha::Opaque))
        .collect();
    let planes = |n: usize| -> Vec<Planes> {
        imgs[..n]
            .iter()
            .map(|im| Planes {
                width: 16,
                height: 16,
                channels: 3,
                samples: im.pixels.clone(),
                model: 0,
            })
            .collect()
    };
    for scheme in SCHEMES {
        let one = bitswap::encode(
            &[&rgb],
            scheme,
            DEFAULT_PRECISIONS,
            Policy::BitsBackOnly,
            &planes(1),
        )
        .unwrap();
        let all = bitswap::encode(
            &[&rgb],
            scheme,
            DEFAULT_PRECISIONS,
            Policy::BitsBackOnly,
            &planes(20),
        )
        .unwrap();
        assert!(
            one.borrowed() > 0,
            "the first patch pops from an empty stack"
        );
        assert!(
            one.borrowed() <= bound_words,
            "{scheme:?}: {} words > {bound_words}",
            one.borrowed()
        );
        assert!(
            all.borrowed() <= bound_words,
            "{scheme:?}: {} words for 20 images > {bound_words}",
            all.borrowed()
        );

        // Through the codec: the rANS message per image shrinks as the chunk grows, and one
        // image costs at most its raw size plus the initial bits and the head.
        let codec = BitswapCodec::new(vec![rgb.clone()], scheme, DEFAULT_PRECISIONS);
        let c1 = encode(&codec, &imgs[..1]);
        let c20 = encode(&codec, &imgs);
        let m1 = c1.len() - header_len(&c1, 1);
        let m20 = c20.len() - header_len(&c20, 20);
        assert!(
            m20 < m1 * 20,
            "{scheme:?}: 20 images {m20} bytes, one image {m1} bytes"
        );
        let raw = 16 * 16 * 3;
        assert!(
            m1 <= raw + 4 * bound_words as usize + 10,
            "{scheme:?}: {m1} bytes for {raw} samples"
        );
        // Smooth images under a trained model: the whole chunk beats the raw samples.
        assert!(
            c20.len() < 20 * raw,
            "{scheme:?}: {} bytes for 20 x {raw}",
            c20.len()
        );
    }
}

/// The fuzz seeds (fuzz/seeds/bitswap_chunk) are valid chunks under the fuzz target's input
/// layout, so that mutations start from real structure; re-made by the encoder when the format
/// changes.
#[test]
fn fuzz_seeds_are_valid_chunks() {
    // The fuzz target's models: the fixture and its local-linear twin (spec/model.md 5).
    let local = Model::load(
        include_bytes!("fixtures/model-tiny-local.json"),
        include_bytes!("fixtures/model-tiny-local.safetensors"),
    )
    .unwrap();
    let codec = BitswapCodec::new(
        vec![tiny_rgb(), Arc::new(local)],
        Scheme::BitSwap,
        DEFAULT_PRECISIONS,
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/bitswap_chunk");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let f = fuzz_framing::image_items(&data).unwrap();
        assert_eq!(f.upto, f.shapes.len() - 1, "seeds decode the whole chunk");
        decode(&codec, f.chunk, &f.shapes, f.upto).unwrap();
        seen += 1;
    }
    // Version 4 seeds (make_fuzz_seeds, one of them with the local-linear model, two with a
    // label image for the levels code), two tiled ones (version 5, with tiles of version 4 and
    // 3), and the version 3 and 2 ones kept for the old decoders.
    assert_eq!(seen, 12);
}

/// The levels_block fuzz target's seeds are valid blocks under its framing (that of
/// bitswap_chunk, channels 1 or 2 meaning one sample a value, 3 or 4 three).
#[test]
fn levels_fuzz_seeds_are_valid_blocks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/levels_block");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let f = fuzz_framing::image_items(&data).unwrap();
        let shapes: Vec<bsar::levels::Shape> = f
            .shapes
            .iter()
            .map(|s| match *s {
                ItemShape::Image {
                    width,
                    height,
                    channels,
                    ..
                } => bsar::levels::Shape {
                    width: width as usize,
                    height: height as usize,
                    channels: if channels <= 2 { 1 } else { 3 },
                },
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(f.upto, shapes.len() - 1, "seeds decode the whole block");
        let images = bsar::levels::decode(f.chunk, &shapes, f.upto).unwrap();
        assert_eq!(images.len(), shapes.len());
        seen += 1;
    }
    assert_eq!(seen, 2);
}

/// Every policy decodes exactly; seeding replaces the initial bits (no supply words read) on
/// smooth images; the default policy mixes both modes and is never larger than bits-back only
/// by more than rounding (it takes the cheaper code patch by patch).
#[test]
fn policies_seed_the_stack_and_all_decode() {
    let rgb = tiny_rgb();
    let imgs: Vec<Image> = (0..12)
        .map(|i| image(13, 11, 3, 2 * i, Alpha::Opaque))
        .collect();
    let planes: Vec<Planes> = imgs
        .iter()
        .map(|im| Planes {
            width: 13,
            height: 11,
            channels: 3,
            samples: im.pixels.clone(),
            model: 0,
        })
        .collect();
    let shapes: Vec<bitswap::PlanesShape> = planes
        .iter()
        .map(|p| bitswap::PlanesShape {
            width: p.width,
            height: p.height,
            channels: p.channels,
            model: 0,
        })
        .collect();
    for scheme in SCHEMES {
        let mut sizes = Vec::new();
        for policy in [Policy::BitsBackOnly, Policy::Seed, Policy::Cheapest] {
            let stack =
                bitswap::encode(&[&rgb], scheme, DEFAULT_PRECISIONS, policy, &planes).unwrap();
            match policy {
                Policy::BitsBackOnly => assert!(stack.borrowed() > 0, "{scheme:?}"),
                _ => assert_eq!(
                    stack.borrowed(),
                    0,
                    "{scheme:?} {policy:?} read initial bits"
                ),
            }
            sizes.push(stack.bit_len());
            let bytes = stack.to_bytes();
            let back = bitswap::decode(
                &[&rgb],
                scheme,
                DEFAULT_PRECISIONS,
                Stack::from_bytes(&bytes).unwrap(),
                &shapes,
                shapes.len() - 1,
            )
            .unwrap();
            assert_eq!(back, planes, "{scheme:?} {policy:?}");
        }
        assert!(
            sizes[1] < sizes[0] && sizes[2] <= sizes[1] + 64,
            "{scheme:?}: bits-back only {}, seed {}, cheapest {}",
            sizes[0],
            sizes[1],
            sizes[2]
        );
    }
}

/// The default policy's codec (the context code takes the patches the tiny models lose), tiling
/// at `side`, on `threads` threads.
fn tiling_codec(side: u32, threads: usize) -> BitswapCodec {
    BitswapCodec::new(
        vec![tiny_rgb(), tiny_grey()],
        Scheme::BitSwap,
        DEFAULT_PRECISIONS,
    )
    .with_tile_side(side)
    .with_threads(threads)
}

/// An image wider or taller than twice the tile side is coded as tiles (chunk version 5,
/// spec/bitswap.md 2.1) and comes back exactly, alpha included; the bytes do not depend on the
/// thread count, and a decode on any thread count gives the same image.
#[test]
fn large_images_are_tiled_and_round_trip_on_any_thread_count() {
    for (w, h, channels, alpha) in [
        (70, 20, 3, Alpha::Opaque),
        (33, 90, 1, Alpha::Opaque),
        (50, 41, 4, Alpha::Varied),
        (45, 19, 2, Alpha::Varied),
    ] {
        let img = image(w, h, channels, 6, alpha);
        let one = encode(&tiling_codec(16, 1), &[img.clone()]);
        assert_eq!(one[0], 5, "{w}x{h}x{channels} is tiled");
        assert_eq!(u16::from_le_bytes([one[1], one[2]]), 16);
        let three = encode(&tiling_codec(16, 3), &[img.clone()]);
        assert_eq!(
            one, three,
            "{w}x{h}x{channels}: the bytes depend on the threads"
        );
        for threads in [1, 2, 5] {
            let c = tiling_codec(16, threads);
            c.check_chunk(&one, &[shape_of(&img)]).expect("checks");
            let back = decode(&c, &one, &[shape_of(&img)], 0).expect("decodes");
            assert_eq!(
                back,
                vec![img.clone()],
                "{w}x{h}x{channels}, {threads} threads"
            );
        }
        // Within twice the side: one stream, as before.
        let small = image(32, 32, channels, 6, alpha);
        assert_ne!(encode(&tiling_codec(16, 1), &[small])[0], 5);
    }
}

/// Each tile is a chunk of one image of the tile's size: cutting the image by hand and coding the
/// tiles as chunks gives the same bytes, so the tiles are independent of each other.
#[test]
fn tiles_are_independent_chunks() {
    let img = image(40, 37, 3, 8, Alpha::Opaque);
    let tiled = encode(&tiling_codec(16, 2), &[img.clone()]);
    let plain = tiling_codec(10_000, 1);
    let mut want = vec![5u8, 16, 0];
    for t in bsar::codec::tiles::tiles(40, 37, 16) {
        let tile = Image {
            width: t.width,
            height: t.height,
            channels: 3,
            depth: 8,
            pixels: bsar::codec::tiles::crop(&img.pixels, 40, 3, t),
        };
        let c = encode(&plain, &[tile]);
        want.extend_from_slice(&(c.len() as u32).to_le_bytes());
        want.extend_from_slice(&c);
    }
    assert_eq!(tiled, want);
}

/// Damage to a tiled chunk is refused with an error, never a panic or a wrong image: every
/// truncation, a flipped bit in every byte of the tile table's first entry and header, a side
/// out of range, a chunk of two images, a shape that needs no tiles at the chunk's side.
#[test]
fn damaged_tiled_chunks_are_refused() {
    let img = image(40, 20, 3, 6, Alpha::Opaque);
    let shapes = [shape_of(&img)];
    let c = tiling_codec(16, 2);
    let good = encode(&c, &[img.clone()]);
    for cut in 0..good.len() {
        assert!(
            c.decode_chunk(&good[..cut], &shapes, 0).is_err(),
            "cut at {cut}"
        );
        assert!(
            c.check_chunk(&good[..cut], &shapes).is_err(),
            "cut at {cut}"
        );
    }
    for at in 1..7 {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[at] ^= 1 << bit;
            if let Ok(out) = decode(&c, &bad, &shapes, 0) {
                panic!("byte {at} bit {bit}: decoded {} images", out.len());
            }
        }
    }
    let mut small_side = good.clone();
    small_side[1..3].copy_from_slice(&8u16.to_le_bytes());
    assert!(c.decode_chunk(&small_side, &shapes, 0).is_err());
    let two = [shapes[0], shapes[0]];
    assert!(c.decode_chunk(&good, &two, 0).is_err());
    let untiled_shape = [ItemShape::Image {
        width: 16,
        height: 16,
        channels: 3,
        depth: 8,
    }];
    assert!(c.decode_chunk(&good, &untiled_shape, 0).is_err());
}

/// The fast level's codec (`Level::Fast`: the context code of version 3 at most) writes every
/// chunk as version 3, where the default writes version 4 for images the models do not know;
/// both decode to the images, and the fast one's tiles are version 3 too.
#[test]
fn the_fast_level_writes_version_3_chunks() {
    use bsar::codec::Level;
    let images = vec![
        image(24, 20, 3, 6, Alpha::Opaque),
        image(20, 16, 1, 8, Alpha::Opaque),
    ];
    let shapes: Vec<ItemShape> = images.iter().map(shape_of).collect();
    let make = |level: Level| {
        BitswapCodec::new(
            vec![tiny_rgb(), tiny_grey()],
            Scheme::BitSwap,
            DEFAULT_PRECISIONS,
        )
        .with_context(level.newest_context())
    };
    let fast = encode(&make(Level::Fast), &images);
    let default = encode(&make(Level::Default), &images);
    assert_eq!((fast[0], default[0]), (3, 4));
    for chunk in [&fast, &default] {
        assert_eq!(
            decode(&make(Level::Default), chunk, &shapes, 1).unwrap(),
            images
        );
    }
    let big = image(40, 20, 3, 6, Alpha::Opaque);
    let tiled = encode(&make(Level::Fast).with_tile_side(16), &[big.clone()]);
    let parsed = bsar::codec::tiles::parse(&tiled, 40, 20).unwrap();
    assert!(parsed.tiles.iter().all(|(_, c)| c[0] == 3));
    assert_eq!(
        decode(&make(Level::Fast), &tiled, &[shape_of(&big)], 0).unwrap(),
        vec![big]
    );
}
