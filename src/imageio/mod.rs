//! Image files as bsar codes them: decoded 8-bit rasters plus the bytes around them.
//!
//! bsar stores an image member as its pixels (coded by the image codec) and a small "wrapper":
//! whatever else the file holds that a user would miss. On extraction:
//! - PNM files (P5, P6, maxval 255) come back byte for byte: the wrapper is the header and any
//!   trailing bytes, verbatim;
//! - PNG files come back pixel-identical, not byte-identical: the wrapper keeps every chunk other
//!   than IHDR, IDAT and IEND verbatim (text, colour profiles, gamma, ...), and the image data are
//!   re-encoded, non-interlaced.
//!
//! Anything else (16-bit samples, palettes, animations, other formats, malformed files) is not an
//! image to bsar, and is stored as plain bytes by the caller.

mod png_file;
mod pnm_file;

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

/// The file format of an image member and the bytes needed to rebuild the file around its pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrapper {
    /// PNG: chunks before the first IDAT and after the last, each as stored (length, type,
    /// data, CRC), excluding IHDR and IEND.
    Png { before: Vec<u8>, after: Vec<u8> },
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

/// Whether a file that starts with `head` (its first bytes, 512 are plenty) looks like an image
/// bsar can store as pixels. Cheap; `decode` has the last word.
pub fn looks_storable(head: &[u8]) -> bool {
    if head.starts_with(png_file::SIGNATURE) {
        // IHDR comes first: bit depth at byte 24, colour type at byte 25.
        head.get(12..16) == Some(b"IHDR")
            && head.get(24) == Some(&8)
            && matches!(head.get(25), Some(0 | 2 | 4 | 6))
    } else {
        (head.starts_with(b"P5") || head.starts_with(b"P6")) && pnm_file::header_ok(head)
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

/// Rebuilds the file for `raster` inside `wrapper`.
pub fn encode(raster: &Raster, wrapper: &Wrapper) -> Result<Vec<u8>, WrapperError> {
    match wrapper {
        Wrapper::Png { before, after } => png_file::encode(raster, before, after),
        Wrapper::Pnm { header, trailer } => Ok(pnm_file::encode(raster, header, trailer)),
    }
}

impl Wrapper {
    /// Whether extraction gives back the original bytes (true) or only the original pixels.
    pub fn byte_exact(&self) -> bool {
        matches!(self, Wrapper::Pnm { .. })
    }

    pub fn format_name(&self) -> &'static str {
        match self {
            Wrapper::Png { .. } => "png",
            Wrapper::Pnm { .. } => "pnm",
        }
    }

    /// Serialises as: kind byte (1 PNG, 2 PNM), u32 LE length + bytes, u32 LE length + bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (kind, a, b) = match self {
            Wrapper::Png { before, after } => (1u8, before, after),
            Wrapper::Pnm { header, trailer } => (2u8, header, trailer),
        };
        let mut out = Vec::with_capacity(9 + a.len() + b.len());
        out.push(kind);
        for part in [a, b] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Wrapper, WrapperError> {
        let bad = |why: &str| WrapperError(format!("image wrapper: {why}"));
        let (&kind, mut rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        let mut parts = Vec::with_capacity(2);
        for _ in 0..2 {
            if rest.len() < 4 {
                return Err(bad("truncated"));
            }
            let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            rest = &rest[4..];
            if rest.len() < n {
                return Err(bad("truncated"));
            }
            parts.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let b = parts.pop().unwrap();
        let a = parts.pop().unwrap();
        match kind {
            1 => Ok(Wrapper::Png {
                before: a,
                after: b,
            }),
            2 => Ok(Wrapper::Pnm {
                header: a,
                trailer: b,
            }),
            k => Err(bad(&format!("unknown kind {k}"))),
        }
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
            assert_eq!(wrapper2, wrapper, "ancillary chunks survive");
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
    }
}
