//! Binary PNM (P5 grey, P6 RGB), kept byte for byte: one byte a sample for a maxval up to 255,
//! two (big-endian) above it, as Netpbm writes them.

use super::{Header, Raster, Wrapper, MAX_SAMPLES};

/// Whitespace as Netpbm defines it (C's `isspace`): space, tab, LF, VT, FF, CR. Rust's
/// `is_ascii_whitespace` leaves out VT, so it must not be used here.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses the header; returns its geometry and length (the offset of the raster). The only
/// PNM header parser in bsar: probing, decoding and `looks_storable` all come here.
pub(super) fn header(bytes: &[u8]) -> Option<(Header, usize)> {
    let channels: u8 = match bytes.get(..2)? {
        b"P5" => 1,
        b"P6" => 3,
        _ => return None,
    };
    let mut pos = 2;
    let mut fields = [0u64; 3];
    for field in &mut fields {
        // Whitespace and comments may separate the fields; a comment runs to the end of the
        // line, which Netpbm ends at LF or CR.
        loop {
            match *bytes.get(pos)? {
                b if is_space(b) => pos += 1,
                b'#' => {
                    while !matches!(*bytes.get(pos)?, b'\n' | b'\r') {
                        pos += 1;
                    }
                }
                _ => break,
            }
        }
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            *field = field
                .checked_mul(10)?
                .checked_add((bytes[pos] - b'0') as u64)?;
            pos += 1;
            if pos - start > 10 {
                return None;
            }
        }
        if pos == start {
            return None;
        }
    }
    // Exactly one whitespace byte ends the header.
    if !is_space(*bytes.get(pos)?) {
        return None;
    }
    let [w, h, maxval] = fields;
    let w = u32::try_from(w).ok().filter(|&w| w > 0)?;
    let h = u32::try_from(h).ok().filter(|&h| h > 0)?;
    let samples = (w as u64)
        .checked_mul(h as u64)?
        .checked_mul(channels as u64)?;
    if !(1..=65535).contains(&maxval) || samples > MAX_SAMPLES {
        return None;
    }
    let g = Header {
        width: w,
        height: h,
        channels,
        depth: if maxval > 255 { 16 } else { 8 },
    };
    Some((g, pos + 1))
}

pub(super) fn decode(bytes: &[u8]) -> Option<(Raster, Wrapper)> {
    let (g, len) = header(bytes)?;
    let n = usize::try_from(g.pixel_bytes()).ok()?;
    let pixels = bytes.get(len..len.checked_add(n)?)?.to_vec();
    let wrapper = Wrapper::Pnm {
        header: bytes[..len].to_vec(),
        trailer: bytes[len + n..].to_vec(),
    };
    Some((
        Raster {
            width: g.width,
            height: g.height,
            channels: g.channels,
            depth: g.depth,
            pixels,
        },
        wrapper,
    ))
}

pub(super) fn encode(raster: &Raster, header: &[u8], trailer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + raster.pixels.len() + trailer.len());
    out.extend_from_slice(header);
    out.extend_from_slice(&raster.pixels);
    out.extend_from_slice(trailer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netpbm_whitespace_and_comment_ends() {
        // Vertical tab between fields, and a comment ended by CR: both are Netpbm headers.
        let (g, len) = header(b"P5\x0b2 2\n255\n\x01\x02\x03\x04").unwrap();
        assert_eq!((g.width, g.height, g.channels, len), (2, 2, 1, 11));
        let (g, _) = header(b"P5\n# comment\r2 2\n255\n\x01\x02\x03\x04").unwrap();
        assert_eq!((g.width, g.height), (2, 2));
    }

    #[test]
    fn huge_fields_do_not_wrap() {
        // 2^32 x 2^32 wrapped to 0 samples with unchecked arithmetic.
        assert!(header(b"P6\n4294967296 4294967296\n255\n").is_none());
        assert!(header(b"P6\n4294967295 4294967295\n255\n").is_none());
        assert!(header(b"P5\n99999999999 1\n255\n").is_none());
    }
}
