//! Recognising 8-bit PNG and binary PGM/PPM files from their first bytes, to record their
//! geometry (width, height, channels) for listings and bits-per-dimension figures.

use crate::archive::Geometry;

/// The geometry of an 8-bit image file, or `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<Geometry> {
    sniff_png(bytes).or_else(|| sniff_pnm(bytes))
}

fn sniff_png(b: &[u8]) -> Option<Geometry> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    // Signature, then the IHDR chunk: length (4), type (4), width, height, depth, colour type.
    if b.len() < 26 || &b[..8] != SIG || &b[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(b[20..24].try_into().ok()?);
    let (depth, colour) = (b[24], b[25]);
    let channels = match (colour, depth) {
        (0, 8) => 1,
        (4, 8) => 2,
        (2, 8) | (3, 1 | 2 | 4 | 8) => 3,
        (6, 8) => 4,
        _ => return None,
    };
    (width > 0 && height > 0).then_some(Geometry {
        width,
        height,
        channels,
    })
}

fn sniff_pnm(b: &[u8]) -> Option<Geometry> {
    let channels = match b.get(..2)? {
        b"P5" => 1,
        b"P6" => 3,
        _ => return None,
    };
    // Three decimal fields (width, height, maxval) separated by whitespace and '#' comments.
    let mut fields = [0u64; 3];
    let mut i = 2;
    for f in fields.iter_mut() {
        loop {
            match *b.get(i)? {
                b'#' => {
                    while *b.get(i)? != b'\n' {
                        i += 1;
                    }
                }
                c if c.is_ascii_whitespace() => i += 1,
                _ => break,
            }
        }
        let start = i;
        while b.get(i)?.is_ascii_digit() {
            *f = f.checked_mul(10)?.checked_add((b[i] - b'0') as u64)?;
            i += 1;
            if i - start > 10 {
                return None;
            }
        }
        if i == start {
            return None;
        }
    }
    let [w, h, maxval] = fields;
    let ok = maxval > 0
        && maxval < 256
        && w > 0
        && h > 0
        && w <= u32::MAX as u64
        && h <= u32::MAX as u64;
    ok.then_some(Geometry {
        width: w as u32,
        height: h as u32,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnm_and_junk() {
        let g = sniff(b"P6\n# c\n3 2\n255\nxxxxxxxxxxxxxxxxxx").unwrap();
        assert_eq!((g.width, g.height, g.channels), (3, 2, 3));
        assert!(sniff(b"P6\n3 2\n65535\n").is_none());
        assert!(sniff(b"hello").is_none());
    }
}
