//! Byte for byte by default (issue #11): PNG members come back with their original bytes through
//! deflate reconstruction, JPEG members through Lepton, and whatever bsar cannot rebuild is stored
//! as bytes. All through the real binary, on committed fixtures written by several encoders
//! (tests/fixtures/exact/make.sh) and on PNGs the png crate writes here.

mod common;

use bsar::archive::format::{encode_trailer, Trailer};
use bsar::archive::index::{encode_index, WRITTEN_LAYOUT};
use bsar::archive::Archive;
use common::{assert_same_tree, fails_damaged, ok};
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exact")
}

/// Copies the fixture tree to `root/exact` (with the files' modes, as `assert_same_tree` wants).
fn copy_fixtures(root: &Path) {
    for sub in ["png", "jpeg"] {
        let to = root.join("exact").join(sub);
        fs::create_dir_all(&to).unwrap();
        for e in fs::read_dir(fixtures().join(sub)).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The `list -l` codec column of each file member, by path.
fn codecs(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[f.len() - 1].to_string(), f[5].to_string())
        })
        .collect()
}

fn codec_of<'a>(c: &'a [(String, String)], name: &str) -> &'a str {
    &c.iter()
        .find(|(p, _)| p.ends_with(name))
        .unwrap_or_else(|| panic!("{name} not listed"))
        .1
}

#[test]
fn every_fixture_comes_back_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_fixtures(root);
    ok(root, &["create", "-q", "a.bsar", "exact"]);
    ok(root, &["verify", "-q", "a.bsar"]);
    ok(root, &["extract", "-q", "a.bsar", "-C", "out"]);
    assert_same_tree(&root.join("exact"), &root.join("out/exact"));

    let listing = String::from_utf8(ok(root, &["list", "-l", "a.bsar"]).stdout).unwrap();
    let c = codecs(&listing);
    // Every 8-bit PNG bsar can rebuild is stored as pixels, byte-exact ('+'), whoever wrote it:
    // zlib at every level and strategy (Pillow, libpng, optipng, pngcrush), the png crate's
    // fdeflate, the png crate's miniz (preflate), interlaced, with metadata, with trailing bytes.
    let mut rebuilt = 0;
    for (path, codec) in &c {
        if !path.ends_with(".png") {
            continue;
        }
        assert!(!codec.ends_with('*'), "{path}: pixel-only by default");
        if codec.ends_with('+') {
            rebuilt += 1;
        }
    }
    for name in [
        "libpng-interlaced.png",
        "pillow-metadata.png",
        "trailing-bytes.png",
        "optipng.png",
        "rust-png-best.png",
        "rust-png-fast.png",
        "pillow-level0.png",
        "zopflipng.png",
        "palette.png",
    ] {
        assert_eq!(codec_of(&c, name), "bitswap+", "{name}");
    }
    // A 16-bit image goes to the deep-image codec, byte-exact too.
    assert_eq!(codec_of(&c, "grey16.png"), "deep+");
    let pngs = c.iter().filter(|(p, _)| p.ends_with(".png")).count();
    // Every fixture can be rebuilt; whether it is stored as pixels is then the
    // never-worse-than-zstd rule's call (tiny grey images are not).
    let mut rebuildable = 0;
    for e in fs::read_dir(fixtures().join("png")).unwrap() {
        let p = e.unwrap().path();
        let ok = bsar::imageio::decode_exact(&fs::read(&p).unwrap()).is_some();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        assert!(ok, "{name}");
        rebuildable += ok as usize;
    }
    eprintln!(
        "byte_exact: {rebuildable} of {pngs} PNG fixtures can be rebuilt from pixels, \
         {rebuilt} stored so"
    );
    assert!(listing.contains("+ stored as pixels: the original file is rebuilt byte for byte"));
    // The JPEGs share Lepton chunks (a CMYK or truncated one goes through its zstd frame there).
    for (path, codec) in &c {
        if path.ends_with(".jpg") {
            assert_eq!(codec, "lepton", "{path}");
        }
    }
}

#[test]
fn lepton_makes_the_jpegs_smaller_than_zstd_does() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_fixtures(root);
    ok(root, &["create", "-q", "l.bsar", "exact/jpeg"]);
    ok(
        root,
        &["create", "-q", "--scheme", "zstd", "z.bsar", "exact/png"],
    );
    let input: u64 = fs::read_dir(root.join("exact/jpeg"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let lepton = fs::metadata(root.join("l.bsar")).unwrap().len();
    // zstd gains almost nothing on JPEG data; Lepton a sixth or more even on these small files.
    assert!(
        (lepton as f64) < 0.9 * input as f64,
        "{lepton} bytes for {input} of JPEG"
    );
    ok(root, &["extract", "-q", "l.bsar", "-C", "out"]);
    assert_same_tree(&root.join("exact/jpeg"), &root.join("out/exact/jpeg"));
}

/// PNGs the png crate writes with every compression and filter setting, and sizes from 1x1 up:
/// all byte-exact through the archive.
#[test]
fn png_crate_output_at_every_setting_comes_back_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let d = root.join("d");
    fs::create_dir(&d).unwrap();
    let (mut n, mut rebuildable) = (0, 0);
    for (w, h, ch) in [(1u32, 1u32, 3u8), (17, 5, 1), (40, 30, 3), (33, 20, 4)] {
        let px: Vec<u8> = (0..(w * h * ch as u32) as usize)
            .map(|i| (i % 97 + (i / 41) % 13) as u8)
            .collect();
        for (ci, comp) in [
            png::Compression::Fast,
            png::Compression::Default,
            png::Compression::Best,
        ]
        .into_iter()
        .enumerate()
        {
            for (fi, filter) in [png::FilterType::Sub, png::FilterType::Paeth]
                .into_iter()
                .enumerate()
            {
                let mut out = Vec::new();
                let mut e = png::Encoder::new(&mut out, w, h);
                e.set_color(
                    [
                        png::ColorType::Grayscale,
                        png::ColorType::GrayscaleAlpha,
                        png::ColorType::Rgb,
                        png::ColorType::Rgba,
                    ][ch as usize - 1],
                );
                e.set_compression(comp);
                e.set_filter(filter);
                e.set_adaptive_filter(if fi == 0 {
                    png::AdaptiveFilterType::NonAdaptive
                } else {
                    png::AdaptiveFilterType::Adaptive
                });
                let mut wr = e.write_header().unwrap();
                wr.write_image_data(&px).unwrap();
                wr.finish().unwrap();
                let name = format!("{w}x{h}x{ch}-c{ci}-f{fi}.png");
                if bsar::imageio::decode_exact(&out).is_some() {
                    rebuildable += 1;
                } else {
                    eprintln!("byte_exact: {name} cannot be rebuilt: stored as bytes");
                }
                fs::write(d.join(name), out).unwrap();
                n += 1;
            }
        }
    }
    ok(root, &["create", "-q", "a.bsar", "d"]);
    ok(root, &["extract", "-q", "a.bsar", "-C", "out"]);
    assert_same_tree(&d, &root.join("out/d"));
    // fdeflate (Fast) and miniz (Default, Best) streams all rebuild; whether a file is then
    // stored as pixels is the never-worse-than-zstd rule's call on these synthetic pixels.
    eprintln!("byte_exact: {rebuildable} of {n} png-crate files can be rebuilt from pixels");
    assert_eq!(rebuildable, n);
}

#[test]
fn pixels_only_is_smaller_and_gives_back_the_pixels() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_fixtures(root);
    ok(root, &["create", "-q", "e.bsar", "exact/png"]);
    ok(
        root,
        &["create", "-q", "--pixels-only", "p.bsar", "exact/png"],
    );
    let (e, p) = (
        fs::metadata(root.join("e.bsar")).unwrap().len(),
        fs::metadata(root.join("p.bsar")).unwrap().len(),
    );
    assert!(p <= e, "pixels-only {p} bytes, byte-exact {e}");
    let listing = String::from_utf8(ok(root, &["list", "-l", "p.bsar"]).stdout).unwrap();
    assert!(listing.contains("bitswap*"), "{listing}");
    // A palette PNG is byte-exact or bytes: pixels only cannot re-encode its indices.
    for line in listing.lines().filter(|l| l.contains("bitswap+")) {
        assert!(line.ends_with("palette.png"), "{line}");
    }
    ok(root, &["extract", "-q", "p.bsar", "-C", "out"]);
    for e in fs::read_dir(root.join("exact/png")).unwrap() {
        let p = e.unwrap().path();
        let back = root.join("out/exact/png").join(p.file_name().unwrap());
        let (a, b) = (fs::read(&p).unwrap(), fs::read(&back).unwrap());
        match bsar::imageio::decode(&a) {
            Some((ra, _)) => assert_eq!(ra, bsar::imageio::decode(&b).unwrap().0, "{p:?}"),
            None => assert_eq!(a, b, "{p:?} is stored as bytes"),
        }
    }
}

/// Rewrites the index of the archive at `path` after `edit` changed its members or chunks, with
/// every CRC made right again: damage that only the reconstruction itself can notice.
fn rewrite_index(path: &Path, edit: impl FnOnce(&mut bsar::archive::Index, &mut Vec<u8>)) {
    let mut data = fs::read(path).unwrap();
    let mut index = Archive::parse(&data).unwrap().index;
    let offset = index.chunks.last().map_or(0, |c| c.offset + c.len) as usize;
    edit(&mut index, &mut data);
    for c in &mut index.chunks {
        c.crc = crc32fast::hash(&data[c.offset as usize..(c.offset + c.len) as usize]);
    }
    let packed = bsar::archive::packed::pack_index(&encode_index(
        &index.chunks,
        &index.members,
        WRITTEN_LAYOUT,
    ))
    .unwrap();
    data.truncate(offset);
    let trailer = Trailer {
        index_offset: offset as u64,
        index_len: packed.len() as u64,
        index_crc: crc32fast::hash(&packed),
    };
    data.extend_from_slice(&packed);
    data.extend_from_slice(&encode_trailer(&trailer));
    fs::write(path, data).unwrap();
}

#[test]
fn a_damaged_reconstruction_record_names_the_member() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_fixtures(root);
    ok(root, &["create", "-q", "a.bsar", "exact/png"]);
    let victim = "exact/png/pillow-level9.png";
    rewrite_index(&root.join("a.bsar"), |index, _| {
        let m = index
            .members
            .iter_mut()
            .find(|m| m.path == victim.as_bytes())
            .unwrap();
        // Another zlib level: a record that parses but rebuilds other bytes.
        let mut w = bsar::imageio::Wrapper::from_bytes(&m.wrapper).unwrap();
        let bsar::imageio::Wrapper::PngExact(e) = &mut w else {
            panic!("a byte-exact PNG")
        };
        e.stream.rezip = bsar::imageio::Rezip::Zlib {
            level: 1,
            window_bits: 15,
            mem_level: 8,
            strategy: 0,
        };
        m.wrapper = w.to_bytes();
    });
    let err = fails_damaged(root, &["extract", "a.bsar", "-C", "out"]);
    assert!(err.contains(&format!("member '{victim}'")), "{err}");
    assert!(err.contains("PNG record"), "{err}");
    // The other members are restored, byte for byte.
    let back = fs::read(root.join("out/exact/png/pillow-level6.png")).unwrap();
    assert_eq!(
        back,
        fs::read(fixtures().join("png/pillow-level6.png")).unwrap()
    );
    assert!(!root.join("out").join(victim).exists());
    let err = fails_damaged(root, &["verify", "a.bsar"]);
    assert!(err.contains(victim), "{err}");
}

#[test]
fn a_damaged_lepton_stream_names_the_member() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_fixtures(root);
    fs::remove_dir_all(root.join("exact/png")).unwrap();
    ok(root, &["create", "-q", "-j", "1", "a.bsar", "exact/jpeg"]);
    let good = fs::read(root.join("a.bsar")).unwrap();
    // The chunk (format 2): format byte, the header frame's u32 length and the frame, then the
    // items. Damage the header frame, then (afresh) the first item's Lepton body.
    for in_body in [false, true] {
        fs::write(root.join("a.bsar"), &good).unwrap();
        rewrite_index(&root.join("a.bsar"), |index, data| {
            let c = index.chunks[0].clone();
            let o = c.offset as usize;
            assert_eq!(data[o], 2, "a Lepton chunk of format 2");
            let frame = u32::from_le_bytes(data[o + 1..o + 5].try_into().unwrap()) as usize;
            let at = if in_body {
                o + 5 + frame + 1 + 4 + 300
            } else {
                o + 5 + frame / 2
            };
            data[at] ^= 0x55;
            data[at + 1] ^= 0xaa;
        });
        let err = fails_damaged(root, &["extract", "a.bsar", "-C", "out"]);
        assert!(err.contains("exact/jpeg/"), "{err}");
        assert!(err.contains("Lepton") || err.contains("CRC"), "{err}");
        let _ = fs::remove_dir_all(root.join("out"));
    }
}

/// Files of one size and tables (here Pillow's quality 75 fixture, and the same with comment
/// segments, as an encoder writing metadata would) are coded by Lepton as one stack (spec 6.2)
/// and come back byte for byte; damage to the stack's stream names a member of it.
#[test]
fn jpegs_of_one_size_and_tables_stack_and_come_back_byte_for_byte() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let dir = root.join("set");
    fs::create_dir_all(&dir).unwrap();
    let q75 = fs::read(fixtures().join("jpeg/pillow-q75.jpg")).unwrap();
    fs::write(dir.join("a.jpg"), &q75).unwrap();
    fs::copy(fixtures().join("jpeg/grey.jpg"), dir.join("b.jpg")).unwrap();
    for (name, text) in [
        ("c.jpg", &b"made by a camera"[..]),
        ("d.jpg", b"and another"),
    ] {
        let mut f = q75[..2].to_vec();
        f.extend_from_slice(&[0xFF, 0xFE]);
        f.extend_from_slice(&(text.len() as u16 + 2).to_be_bytes());
        f.extend_from_slice(text);
        f.extend_from_slice(&q75[2..]);
        fs::write(dir.join(name), f).unwrap();
    }
    ok(root, &["create", "-q", "a.bsar", "set"]);
    ok(root, &["verify", "-q", "a.bsar"]);
    ok(root, &["extract", "-q", "a.bsar", "-C", "out"]);
    assert_same_tree(&dir, &root.join("out/set"));
    // The chunk holds a stack: its first file's item (mode 3) follows the header frame.
    let data = fs::read(root.join("a.bsar")).unwrap();
    let index = Archive::parse(&data).unwrap().index;
    let c = &index.chunks[0];
    let o = c.offset as usize;
    let frame = u32::from_le_bytes(data[o + 1..o + 5].try_into().unwrap()) as usize;
    assert_eq!(data[o + 5 + frame], 3, "the first file opens a stack");
    // Damage in the stack's body: the error names a member of the stack.
    rewrite_index(&root.join("a.bsar"), |index, data| {
        let at = index.chunks[0].offset as usize + 5 + frame + 1 + 4 + 500;
        data[at] ^= 0x5a;
    });
    let _ = fs::remove_dir_all(root.join("out"));
    let err = fails_damaged(root, &["extract", "a.bsar", "-C", "out"]);
    assert!(err.contains("set/"), "{err}");
}

/// Format 1.6 keeps no CRC of a byte-exact PNG member's pixels: its record's CRC-32 of the whole
/// file checks them once the file is rebuilt. Any change to the pixels must fail that check, as
/// it failed the pixel CRC before.
#[test]
fn the_file_crc_checks_the_pixels_of_a_member_without_a_crc() {
    use bsar::archive::{check_content, Content, Geometry, Kind, MemberEntry};
    let bytes = fs::read(fixtures().join("png/pillow-grey.png")).unwrap();
    let (raster, wrapper) = bsar::imageio::decode_exact(&bytes).unwrap();
    let wrapper = wrapper.to_bytes();
    assert!(bsar::imageio::wrapper_checks_file(&wrapper));
    let m = MemberEntry {
        path: b"grey.png".to_vec(),
        kind: Kind::File,
        content: Content::Pixels,
        mode: 0o644,
        mtime_sec: 0,
        mtime_nsec: 0,
        size: raster.pixels.len() as u64,
        crc: None,
        chunk: 0,
        position: 0,
        geometry: Geometry {
            width: raster.width,
            height: raster.height,
            channels: raster.channels,
        },
        link: Vec::new(),
        wrapper,
    };
    // The check rebuilds the file, and hands it out so that extraction need not rebuild it.
    assert_eq!(
        check_content(&m, &raster.pixels).unwrap(),
        Some(bytes.clone())
    );
    let mut checked = 0;
    for at in (0..raster.pixels.len()).step_by(97) {
        for flip in [0x01u8, 0x80] {
            let mut bad = raster.pixels.clone();
            bad[at] ^= flip;
            let err = check_content(&m, &bad).unwrap_err().to_string();
            assert!(err.contains("member 'grey.png' is damaged"), "{err}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} damaged copies");
    let err = check_content(&m, &raster.pixels[1..])
        .unwrap_err()
        .to_string();
    assert!(err.contains("size"), "{err}");
}

/// An archive of byte-exact PNGs stores none of their pixel CRCs, and gives every file back.
#[test]
fn byte_exact_png_members_have_no_crc_of_their_own() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    copy_fixtures(root);
    ok(root, &["create", "-q", "a.bsar", "exact"]);
    let data = fs::read(root.join("a.bsar")).unwrap();
    let archive = Archive::parse(&data).unwrap();
    let mut exact = 0;
    for m in archive.members() {
        let checked = bsar::imageio::wrapper_checks_file(&m.wrapper);
        assert_eq!(m.crc.is_none(), checked, "{}", m.shown());
        exact += checked as usize;
    }
    assert!(exact >= 10, "{exact} byte-exact PNG members");
    ok(root, &["verify", "-q", "a.bsar"]);
    ok(root, &["extract", "-q", "a.bsar", "-C", "out"]);
    assert_same_tree(&root.join("exact"), &root.join("out/exact"));
}
