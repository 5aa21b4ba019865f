use super::*;

/// A label map: `k` values in vertical bands with a wandering border, and some noise.
fn labels(w: usize, h: usize, k: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let band = (x + y / 3) * k / (w + h / 3 + 1);
            let v = if rnd() % 50 == 0 {
                rnd() as usize % k
            } else {
                band
            };
            out.push((v * 7 % 256) as u8);
        }
    }
    out
}

fn round_trip(images: &[Levels]) -> usize {
    let refs: Vec<&Levels> = images.iter().collect();
    let block = encode(&refs);
    let shapes: Vec<Shape> = images
        .iter()
        .map(|l| Shape {
            width: l.width,
            height: l.height,
            channels: l.channels,
        })
        .collect();
    let back = decode(&block, &shapes, images.len() - 1).unwrap();
    for (l, b) in images.iter().zip(&back) {
        assert_eq!(&l.samples(), b);
    }
    block.len()
}

#[test]
fn label_maps_binary_and_colour_images_round_trip() {
    let mut images = Vec::new();
    for (i, k) in [1usize, 2, 3, 7, 40, 200].into_iter().enumerate() {
        let px = labels(37, 23, k, i as u64 + 1);
        let l = Levels::of(37, 23, 1, &px).unwrap();
        assert!(l.count() <= k);
        assert_eq!(l.samples(), px);
        images.push(l);
    }
    let rgb: Vec<u8> = labels(19, 11, 5, 9)
        .iter()
        .flat_map(|&v| [v, 255 - v, v / 2])
        .collect();
    images.push(Levels::of(19, 11, 3, &rgb).unwrap());
    images.push(Levels::of(1, 1, 1, &[42]).unwrap());
    round_trip(&images);
    // One image at a time, and the first only.
    for l in &images {
        round_trip(std::slice::from_ref(l));
    }
    let refs: Vec<&Levels> = images.iter().collect();
    let block = encode(&refs);
    let shapes: Vec<Shape> = images
        .iter()
        .map(|l| Shape {
            width: l.width,
            height: l.height,
            channels: l.channels,
        })
        .collect();
    let first = decode(&block, &shapes, 0).unwrap();
    assert_eq!(first, vec![images[0].samples()]);
}

#[test]
fn every_value_once_is_the_most_a_table_holds() {
    let all: Vec<u8> = (0..=255).collect();
    let l = Levels::of(16, 16, 1, &all).unwrap();
    assert_eq!(l.count(), 256);
    round_trip(&[l]);
    let mut more: Vec<u8> = (0..=255).flat_map(|v| [v, 0, 0]).collect();
    more.extend_from_slice(&[0, 0, 1]);
    assert!(Levels::of(257, 1, 3, &more).is_none(), "257 colours");
}

#[test]
fn flat_and_structured_images_cost_little() {
    let flat = Levels::of(64, 64, 1, &[9; 64 * 64]).unwrap();
    assert!(
        round_trip(&[flat]) < 16,
        "one level: the table and an empty message"
    );
    let px = labels(128, 128, 4, 3);
    let l = Levels::of(128, 128, 1, &px).unwrap();
    let bytes = round_trip(&[l.clone()]);
    // 2% noise over 4 levels is about 0.2 bits a pixel; a plain 2 bits a pixel would be 4 KB.
    assert!(bytes < 1200, "{bytes} bytes");
    let est = cost(&mut LevelsModel::default(), &l) >> 16;
    let message = bytes as u64 * 8;
    assert!(
        est <= message && message <= est + 200,
        "cost {est} bits, coded {message}"
    );
}

#[test]
fn the_state_carries_from_image_to_image() {
    let px = labels(64, 64, 3, 5);
    let l = Levels::of(64, 64, 1, &px).unwrap();
    let mut model = LevelsModel::default();
    let first = cost(&mut model, &l);
    let second = cost(&mut model, &l);
    assert!(second < first, "{second} after {first}");
}

#[test]
fn damaged_blocks_are_refused_without_panicking() {
    let px = labels(30, 20, 6, 7);
    let l = Levels::of(30, 20, 1, &px).unwrap();
    let block = encode(&[&l]);
    let shape = [Shape {
        width: 30,
        height: 20,
        channels: 1,
    }];
    for cut in 0..block.len() {
        let _ = decode(&block[..cut], &shape, 0);
    }
    let mut bad = 0;
    for i in 0..block.len() {
        for flip in [1u8, 0x80] {
            let mut b = block.clone();
            b[i] ^= flip;
            match decode(&b, &shape, 0) {
                Ok(out) => assert_ne!(out[0], px, "a damaged block decoding right"),
                Err(_) => bad += 1,
            }
        }
    }
    assert!(bad > block.len(), "most damage is detected: {bad}");
    // An unsorted table and a table of the wrong shape.
    let mut unsorted = block.clone();
    unsorted.swap(1, 2);
    assert!(decode(&unsorted, &shape, 0).is_err());
    let four = [Shape {
        width: 30,
        height: 20,
        channels: 4,
    }];
    assert!(decode(&block, &four, 0).is_err());
}
