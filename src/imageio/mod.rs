//! Image files as bsar codes them: decoded 8-bit rasters plus the bytes around them.
//!
//! bsar stores an image member as its pixels (coded by the image codec) and a small "wrapper":
//! whatever else the file holds that a user would miss. On extraction:
//! - PNM files (P5, P6, maxval 255) come back byte for byte: the wrapper is the header and any
//!   trailing bytes, verbatim;
//! - PNG files come back byte for byte by default (`decode_exact`, `png_exact`): the wrapper keeps
//!   the chunks around the image data verbatim and records how to redo the image data from the
//!   pixels (row filters and deflate reconstruction), with the file's CRC-32;
//! - with `--pixels-only` (`decode`), PNG files come back pixel-identical, not byte-identical: the
//!   wrapper keeps every chunk other than IHDR, IDAT and IEND verbatim (text, colour profiles,
//!   gamma, ...), and the image data are re-encoded, non-interlaced.
//!
//! Anything else (16-bit samples, palettes, animations, other formats, malformed files) is not an
//! image to bsar, and is stored as plain bytes by the caller.

pub mod deflate;
mod jpeg_file;
mod png_exact;
mod png_file;
mod png_filter;
mod pnm_file;

pub use deflate::Rezip;
pub use png_exact::PngExact;

use std::fmt;

/// An 8-bit raster, samples interleaved, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    /// 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    pub channels: u8,
    pub pixels: Vec<u8>,
}

/// Width, height and samples per pixel as an image file's header states them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// 1 grey, 2 grey+alpha, 3 RGB (and palette), 4 RGBA.
    pub channels: u8,
}

impl Header {
    /// `width * height * channels`, which cannot overflow a u64.
    pub fn samples(&self) -> u64 {
        self.width as u64 * self.height as u64 * self.channels as u64
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
        png_file::ihdr(head).is_some_and(|(_, storable)| storable)
    } else {
        pnm_file::header(head).is_some()
    }
}

/// Decodes `bytes` if they are an image bsar can store as pixels; `None` otherwise.
pub fn decode(bytes: &[u8]) -> Option<(Raster, Wrapper)> {
    if bytes.starts_with(png_file::SIGNATURE) {
        png_file::decode(bytes)
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
    let (raster, wrapper) = decode(bytes)?;
    match wrapper {
        Wrapper::Png { .. } => {
            let exact = PngExact::capture(bytes, &raster)?;
            Some((raster, Wrapper::PngExact(Box::new(exact))))
        }
        w => Some((raster, w)),
    }
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
    let raster = Raster {
        width: header.width,
        height: header.height,
        channels: header.channels,
        pixels,
    };
    encode(&raster, &wrapper)
}

/// The most memory `rebuild(wrapper, header, pixels)` may hold allocated at once, beyond the
/// pixels it is given (spec/format.md 6.3): 24 bytes for each byte of the rows filtered for
/// deflate (a byte a sample, one a row): the filtered rows, the zlib stream and the file rebuilt
/// around it, and preflate-rs' hash chains and corrections, which measured 9.8 bytes a byte on
/// an 18-megasample zopfli PNG; 4 bytes a byte of the wrapper (parsed, and the corrections it
/// carries expanded); and 64 MiB for the deflate replay's and preflate-rs' fixed tables.
pub fn rebuild_budget(wrapper_len: u64, header: Header) -> u64 {
    let rows = header.samples().saturating_add(u64::from(header.height));
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
        assert!(
            decode(b"P6\n1 1\n65535\n\0\0\0\0\0\0").is_none(),
            "16-bit PNM"
        );
        assert!(decode(b"P5\n2 2\n255\n\0").is_none(), "truncated PNM");
        let mut file = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut file, 2, 2);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Sixteen);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0u8; 24]).unwrap();
        }
        assert!(decode(&file).is_none(), "16-bit PNG");
        assert!(decode(&file[..file.len() - 5]).is_none(), "truncated PNG");
        assert!(Wrapper::from_bytes(&[1, 9, 0, 0, 0]).is_err());
        assert!(
            Wrapper::from_bytes(&[3, 0, 0, 0]).is_err(),
            "short file length"
        );
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
