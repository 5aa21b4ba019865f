//! PNG files bsar stores as pixels: their header, their samples as a raster, and (for 8-bit grey,
//! grey+alpha, RGB or RGBA samples) re-encoding them pixel-identical.

use super::{Header, Raster, Wrapper, WrapperError, MAX_SAMPLES};

pub(super) const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// How a PNG's samples become the bytes of a raster, for the PNGs bsar stores as pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Samples {
    /// Samples per pixel of the raster: 1 for grey and for palette indices, 2, 3 or 4.
    pub channels: u8,
    /// Bits per sample in the file: 8 or 16, or 1, 2 or 4 for grey and palette images.
    pub bits: u8,
    /// Palette indices, which the raster holds in the palette's order of brightness
    /// (`palette_order`).
    pub palette: bool,
}

impl Samples {
    /// Whether the raster is the file's 8-bit grey, grey+alpha, RGB or RGBA samples as they are,
    /// which a pixels-only PNG wrapper can re-encode.
    pub fn direct(&self) -> bool {
        self.bits == 8 && !self.palette
    }
}

/// The IHDR fields bsar looks at: geometry (palette images have 1 channel, their indices), and
/// how the samples map to a raster if bsar can store them as pixels: 8-bit grey, grey+alpha,
/// RGB and RGBA; 1, 2 or 4-bit grey; palette images of any depth. The only PNG header parser in
/// bsar besides the `png` crate's decoder, which has the last word.
pub(super) fn ihdr(b: &[u8]) -> Option<(Header, Option<Samples>)> {
    // Signature, then the IHDR chunk: length (4), type (4), width, height, depth, colour type.
    if b.len() < 26 || &b[..8] != SIGNATURE || &b[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(b[20..24].try_into().ok()?);
    let (bits, colour) = (b[24], b[25]);
    let samples = |channels, palette| Samples {
        channels,
        bits,
        palette,
    };
    let (channels, samples) = match (colour, bits) {
        (0, 1 | 2 | 4 | 8 | 16) => (1, Some(samples(1, false))),
        (4, 8 | 16) => (2, Some(samples(2, false))),
        (2, 8 | 16) => (3, Some(samples(3, false))),
        (3, 1 | 2 | 4 | 8) => (1, Some(samples(1, true))),
        (6, 8 | 16) => (4, Some(samples(4, false))),
        _ => return None,
    };
    let g = Header {
        width,
        height,
        channels,
        depth: if bits == 16 { 16 } else { 8 },
    };
    (width > 0 && height > 0).then_some((g, samples))
}

/// The data of the first chunk of type `kind` in `chunks` (a PNG file or its start: the
/// signature, then whole chunks); `None` if there is none before the chunks end or break off.
pub(super) fn chunk_data<'a>(chunks: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut pos = SIGNATURE.len();
    loop {
        let len = u32::from_be_bytes(chunks.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let end = pos.checked_add(12)?.checked_add(len)?;
        if chunks.get(pos + 4..pos + 8)? == kind {
            return chunks.get(pos + 8..end - 4);
        }
        pos = end;
    }
}

/// The file's palette index for each raster value (spec/format.md 4.5.1): the entries of the
/// PLTE chunk `plte` (3 bytes each) in order of `299 R + 587 G + 114 B`, the lower index first
/// on a tie, then the indices the palette lacks, as themselves. A palette image's raster holds
/// each index's rank in this order, so that near values are near colours and the image coder
/// predicts them as it predicts grey levels. A permutation of 0..=255 whatever `plte` holds.
pub(super) fn palette_order(plte: &[u8]) -> [u8; 256] {
    let n = (plte.len() / 3).min(256);
    let mut order: Vec<u8> = (0..n as u16).map(|i| i as u8).collect();
    let luma = |i: u8| {
        let c = &plte[3 * i as usize..3 * i as usize + 3];
        299 * u32::from(c[0]) + 587 * u32::from(c[1]) + 114 * u32::from(c[2])
    };
    // A stable sort: equal colours keep their index order.
    order.sort_by_key(|&i| luma(i));
    let mut out = [0u8; 256];
    for (rank, slot) in out.iter_mut().enumerate() {
        *slot = order.get(rank).copied().unwrap_or(rank as u8);
    }
    out
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

/// Decodes a PNG bsar can store as pixels into its raster (each sample one byte: sub-8-bit samples
/// unpacked, palette indices as their rank in `palette_order`), how the file holds the samples,
/// and the wrapper that re-encodes 8-bit direct samples pixel for pixel (`Samples::direct`; for
/// other samples only a byte-exact record can rebuild the file).
pub(super) fn decode(bytes: &[u8]) -> Option<(Raster, Samples, Wrapper)> {
    let (_, samples) = ihdr(bytes)?;
    let samples = samples?;
    let (before, after) = ancillary(bytes)?;
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().ok()?;
    let info = reader.info();
    // The png crate has the last word on the header: it must agree with `ihdr`.
    let (colour, bits) = (info.color_type, info.bit_depth as u8);
    let agrees = bits == samples.bits
        && match colour {
            png::ColorType::Grayscale => samples.channels == 1 && !samples.palette,
            png::ColorType::GrayscaleAlpha => samples.channels == 2,
            png::ColorType::Rgb => samples.channels == 3,
            png::ColorType::Rgba => samples.channels == 4,
            png::ColorType::Indexed => samples.palette,
        };
    let (width, height) = (info.width, info.height);
    let count = width as u64 * height as u64 * samples.channels as u64;
    if !agrees || count > MAX_SAMPLES {
        return None;
    }
    let rank = match samples.palette {
        true => {
            let order = palette_order(chunk_data(bytes, b"PLTE")?);
            let mut rank = [0u8; 256];
            for (r, &i) in order.iter().enumerate() {
                rank[i as usize] = r as u8;
            }
            Some(rank)
        }
        false => None,
    };
    let line = reader.output_line_size(width);
    let mut packed = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut packed).ok()?;
    packed.truncate(frame.buffer_size());
    if packed.len() as u64 != line as u64 * height as u64 {
        return None;
    }
    let mut pixels = match samples.bits {
        8 | 16 => packed,
        bits => unpack(&packed, line, width as usize, bits),
    };
    if let Some(rank) = rank {
        pixels.iter_mut().for_each(|v| *v = rank[*v as usize]);
    }
    let depth = if samples.bits == 16 { 16 } else { 8 };
    if pixels.len() as u64 != count * (depth as u64 / 8) {
        return None;
    }
    let raster = Raster {
        width,
        height,
        channels: samples.channels,
        depth,
        pixels,
    };
    let wrapper = Wrapper::Png {
        before,
        after,
        file_len: Some(bytes.len() as u64),
    };
    Some((raster, samples, wrapper))
}

/// One byte a sample from rows of `line` bytes holding `width` samples of `bits` (1, 2 or 4)
/// each, the first in the high bits (PNG specification, section 7.2).
fn unpack(packed: &[u8], line: usize, width: usize, bits: u8) -> Vec<u8> {
    let per_byte = 8 / bits as usize;
    let mask = (1u8 << bits) - 1;
    let mut out = Vec::with_capacity(packed.len() / line.max(1) * width);
    for row in packed.chunks_exact(line) {
        out.extend((0..width).map(|x| {
            let shift = 8 - bits as usize * (x % per_byte + 1);
            row[x / per_byte] >> shift & mask
        }));
    }
    out
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
    if raster.depth != 8 {
        return Err(WrapperError(format!(
            "a pixels-only PNG wrapper holds 8-bit samples, not {}-bit",
            raster.depth
        )));
    }
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
