//! PNG files with 8-bit grey, grey+alpha, RGB or RGBA samples, restored pixel-identical.

use super::{Header, Raster, Wrapper, WrapperError, MAX_SAMPLES};

pub(super) const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The IHDR fields bsar looks at: geometry (palette images count as 3 channels), and whether
/// the samples are 8-bit grey, grey+alpha, RGB or RGBA, which bsar can store as pixels. The only
/// PNG header parser in bsar besides the `png` crate's decoder, which has the last word.
pub(super) fn ihdr(b: &[u8]) -> Option<(Header, bool)> {
    // Signature, then the IHDR chunk: length (4), type (4), width, height, depth, colour type.
    if b.len() < 26 || &b[..8] != SIGNATURE || &b[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(b[20..24].try_into().ok()?);
    let (depth, colour) = (b[24], b[25]);
    let (channels, storable) = match (colour, depth) {
        (0, 8) => (1, true),
        (4, 8) => (2, true),
        (2, 8) => (3, true),
        (3, 1 | 2 | 4 | 8) => (3, false),
        (6, 8) => (4, true),
        _ => return None,
    };
    let g = Header {
        width,
        height,
        channels,
    };
    (width > 0 && height > 0).then_some((g, storable))
}

pub(super) fn color_type(channels: u8) -> Option<png::ColorType> {
    Some(match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        4 => png::ColorType::Rgba,
        _ => return None,
    })
}

/// Splits the chunk stream into the raw chunks before the first IDAT and after the last one,
/// leaving out IHDR, IDAT and IEND. `None` for animated PNGs (more than one image) and damage.
fn ancillary(bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut pos = SIGNATURE.len();
    let mut seen_idat = false;
    loop {
        let len = u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind: [u8; 4] = bytes.get(pos + 4..pos + 8)?.try_into().ok()?;
        let end = pos.checked_add(12)?.checked_add(len)?;
        let raw = bytes.get(pos..end)?;
        match &kind {
            b"IEND" => return Some((before, after)),
            b"acTL" | b"fcTL" | b"fdAT" => return None,
            b"IHDR" => {}
            b"IDAT" => seen_idat = true,
            _ if seen_idat => after.extend_from_slice(raw),
            _ => before.extend_from_slice(raw),
        }
        pos = end;
    }
}

pub(super) fn decode(bytes: &[u8]) -> Option<(Raster, Wrapper)> {
    let (before, after) = ancillary(bytes)?;
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().ok()?;
    let info = reader.info();
    if info.bit_depth != png::BitDepth::Eight {
        return None;
    }
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1u8,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return None,
    };
    let (width, height) = (info.width, info.height);
    if width as u64 * height as u64 * channels as u64 > MAX_SAMPLES {
        return None;
    }
    let file_len = Some(bytes.len() as u64);
    let mut pixels = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).ok()?;
    pixels.truncate(frame.buffer_size());
    if pixels.len() as u64 != width as u64 * height as u64 * channels as u64 {
        return None;
    }
    Some((
        Raster {
            width,
            height,
            channels,
            pixels,
        },
        Wrapper::Png {
            before,
            after,
            file_len,
        },
    ))
}

/// Writes raw chunks as they were stored (their CRCs included).
fn write_raw(out: &mut Vec<u8>, chunks: &[u8]) {
    out.extend_from_slice(chunks);
}

pub(super) fn encode(
    raster: &Raster,
    before: &[u8],
    after: &[u8],
) -> Result<Vec<u8>, WrapperError> {
    let err = |e: png::EncodingError| WrapperError(format!("PNG encoding failed: {e}"));
    let color = color_type(raster.channels)
        .ok_or_else(|| WrapperError(format!("{} channels", raster.channels)))?;
    // Encode the image alone, then splice the kept chunks around its IDAT chunks.
    let mut plain = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut plain, raster.width, raster.height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(&raster.pixels).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    // plain = signature, IHDR (25 bytes), IDAT..., IEND (12 bytes).
    let ihdr_end = SIGNATURE.len() + 25;
    let iend_start = plain.len() - 12;
    let mut out = Vec::with_capacity(plain.len() + before.len() + after.len());
    out.extend_from_slice(&plain[..ihdr_end]);
    write_raw(&mut out, before);
    out.extend_from_slice(&plain[ihdr_end..iend_start]);
    write_raw(&mut out, after);
    out.extend_from_slice(&plain[iend_start..]);
    Ok(out)
}
