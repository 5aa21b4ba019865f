//! Binary PNM (P5 grey, P6 RGB) with maxval 255, kept byte for byte.

use super::{Raster, Wrapper, MAX_SAMPLES};

/// Parses the header; returns (width, height, channels, header length).
fn header(bytes: &[u8]) -> Option<(u32, u32, u8, usize)> {
    let channels = match &bytes[..2] {
        b"P5" => 1,
        b"P6" => 3,
        _ => return None,
    };
    let mut pos = 2;
    let mut fields = [0u64; 3];
    for field in &mut fields {
        // Whitespace and comments may separate the fields.
        loop {
            match bytes.get(pos)? {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => pos += 1,
                b'#' => {
                    while *bytes.get(pos)? != b'\n' && bytes[pos] != b'\r' {
                        pos += 1;
                    }
                }
                _ => break,
            }
        }
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
            if pos - start > 10 {
                return None;
            }
        }
        if pos == start {
            return None;
        }
        *field = std::str::from_utf8(&bytes[start..pos]).ok()?.parse().ok()?;
    }
    // Exactly one whitespace byte ends the header.
    if !bytes.get(pos)?.is_ascii_whitespace() {
        return None;
    }
    let [w, h, maxval] = fields;
    if maxval != 255 || w == 0 || h == 0 || w * h * channels as u64 > MAX_SAMPLES {
        return None;
    }
    Some((w as u32, h as u32, channels as u8, pos + 1))
}

/// Whether `head` starts with a header bsar takes (the raster may lie beyond `head`).
pub(super) fn header_ok(head: &[u8]) -> bool {
    header(head).is_some()
}

pub(super) fn decode(bytes: &[u8]) -> Option<(Raster, Wrapper)> {
    let (width, height, channels, len) = header(bytes)?;
    let n = width as usize * height as usize * channels as usize;
    let pixels = bytes.get(len..len + n)?.to_vec();
    let wrapper = Wrapper::Pnm {
        header: bytes[..len].to_vec(),
        trailer: bytes[len + n..].to_vec(),
    };
    Some((
        Raster {
            width,
            height,
            channels,
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
