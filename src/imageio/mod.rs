//! Image files as bsar codes them: decoded rasters (a byte a sample) plus the bytes around them.
//!
//! bsar stores an image member as its pixels (coded by the image codec) and a small "wrapper":
//! whatever else the file holds that a user would miss. On extraction:
//! - PNM files (P5, P6, maxval 255) come back byte for byte: the wrapper is the header and any
//!   trailing bytes, verbatim;
//! - PNG files come back byte for byte by default (`decode_exact`, `png_exact`): the wrapper keeps
//!   the chunks around the image data verbatim and records how to redo the image data from the
//!   pixels (row filters and deflate reconstruction), with the file's CRC-32;
//! - with `--pixels-only` (`decode`), PNG files of 8-bit grey, grey+alpha, RGB or RGBA samples
//!   come back pixel-identical, not byte-identical: the wrapper keeps every chunk other than IHDR,
//!   IDAT and IEND verbatim (text, colour profiles, gamma, ...), and the image data are
//!   re-encoded, non-interlaced;
//! - palette and 1, 2 or 4-bit grey PNGs are rasters of one channel (the grey level, or the
//!   palette index numbered by brightness, `png_file::palette_order`), always byte-exact.
//!
//! Anything else (16-bit samples, animations, other formats, malformed files) is not an image to
//! bsar, and is stored as plain bytes by the caller.

pub mod deflate;
mod jpeg_file;
mod png_exact;
mod png_file;
mod png_filter;
mod pnm_file;

pub use deflate::Rezip;
pub use png_exact::PngExact;

use std::fmt;

/// A raster of one byte a sample (two, big-endian, for 16-bit files), samples interleaved, rows
/// top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    /// 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    /// Bits a sample takes in `pixels`: 8 or 16.
    pub depth: u8,
    pub pixels: Vec<u8>,
}

/// Width, height, samples per pixel and their depth as an image file's header states them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// 1 grey (and palette indices), 2 grey+alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    /// Bits a sample takes in the raster: 16 for 16-bit PNGs and PNMs of maxval above 255, else 8.
    pub depth: u8,
}

impl Header {
    /// `width * height * channels`, which cannot overflow a u64.
    pub fn samples(&self) -> u64 {
        self.width as u64 * self.height as u64 * self.channels as u64
    }

    /// The raster's length in bytes: `samples()` of one byte, or two at depth 16.
    pub fn pixel_bytes(&self) -> u64 {
        self.samples() * crate::codec::sample_bytes(self.depth)
    }
}

/// The file format of an image member and the bytes needed to rebuild the file around its pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrapper {
    /// PNG: chunks before the first IDAT and after the last, each as stored (length, type,
    /// data, CRC), excluding IHDR and IEND; and the original file's length, for listings
    /// (`None` in archives written before format 1.1).
    Png {
        before: Vec<u8>,
        after: Vec<u8>,
        file_len: Option<u64>,
    },
    /// PNG, byte for byte: the record that rebuilds the file from its pixels.
    PngExact(Box<PngExact>),
    /// PNM: header bytes up to the raster, and bytes after it.
    Pnm { header: Vec<u8>, trailer: Vec<u8> },
}

#[derive(Debug)]
pub struct WrapperError(pub String);

impl fmt::Display for WrapperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WrapperError {}

/// Largest raster bsar accepts as an image (samples); bigger files are stored as bytes.
pub const MAX_SAMPLES: u64 = 1 << 30;

/// The geometry an 8-bit PNG or binary PNM file's header states (palette PNGs count as RGB), or
/// `None` for anything else. For listings of files stored as bytes; a file stored as pixels takes
/// its geometry from its decoded raster.
pub fn probe(bytes: &[u8]) -> Option<Header> {
    png_file::ihdr(bytes)
        .map(|(g, _)| g)
        .or_else(|| pnm_file::header(bytes).map(|(g, _)| g))
}

/// Whether a file that starts with `head` looks like a JPEG file, which bsar stores as bytes
/// recompressed by its JPEG codec (which has the last word).
pub fn looks_jpeg(head: &[u8]) -> bool {
    jpeg_file::looks_jpeg(head)
}

/// How faithfully an image member comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fidelity {
    /// Byte for byte (the default): an image bsar cannot rebuild exactly is stored as bytes.
    Bytes,
    /// Pixel-identical (`--pixels-only`): PNG files are re-encoded around their pixels.
    Pixels,
}

/// Decodes `bytes` for storage as pixels with the given fidelity; `None` stores them as bytes.
pub fn decode_for(bytes: &[u8], fidelity: Fidelity) -> Option<(Raster, Wrapper)> {
    match fidelity {
        Fidelity::Bytes => decode_exact(bytes),
        Fidelity::Pixels => decode(bytes),
    }
}

/// Whether a file that starts with `head` (its first bytes, 512 are plenty) looks like an image
/// bsar can store as pixels. Cheap; `decode` has the last word.
pub fn looks_storable(head: &[u8]) -> bool {
    if head.starts_with(png_file::SIGNATURE) {
        png_file::ihdr(head).is_some_and(|(_, samples)| samples.is_some())
    } else {
        pnm_file::header(head).is_some()
    }
}

/// Decodes `bytes` if they are an image bsar can store as pixels; `None` otherwise. A PNG whose
/// samples are not 8-bit grey, grey+alpha, RGB or RGBA (palette and 1, 2 or 4-bit grey images)
/// comes back byte-exact or not at all: a pixels-only wrapper re-encodes only direct 8-bit samples.
pub fn decode(bytes: &[u8]) -> Option<(Raster, Wrapper)> {
    if bytes.starts_with(png_file::SIGNATURE) {
        let (raster, samples, wrapper) = png_file::decode(bytes)?;
        match samples.direct() {
            true => Some((raster, wrapper)),
            false => exact_png(bytes, raster),
        }
    } else if bytes.starts_with(b"P5") || bytes.starts_with(b"P6") {
        pnm_file::decode(bytes)
    } else {
        None
    }
}

/// Decodes `bytes` if they are an image bsar can store as pixels and give back byte for byte;
/// `None` otherwise (the caller stores the file as bytes). PNM files are always byte-exact; a
/// PNG file is when `PngExact::capture` can rebuild it, which it checks.
pub fn decode_exact(bytes: &[u8]) -> Option<(Raster, Wrapper)> {
    if bytes.starts_with(png_file::SIGNATURE) {
        let (raster, _, _) = png_file::decode(bytes)?;
        exact_png(bytes, raster)
    } else {
        decode(bytes)
    }
}

fn exact_png(bytes: &[u8], raster: Raster) -> Option<(Raster, Wrapper)> {
    let exact = PngExact::capture(bytes, &raster)?;
    Some((raster, Wrapper::PngExact(Box::new(exact))))
}

/// Rebuilds the file for `raster` inside `wrapper`.
pub fn encode(raster: &Raster, wrapper: &Wrapper) -> Result<Vec<u8>, WrapperError> {
    match wrapper {
        Wrapper::Png { before, after, .. } => png_file::encode(raster, before, after),
        Wrapper::PngExact(exact) => exact.rebuild(raster),
        Wrapper::Pnm { header, trailer } => Ok(pnm_file::encode(raster, header, trailer)),
    }
}

/// Rebuilds an image file from a member's serialised wrapper and its decoded pixels: what
/// extraction writes for a member stored as pixels (spec/format.md 4.5).
pub fn rebuild(wrapper: &[u8], header: Header, pixels: Vec<u8>) -> Result<Vec<u8>, WrapperError> {
    let wrapper = Wrapper::from_bytes(wrapper)?;
    if pixels.len() as u64 != header.pixel_bytes() {
        return Err(WrapperError(
            "the pixels do not match the image's geometry".into(),
        ));
    }
    let raster = Raster {
        width: header.width,
        height: header.height,
        channels: header.channels,
        depth: header.depth,
        pixels,
    };
    encode(&raster, &wrapper)
}

/// Turns `pixels`, a raster as bsar codes it inside `wrapper`, into the samples its file holds:
/// a palette PNG's indices instead of their ranks (`png_file::palette_order`); other images are
/// their raster already. What a reader that hands pixels to users (Python) gives them.
pub fn file_samples(wrapper: &Wrapper, pixels: &mut [u8]) {
    let Wrapper::PngExact(exact) = wrapper else {
        return;
    };
    let palette = png_file::ihdr(&exact.head)
        .and_then(|(_, s)| s)
        .is_some_and(|s| s.palette);
    if let Some(plte) = palette
        .then(|| png_file::chunk_data(&exact.head, b"PLTE"))
        .flatten()
    {
        let order = png_file::palette_order(plte);
        pixels.iter_mut().for_each(|v| *v = order[*v as usize]);
    }
}

/// The most memory `rebuild(wrapper, header, pixels)` may hold allocated at once, beyond the
/// pixels it is given (spec/format.md 6.3): 24 bytes for each byte of the rows filtered for
/// deflate (a byte a sample, one a row): the filtered rows, the zlib stream and the file rebuilt
/// around it, and preflate-rs' hash chains and corrections, which measured 9.8 bytes a byte on
/// an 18-megasample zopfli PNG; 4 bytes a byte of the wrapper (parsed, and the corrections it
/// carries expanded); and 64 MiB for the deflate replay's and preflate-rs' fixed tables.
pub fn rebuild_budget(wrapper_len: u64, header: Header) -> u64 {
    let rows = header
        .pixel_bytes()
        .saturating_add(u64::from(header.height));
    rows.saturating_mul(24)
        .saturating_add(wrapper_len.saturating_mul(4))
        .saturating_add(REBUILD_TABLES)
}

/// The fixed part of `rebuild_budget`: tables a rebuild frees when it returns.
pub const REBUILD_TABLES: u64 = 64 << 20;

/// Whether a serialised wrapper checks the file it rebuilds against the original's CRC-32
/// (kind 4, byte-exact PNG): such a member's pixels need no CRC of their own, since damaged pixels
/// cannot rebuild a file with the recorded CRC (spec/format.md 4.5.1, 4.8). Reads only the kind
/// byte; a damaged record fails when it is parsed.
pub fn wrapper_checks_file(wrapper: &[u8]) -> bool {
    wrapper.first() == Some(&KIND_PNG_EXACT)
}

/// Wrapper kinds as serialised (spec/format.md 4.5).
const KIND_PNG_V1: u8 = 1;
const KIND_PNM: u8 = 2;
const KIND_PNG: u8 = 3;
const KIND_PNG_EXACT: u8 = 4;

impl Wrapper {
    /// Whether extraction gives back the original bytes (true) or only the original pixels.
    pub fn byte_exact(&self) -> bool {
        matches!(self, Wrapper::Pnm { .. } | Wrapper::PngExact(_))
    }

    pub fn format_name(&self) -> &'static str {
        match self {
            Wrapper::Png { .. } | Wrapper::PngExact(_) => "png",
            Wrapper::Pnm { .. } => "pnm",
        }
    }

    /// The original file's length, given the length of its pixels; `None` where the archive
    /// did not record it (PNG members of format 1.0 archives).
    pub fn file_len(&self, pixels: u64) -> Option<u64> {
        match self {
            Wrapper::Png { file_len, .. } => *file_len,
            Wrapper::PngExact(exact) => exact.file_len(),
            Wrapper::Pnm { header, trailer } => {
                Some(pixels + header.len() as u64 + trailer.len() as u64)
            }
        }
    }

    /// Serialises as: kind byte (2 PNM, 3 PNG, 4 byte-exact PNG); for kind 4 the record of
    /// `PngExact::write`; otherwise, for PNG the file length (u64 LE), then two parts, each a u32
    /// LE length and its bytes. (Kind 1, PNG without the file length, is read only.)
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let (a, b) = match self {
            Wrapper::PngExact(exact) => {
                out.push(KIND_PNG_EXACT);
                exact.write(&mut out);
                return out;
            }
            Wrapper::Png {
                before,
                after,
                file_len,
            } => {
                match file_len {
                    Some(n) => {
                        out.push(KIND_PNG);
                        out.extend_from_slice(&n.to_le_bytes());
                    }
                    None => out.push(KIND_PNG_V1),
                }
                (before, after)
            }
            Wrapper::Pnm { header, trailer } => {
                out.push(KIND_PNM);
                (header, trailer)
            }
        };
        for part in [a, b] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Wrapper, WrapperError> {
        let bad = |why: &str| WrapperError(format!("image wrapper: {why}"));
        let (&kind, mut rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        let file_len = match kind {
            KIND_PNG_EXACT => {
                let mut r = png_exact::Reader::new(rest);
                let exact = PngExact::read(&mut r)?;
                if r.left() != 0 {
                    return Err(bad("trailing bytes"));
                }
                return Ok(Wrapper::PngExact(Box::new(exact)));
            }
            KIND_PNG => {
                let (n, r) = rest
                    .split_first_chunk::<8>()
                    .ok_or_else(|| bad("truncated"))?;
                rest = r;
                Some(u64::from_le_bytes(*n))
            }
            KIND_PNG_V1 | KIND_PNM => None,
            k => return Err(bad(&format!("unknown kind {k}"))),
        };
        let mut parts = Vec::with_capacity(2);
        for _ in 0..2 {
            let (n, r) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| bad("truncated"))?;
            let n = u32::from_le_bytes(*n) as usize;
            if r.len() < n {
                return Err(bad("truncated"));
            }
            parts.push(r[..n].to_vec());
            rest = &r[n..];
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let b = parts.pop().unwrap();
        let a = parts.pop().unwrap();
        Ok(match kind {
            KIND_PNM => Wrapper::Pnm {
                header: a,
                trailer: b,
            },
            _ => Wrapper::Png {
                before: a,
                after: b,
                file_len,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(w: u32, h: u32, c: u8) -> Raster {
        let n = (w * h * c as u32) as usize;
        Raster {
            width: w,
            height: h,
            channels: c,
            depth: 8,
            pixels: (0..n).map(|i| (i * 37 % 256) as u8).collect(),
        }
    }

    #[test]
    fn pnm_round_trips_byte_exact() {
        for (magic, c) in [("P5", 1u8), ("P6", 3u8)] {
            let r = raster(7, 5, c);
            let mut file = format!("{magic}\n# a comment\n7 5\n255\n").into_bytes();
            file.extend_from_slice(&r.pixels);
            file.extend_from_slice(b"trailing");
            let (got, wrapper) = decode(&file).expect("pnm decodes");
            assert_eq!(got, r);
            assert!(wrapper.byte_exact());
            let w2 = Wrapper::from_bytes(&wrapper.to_bytes()).unwrap();
            assert_eq!(encode(&got, &w2).unwrap(), file);
        }
    }

    #[test]
    fn png_round_trips_pixels_and_keeps_text() {
        for c in 1..=4u8 {
            let r = raster(13, 9, c);
            let color = png_file::color_type(c).unwrap();
            let mut file = Vec::new();
            {
                let mut enc = png::Encoder::new(&mut file, 13, 9);
                enc.set_color(color);
                enc.set_depth(png::BitDepth::Eight);
                enc.add_text_chunk("Comment".into(), "kept".into()).unwrap();
                let mut w = enc.write_header().unwrap();
                w.write_image_data(&r.pixels).unwrap();
            }
            let (got, wrapper) = decode(&file).expect("png decodes");
            assert_eq!(got, r);
            let again = encode(&got, &wrapper).unwrap();
            let (got2, wrapper2) = decode(&again).unwrap();
            assert_eq!(got2, r);
            let chunks = |w: &Wrapper| match w {
                Wrapper::Png { before, after, .. } => (before.clone(), after.clone()),
                _ => panic!("a PNG wrapper"),
            };
            assert_eq!(
                chunks(&wrapper2),
                chunks(&wrapper),
                "ancillary chunks survive"
            );
            assert_eq!(wrapper.file_len(0), Some(file.len() as u64));
            let w2 = Wrapper::from_bytes(&wrapper.to_bytes()).unwrap();
            assert_eq!(w2, wrapper);
            assert!(again.windows(4).any(|w| w == b"tEXt"));
        }
    }

    #[test]
    fn non_images_and_unsupported_pngs_are_refused() {
        assert!(decode(b"hello").is_none());
        let (r, _) = decode(b"P6\n1 1\n65535\n\x12\x34\0\0\xff\xff").expect("16-bit PNM");
        assert_eq!(
            (r.depth, r.pixels),
            (16, vec![0x12, 0x34, 0, 0, 0xff, 0xff])
        );
        let (r, _) = decode(b"P5\n1 1\n200\n\x07").expect("8-bit PNM of maxval 200");
        assert_eq!((r.depth, r.pixels), (8, vec![7]));
        assert!(decode(b"P5\n1 1\n0\n\0").is_none(), "maxval 0");
        assert!(decode(b"P5\n1 1\n65536\n\0\0").is_none(), "maxval 65536");
        assert!(
            decode(b"P5\n1 1\n256\n\0").is_none(),
            "truncated 16-bit PNM"
        );
        assert!(decode(b"P5\n2 2\n255\n\0").is_none(), "truncated PNM");
        let mut file = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut file, 2, 2);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Sixteen);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&(0..24).collect::<Vec<u8>>()).unwrap();
        }
        // A 16-bit PNG decodes byte-exact only: a pixels-only wrapper re-encodes 8-bit samples.
        let (r, w) = decode(&file).expect("16-bit PNG");
        assert_eq!((r.depth, r.pixels.len()), (16, 24));
        assert!(w.byte_exact());
        assert_eq!(encode(&r, &w).unwrap(), file);
        assert!(decode(&file[..file.len() - 5]).is_none(), "truncated PNG");
        assert!(Wrapper::from_bytes(&[1, 9, 0, 0, 0]).is_err());
        assert!(
            Wrapper::from_bytes(&[3, 0, 0, 0]).is_err(),
            "short file length"
        );
    }

    /// A PNG chunk: length, type, data, CRC.
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let crc = crc32fast::hash(&c[4..]);
        c.extend_from_slice(&crc.to_be_bytes());
        c
    }

    /// A PNG of `samples` (one a byte; indices for a palette image) at `bits` per sample. Not
    /// interlaced, the png crate writes it; interlaced (which the crate cannot write), it is
    /// put together here: Adam7 passes of unfiltered rows, deflated by zlib.
    fn small_depth_png(
        w: u32,
        h: u32,
        colour: png::ColorType,
        bits: u8,
        interlaced: bool,
        samples: &[u8],
    ) -> Vec<u8> {
        let pack = |row: &[u8]| {
            let per_byte = 8 / bits as usize;
            let mut out = vec![0u8; row.len().div_ceil(per_byte)];
            for (x, &v) in row.iter().enumerate() {
                out[x / per_byte] |= v << (8 - bits as usize * (x % per_byte + 1));
            }
            out
        };
        // Darkest last: the raster's order of brightness is not the file's.
        let n = 1usize << bits;
        let palette: Vec<u8> = (0..n)
            .flat_map(|i| {
                let v = (255 - i * 255 / (n - 1).max(1)) as u8;
                [v, v / 2, 255 - v]
            })
            .collect();
        if !interlaced {
            let packed: Vec<u8> = samples.chunks(w as usize).flat_map(pack).collect();
            let mut file = Vec::new();
            let mut enc = png::Encoder::new(&mut file, w, h);
            enc.set_color(colour);
            enc.set_depth(png::BitDepth::from_u8(bits).unwrap());
            if colour == png::ColorType::Indexed {
                enc.set_palette(palette);
            }
            let mut wr = enc.write_header().unwrap();
            wr.write_image_data(&packed).unwrap();
            wr.finish().unwrap();
            return file;
        }
        let adam7 = [
            (0, 8, 0, 8),
            (4, 8, 0, 8),
            (0, 4, 4, 8),
            (2, 4, 0, 4),
            (0, 2, 2, 4),
            (1, 2, 0, 2),
            (0, 1, 1, 2),
        ];
        let mut rows = Vec::new();
        for (x0, dx, y0, dy) in adam7 {
            if x0 >= w {
                continue;
            }
            for y in (y0..h).step_by(dy as usize) {
                let line: Vec<u8> = (x0..w)
                    .step_by(dx as usize)
                    .map(|x| samples[(y * w + x) as usize])
                    .collect();
                rows.push(0u8);
                rows.extend(pack(&line));
            }
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &rows).unwrap();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[bits, colour as u8, 0, 0, 1]);
        let mut file = png_file::SIGNATURE.to_vec();
        file.extend(chunk(b"IHDR", &ihdr));
        if colour == png::ColorType::Indexed {
            file.extend(chunk(b"PLTE", &palette));
        }
        file.extend(chunk(b"IDAT", &z.finish().unwrap()));
        file.extend(chunk(b"IEND", b""));
        file
    }

    #[test]
    fn palette_and_sub_8_bit_pngs_are_pixels_and_come_back_byte_for_byte() {
        let (w, h) = (13u32, 7u32);
        for colour in [png::ColorType::Indexed, png::ColorType::Grayscale] {
            for bits in [1u8, 2, 4, 8] {
                if colour == png::ColorType::Grayscale && bits == 8 {
                    continue;
                }
                for interlaced in [false, true] {
                    let top = (1u32 << bits) - 1;
                    let samples: Vec<u8> = (0..w * h)
                        .map(|i| ((i * 5 + i / 3) % (top + 1)) as u8)
                        .collect();
                    let file = small_depth_png(w, h, colour, bits, interlaced, &samples);
                    let what = format!("{colour:?} {bits}-bit interlaced {interlaced}");
                    let (raster, wrapper) = decode_exact(&file).expect(&what);
                    assert_eq!((raster.width, raster.height, raster.channels), (w, h, 1));
                    assert!(raster.pixels.iter().all(|&v| u32::from(v) <= top), "{what}");
                    if colour == png::ColorType::Grayscale {
                        assert_eq!(raster.pixels, samples, "{what}: grey levels as they are");
                    } else {
                        // The palette runs from bright to dark: ranks turn the indices round.
                        let ranks: Vec<u8> = samples.iter().map(|&i| top as u8 - i).collect();
                        assert_eq!(raster.pixels, ranks, "{what}: indices by brightness");
                    }
                    let stored = Wrapper::from_bytes(&wrapper.to_bytes()).unwrap();
                    assert_eq!(encode(&raster, &stored).unwrap(), file, "{what}");
                    // Pixels only cannot re-encode such samples: the record is byte-exact.
                    let (r2, w2) = decode(&file).expect(&what);
                    assert_eq!(r2, raster);
                    assert!(w2.byte_exact(), "{what}");
                    assert!(looks_storable(&file));
                    let mut back = raster.pixels.clone();
                    file_samples(&stored, &mut back);
                    assert_eq!(back, samples, "{what}: the file's samples");
                    // A damaged sample fails the rebuild instead of giving another file.
                    let mut bad = raster.clone();
                    bad.pixels[3] ^= 1;
                    assert!(encode(&bad, &stored).is_err(), "{what}");
                    if bits < 8 {
                        bad.pixels[3] = 1 << bits;
                        assert!(encode(&bad, &stored).is_err(), "{what}: too many bits");
                    }
                }
            }
        }
    }

    #[test]
    fn padding_bits_that_are_not_zero_keep_a_png_out_of_pixels() {
        // A 1-bit grey image 3 pixels wide: each row is one byte, 5 bits of it padding.
        let rows: Vec<u8> = [0b1010_0001u8, 0b0100_0000]
            .iter()
            .flat_map(|&b| [0, b])
            .collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &rows).unwrap();
        let idat = z.finish().unwrap();
        let mut ihdr = 3u32.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&2u32.to_be_bytes());
        ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
        let file = [
            png_file::SIGNATURE.to_vec(),
            chunk(b"IHDR", &ihdr),
            chunk(b"IDAT", &idat),
            chunk(b"IEND", b""),
        ]
        .concat();
        let (raster, _, _) = png_file::decode(&file).expect("the png crate reads it");
        assert_eq!(raster.pixels, vec![1, 0, 1, 0, 1, 0]);
        assert!(
            decode_exact(&file).is_none(),
            "the padding cannot be rebuilt"
        );
    }

    #[test]
    fn the_palette_order_is_a_permutation_whatever_the_palette() {
        for plte in [
            &[][..],
            &[9, 9, 9][..],
            &[255, 0, 0, 0, 0, 0, 0, 255, 0, 1][..],
        ] {
            let order = png_file::palette_order(plte);
            let mut seen = [false; 256];
            order.iter().for_each(|&i| seen[i as usize] = true);
            assert!(seen.iter().all(|&s| s), "{plte:?}");
        }
        // Red (luma 299 x 255) is darker than green (587 x 255), black darkest; equal colours
        // keep their order; indices past the palette stand for themselves.
        let order = png_file::palette_order(&[255, 0, 0, 0, 255, 0, 0, 0, 0, 0, 255, 0]);
        assert_eq!(&order[..5], &[2, 0, 1, 3, 4]);
    }

    #[test]
    fn format_1_0_png_wrappers_still_read() {
        // Kind 1: no file length; what archives of format 1.0 hold.
        let old = [1u8, 1, 0, 0, 0, 7, 0, 0, 0, 0];
        let w = Wrapper::from_bytes(&old).unwrap();
        assert_eq!(
            w,
            Wrapper::Png {
                before: vec![7],
                after: vec![],
                file_len: None
            }
        );
        assert_eq!(w.file_len(100), None);
        assert_eq!(w.to_bytes(), old);
    }

    #[test]
    fn probe_agrees_with_decode() {
        for (file, want) in [
            (&b"P5\x0b2 2\n255\n\x01\x02\x03\x04"[..], Some((2, 2, 1))),
            (&b"P5\n# c\r2 1\n255\n\x01\x02"[..], Some((2, 1, 1))),
            (&b"P6\n4294967296 4294967296\n255\n"[..], None),
        ] {
            let p = probe(file).map(|g| (g.width, g.height, g.channels));
            assert_eq!(p, want);
            let d = decode(file).map(|(r, _)| (r.width, r.height, r.channels));
            assert_eq!(d, want);
        }
    }
}
