//! PNG scanline filters (PNG spec section 9): turning rows of pixels into the byte stream a PNG
//! deflates, with the writer's choice of filter per row, and predicting that choice.
//!
//! To rebuild a PNG byte for byte, bsar must filter each row exactly as the original writer did.
//! libpng and Pillow choose by the same rule (`Choice::MinSum`): of the filters they try, the one
//! whose output bytes, read as signed, have the smallest sum of absolute values, the lowest filter
//! type on a tie. libpng tries all five; Pillow all five, or for some modes without `optimize`
//! only Sub, Up and Paeth. When a file follows that rule (or uses one filter throughout) no per-row data need
//! be stored.

/// Which filter each row (of each Adam7 pass, in order) uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The minimum-sum-of-absolute-values rule of libpng and Pillow, over the filter types whose
    /// bits are set (bit t for type t).
    MinSum(u8),
    /// One filter type for every row.
    All(u8),
    /// The filter type of each row, as stored.
    Rows(Vec<u8>),
}

/// The rows of an image as a PNG stores them: the whole image, or Adam7's seven passes.
/// Each item is (first column, column step, first row, row step) of one pass.
fn passes(interlaced: bool) -> &'static [(u32, u32, u32, u32)] {
    const WHOLE: [(u32, u32, u32, u32); 1] = [(0, 1, 0, 1)];
    const ADAM7: [(u32, u32, u32, u32); 7] = [
        (0, 8, 0, 8),
        (4, 8, 0, 8),
        (0, 4, 4, 8),
        (2, 4, 0, 4),
        (0, 2, 2, 4),
        (1, 2, 0, 2),
        (0, 1, 1, 2),
    ];
    if interlaced {
        &ADAM7
    } else {
        &WHOLE
    }
}

/// Geometry of the image being filtered: width, height, samples per pixel and their depth.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// Samples per pixel; the pixels given to `filter` hold one byte a sample (two, big-endian,
    /// at 16 bits, as the file does).
    pub channels: usize,
    /// Bits per sample in the file: 8 or 16, or 1, 2 or 4 for one sample a pixel, packed into
    /// bytes first sample in the high bits, each row padded to a whole byte with zero bits.
    pub bits: u8,
    pub interlaced: bool,
}

impl Layout {
    /// The (width, height) of each non-empty pass, in stream order.
    fn pass_sizes(&self) -> Vec<(u32, u32, (u32, u32, u32, u32))> {
        passes(self.interlaced)
            .iter()
            .filter_map(|&p @ (x0, dx, y0, dy)| {
                let w = self.width.saturating_sub(x0).div_ceil(dx);
                let h = self.height.saturating_sub(y0).div_ceil(dy);
                (w > 0 && h > 0).then_some((w, h, p))
            })
            .collect()
    }

    /// The bytes of a row of `w` pixels, packed, without its filter byte.
    fn packed_len(&self, w: u32) -> usize {
        (w as usize * self.channels * self.bits as usize).div_ceil(8)
    }

    /// The distance in bytes from a byte to the one the filters see as its left neighbour: a
    /// whole pixel, or one byte for pixels smaller than a byte.
    fn bpp(&self) -> usize {
        (self.channels * self.bits as usize / 8).max(1)
    }

    /// The length of a filtered row (filter byte included) when the image is not interlaced.
    pub fn row_len(&self) -> Option<usize> {
        (!self.interlaced).then(|| 1 + self.packed_len(self.width))
    }

    /// The number of filtered rows (one filter byte each).
    pub fn rows(&self) -> usize {
        self.pass_sizes().iter().map(|&(_, h, _)| h as usize).sum()
    }

    /// The length of the filtered stream.
    pub fn stream_len(&self) -> usize {
        self.pass_sizes()
            .iter()
            .map(|&(w, h, _)| h as usize * (1 + self.packed_len(w)))
            .sum()
    }
}

/// The filter type byte of each row of a filtered stream (`stream_len` bytes).
pub fn row_filters(layout: &Layout, stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(layout.rows());
    let mut pos = 0;
    for (w, h, _) in layout.pass_sizes() {
        let stride = 1 + layout.packed_len(w);
        for _ in 0..h {
            out.push(stream[pos]);
            pos += stride;
        }
    }
    out
}

/// The filter sets writers try, most common first: all five (libpng, Pillow with `optimize`), and
/// Sub, Up and Paeth (Pillow's default).
const MIN_SUM_SETS: [u8; 2] = [0b11111, 0b10110];

/// The most compact `Choice` that gives `filters` (for `pixels` and `values` as `filter` takes
/// them).
pub fn describe(
    layout: &Layout,
    pixels: &[u8],
    values: Option<&[u8; 256]>,
    filters: &[u8],
) -> Choice {
    if let Some(&f) = filters.first() {
        if filters.iter().all(|&g| g == f) {
            return Choice::All(f);
        }
    }
    for mask in MIN_SUM_SETS {
        let c = Choice::MinSum(mask);
        if filter(layout, pixels, values, &c).is_ok_and(|s| row_filters(layout, &s) == filters) {
            return c;
        }
    }
    Choice::Rows(filters.to_vec())
}

/// Filters `pixels` (one byte a sample, rows top to bottom, `layout.channels` samples a pixel)
/// into the stream a PNG deflates; `values`, where given, is the file's value for each byte of
/// `pixels` (a palette image's indices). Fails on a filter type over 4, a row list of the wrong
/// length, or a sample too large for the bit depth.
pub fn filter(
    layout: &Layout,
    pixels: &[u8],
    values: Option<&[u8; 256]>,
    choice: &Choice,
) -> Result<Vec<u8>, String> {
    let bpp = layout.bpp();
    // Bytes a pixel takes in `pixels`, whose rows at 8 and 16 bits are the file's rows as they are.
    let spp = layout.channels * if layout.bits == 16 { 2 } else { 1 };
    let full_stride = layout.width as usize * spp;
    if pixels.len() != full_stride * layout.height as usize {
        return Err("pixels do not match the image header".into());
    }
    if let Choice::Rows(r) = choice {
        if r.len() != layout.rows() {
            return Err(format!(
                "{} row filters recorded for {} rows",
                r.len(),
                layout.rows()
            ));
        }
    }
    let mut out = Vec::with_capacity(layout.stream_len());
    let mut row_index = 0;
    let mut candidates = [(); 5].map(|_| Vec::new());
    for (w, h, (x0, dx, y0, dy)) in layout.pass_sizes() {
        let stride = layout.packed_len(w);
        let mut prev = vec![0u8; stride];
        let mut row = vec![0u8; stride];
        for j in 0..h as usize {
            let y = y0 as usize + j * dy as usize;
            let line = &pixels[y * full_stride..(y + 1) * full_stride];
            let pass_line = (0..w as usize).map(|i| x0 as usize + i * dx as usize);
            if layout.bits >= 8 && values.is_none() {
                for (i, x) in pass_line.enumerate() {
                    row[i * spp..(i + 1) * spp].copy_from_slice(&line[x * spp..(x + 1) * spp]);
                }
            } else {
                let bits = layout.bits as usize;
                row.fill(0);
                for (i, x) in pass_line.enumerate() {
                    for c in 0..spp {
                        let s = line[x * spp + c];
                        let v = values.map_or(s, |m| m[s as usize]);
                        if bits < 8 && v >> bits != 0 {
                            return Err(format!("sample {v} does not fit in {bits} bits"));
                        }
                        let at = (i * spp + c) * bits;
                        row[at / 8] |= v << (8 - bits - at % 8);
                    }
                }
            }
            let f = match choice {
                Choice::All(f) => *f,
                Choice::Rows(r) => r[row_index],
                Choice::MinSum(mask) => {
                    if mask & 0x1f == 0 {
                        return Err("an empty filter set recorded".into());
                    }
                    let mut best = (u64::MAX, 0u8);
                    for (t, c) in candidates.iter_mut().enumerate() {
                        if mask >> t & 1 == 0 {
                            continue;
                        }
                        apply(t as u8, &row, &prev, bpp, c);
                        let s = c.iter().map(|&b| u64::from(b.min(b.wrapping_neg()))).sum();
                        if s < best.0 {
                            best = (s, t as u8);
                        }
                    }
                    best.1
                }
            };
            if f > 4 {
                return Err(format!("filter type {f} recorded"));
            }
            out.push(f);
            let c = &mut candidates[f as usize];
            if !matches!(choice, Choice::MinSum(_)) {
                apply(f, &row, &prev, bpp, c);
            }
            out.extend_from_slice(c);
            std::mem::swap(&mut prev, &mut row);
            row_index += 1;
        }
    }
    Ok(out)
}

/// Writes filter `t` of `row` (with `prev` the row above, zeros for the first) into `out`.
fn apply(t: u8, row: &[u8], prev: &[u8], bpp: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend(row.iter().enumerate().map(|(i, &x)| {
        let a = if i >= bpp { row[i - bpp] } else { 0 };
        let b = prev[i];
        let c = if i >= bpp { prev[i - bpp] } else { 0 };
        let p = match t {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
            _ => paeth(a, b, c),
        };
        x.wrapping_sub(p)
    }));
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, bpp: usize) -> Vec<u8> {
        (0..w as usize * h as usize * bpp)
            .map(|i| ((i * 7) ^ (i / 5)) as u8)
            .collect()
    }

    /// What the png crate writes with a fixed filter is what `filter` produces (checked through
    /// zlib decompression of the crate's output).
    #[test]
    fn matches_the_png_crate_for_every_filter_and_interlace() {
        for (w, h, bpp) in [(13u32, 9u32, 3usize), (1, 1, 1), (9, 17, 4)] {
            let px = image(w, h, bpp);
            for t in 0..5u8 {
                let layout = Layout {
                    width: w,
                    height: h,
                    channels: bpp,
                    bits: 8,
                    interlaced: false,
                };
                let s = filter(&layout, &px, None, &Choice::All(t)).unwrap();
                assert_eq!(s.len(), layout.stream_len());
                assert!(row_filters(&layout, &s).iter().all(|&f| f == t));
                let mut file = Vec::new();
                {
                    let mut enc = png::Encoder::new(&mut file, w, h);
                    enc.set_color(match bpp {
                        1 => png::ColorType::Grayscale,
                        3 => png::ColorType::Rgb,
                        _ => png::ColorType::Rgba,
                    });
                    enc.set_filter(match t {
                        0 => png::FilterType::NoFilter,
                        1 => png::FilterType::Sub,
                        2 => png::FilterType::Up,
                        3 => png::FilterType::Avg,
                        _ => png::FilterType::Paeth,
                    });
                    enc.set_adaptive_filter(png::AdaptiveFilterType::NonAdaptive);
                    // Fast compression may fall back to unfiltered stored rows; Best keeps them.
                    enc.set_compression(png::Compression::Best);
                    let mut wr = enc.write_header().unwrap();
                    wr.write_image_data(&px).unwrap();
                }
                let idat = crate::imageio::png_exact::idat_stream(&file).unwrap();
                let plain = miniz_inflate(&idat);
                assert_eq!(plain, s, "{w}x{h}x{bpp} filter {t}");
            }
            let inter = Layout {
                width: w,
                height: h,
                channels: bpp,
                bits: 8,
                interlaced: true,
            };
            let s = filter(&inter, &px, None, &Choice::MinSum(0x1f)).unwrap();
            assert_eq!(s.len(), inter.stream_len());
            let f = row_filters(&inter, &s);
            assert_eq!(filter(&inter, &px, None, &Choice::Rows(f)).unwrap(), s);
        }
    }

    fn miniz_inflate(z: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn describe_finds_the_compact_form() {
        let layout = Layout {
            width: 8,
            height: 6,
            channels: 3,
            bits: 8,
            interlaced: false,
        };
        let px = image(8, 6, 3);
        let min = filter(&layout, &px, None, &Choice::MinSum(0x1f)).unwrap();
        let fs = row_filters(&layout, &min);
        let d = describe(&layout, &px, None, &fs);
        assert!(matches!(d, Choice::MinSum(0x1f) | Choice::All(_)), "{d:?}");
        // Pillow's default set: no None, no Average.
        let pil = filter(&layout, &px, None, &Choice::MinSum(0b10110)).unwrap();
        let pf = row_filters(&layout, &pil);
        assert!(pf.iter().all(|&f| matches!(f, 1 | 2 | 4)));
        if pf != fs && pf.iter().any(|&f| f != pf[0]) {
            assert_eq!(describe(&layout, &px, None, &pf), Choice::MinSum(0b10110));
        }
        assert!(filter(&layout, &px, None, &Choice::MinSum(0)).is_err());
        assert_eq!(describe(&layout, &px, None, &[2; 6]), Choice::All(2));
        let odd = vec![0, 1, 2, 3, 4, 0];
        if odd != fs {
            assert_eq!(
                describe(&layout, &px, None, &odd),
                Choice::Rows(odd.clone())
            );
        }
        assert!(filter(&layout, &px, None, &Choice::All(5)).is_err());
        assert!(filter(&layout, &px, None, &Choice::Rows(vec![0; 5])).is_err());
    }
}
