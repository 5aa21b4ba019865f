//! Stacks: JPEG files of one size and one set of coding tables, coded by Lepton as one tall JPEG.
//!
//! Lepton's model learns each file from scratch, which costs most on small files, the usual
//! members of an image data set (a 240x160 photograph at quality 95 codes 5% smaller stacked with
//! its like than alone). Baseline files that share their frame, tables and scan header differ
//! only in their entropy-coded data, and JPEG can hold several such runs in one scan: restart
//! markers reset the DC predictions and realign to a byte, exactly as a new file starts. So the
//! files are put one under the other, each one restart interval long, and Lepton codes that tall
//! JPEG with one model; each file is its own bytes before and after its scan data (kept in the
//! chunk's header frame) around its slice of the tall JPEG's scan.

/// The largest height and width lepton_jpeg takes (`EnabledFeatures::max_jpeg_height`).
pub const MAX_TALL_HEIGHT: u32 = 16_386;

/// A baseline JPEG cut where its entropy-coded data begins and ends.
pub struct Layout<'a> {
    /// From SOI to the end of the scan header (SOS), verbatim.
    pub prefix: &'a [u8],
    /// The entropy-coded data.
    pub scan: &'a [u8],
    /// From the EOI marker to the end of the file.
    pub suffix: &'a [u8],
    /// Files with equal keys stack: their frame header, tables and scan header, in order.
    pub key: Vec<u8>,
    /// Offsets in `prefix` of the frame header (SOF) and of the scan header (SOS) markers.
    sof: usize,
    sos: usize,
    /// MCUs in the file, MCU rows, and the height of an MCU row in pixels.
    mcus: u32,
    mcu_rows: u32,
    mcu_height: u32,
}

/// A frame header's offset, size and sampling factors (per component, horizontal and vertical).
struct Frame {
    sof: usize,
    w: u32,
    h: u32,
    sampling: Vec<(u8, u8)>,
}

/// The layout of `file` if it can be stacked: a baseline (or extended sequential) Huffman JPEG
/// of 8-bit samples, no restart interval, one scan of every component, and nothing but EOI after
/// the scan data (then any bytes). `None` for anything else (progressive, arithmetic, restart
/// markers, damaged...): such a file is coded on its own.
pub fn layout(file: &[u8]) -> Option<Layout<'_>> {
    if !file.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut key = Vec::new();
    let mut pos = 2;
    let mut frame: Option<Frame> = None;
    loop {
        if *file.get(pos)? != 0xFF {
            return None;
        }
        let marker = *file.get(pos + 1)?;
        let len = u16::from_be_bytes([*file.get(pos + 2)?, *file.get(pos + 3)?]) as usize;
        let seg = file.get(pos..pos + 2 + len)?;
        if len < 2 {
            return None;
        }
        match marker {
            0xC0 | 0xC1 => {
                // P, Y, X, Nf, then (id, HV, Tq) per component.
                let f = &seg[4..];
                let count = *f.get(5)? as usize;
                let comps = f.get(6..6 + 3 * count)?;
                if frame.is_some() || f[0] != 8 || !(1..=4).contains(&count) {
                    return None;
                }
                let (h, w) = (
                    u32::from(u16::from_be_bytes([f[1], f[2]])),
                    u32::from(u16::from_be_bytes([f[3], f[4]])),
                );
                let sampling: Vec<(u8, u8)> = comps
                    .chunks_exact(3)
                    .map(|c| (c[1] >> 4, c[1] & 15))
                    .collect();
                if h == 0
                    || w == 0
                    || sampling
                        .iter()
                        .any(|&(a, b)| !(1..=4).contains(&a) || !(1..=4).contains(&b))
                {
                    return None;
                }
                frame = Some(Frame {
                    sof: pos,
                    w,
                    h,
                    sampling,
                });
                key.extend_from_slice(seg);
            }
            0xC4 | 0xDB => key.extend_from_slice(seg),
            0xE0..=0xEF | 0xFE => {}
            0xDA => {
                let Frame {
                    sof,
                    w,
                    h,
                    sampling,
                } = frame?;
                // Ns, (id, tables) per component, Ss, Se, Ah/Al: one scan of every component.
                let s = &seg[4..];
                let ns = *s.first()? as usize;
                let tail = s.get(1 + 2 * ns..1 + 2 * ns + 3)?;
                if ns != sampling.len() || tail != [0, 63, 0] || s.len() != 1 + 2 * ns + 3 {
                    return None;
                }
                key.extend_from_slice(seg);
                let prefix_end = pos + 2 + len;
                let (scan, suffix) = scan_end(file, prefix_end)?;
                let (mcus_x, mcu_rows, mcu_height) = if ns == 1 {
                    (w.div_ceil(8), h.div_ceil(8), 8)
                } else {
                    let hmax = u32::from(sampling.iter().map(|s| s.0).max()?);
                    let vmax = u32::from(sampling.iter().map(|s| s.1).max()?);
                    (w.div_ceil(8 * hmax), h.div_ceil(8 * vmax), 8 * vmax)
                };
                let mcus = mcus_x * mcu_rows;
                if mcus > u32::from(u16::MAX) {
                    return None;
                }
                return Some(Layout {
                    prefix: &file[..prefix_end],
                    scan: &file[prefix_end..scan],
                    suffix: &file[suffix..],
                    key,
                    sof,
                    sos: pos,
                    mcus,
                    mcu_rows,
                    mcu_height,
                });
            }
            _ => return None,
        }
        pos += 2 + len;
    }
}

/// Where the entropy-coded data from `start` ends, and where EOI is: the first marker in it
/// must be EOI (no restart markers, no fill bytes).
fn scan_end(file: &[u8], start: usize) -> Option<(usize, usize)> {
    let mut i = start;
    while i + 1 < file.len() {
        if file[i] == 0xFF {
            match file[i + 1] {
                0x00 => i += 2,
                0xD9 => return Some((i, i)),
                _ => return None,
            }
        } else {
            i += 1;
        }
    }
    None
}

/// How many files of this layout one tall JPEG may hold.
pub fn max_stack(l: &Layout) -> usize {
    (MAX_TALL_HEIGHT / (l.mcu_rows * l.mcu_height)) as usize
}

/// The tall JPEG of `files` (at least one; all of one key, at most `max_stack`): the first
/// file's bytes up to its scan header with the height of all of them and a restart interval of
/// one file, the scans separated by restart markers, then EOI.
pub fn tall(files: &[Layout]) -> Vec<u8> {
    let first = &files[0];
    let height = files.len() as u32 * first.mcu_rows * first.mcu_height;
    let mut out = Vec::with_capacity(
        files.iter().map(|f| f.scan.len() + 2).sum::<usize>() + first.prefix.len() + 8,
    );
    out.extend_from_slice(&first.prefix[..first.sos]);
    // SOF: marker, length, P, then Y.
    out[first.sof + 5..first.sof + 7].copy_from_slice(&(height as u16).to_be_bytes());
    out.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
    out.extend_from_slice(&(first.mcus as u16).to_be_bytes());
    out.extend_from_slice(&first.prefix[first.sos..]);
    for (k, f) in files.iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(&[0xFF, 0xD0 + ((k - 1) % 8) as u8]);
        }
        out.extend_from_slice(f.scan);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// The scans of a tall JPEG whose files' scans are `lens` bytes long: the inverse of [`tall`]
/// (checked: the restart markers and EOI must be where the lengths put them).
pub fn scans<'a>(tall: &'a [u8], lens: &[usize]) -> Result<Vec<&'a [u8]>, String> {
    let bad = || Err("a Lepton stack does not split into its files".to_string());
    let body: usize = lens.iter().sum::<usize>() + 2 * lens.len();
    let Some(mut at) = tall.len().checked_sub(body) else {
        return bad();
    };
    let mut out = Vec::with_capacity(lens.len());
    for (k, &n) in lens.iter().enumerate() {
        let Some(scan) = tall.get(at..at + n) else {
            return bad();
        };
        out.push(scan);
        at += n;
        let marker = if k + 1 == lens.len() {
            0xD9
        } else {
            0xD0 + (k % 8) as u8
        };
        if tall.get(at..at + 2) != Some(&[0xFF, marker][..]) {
            return bad();
        }
        at += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/exact/jpeg/");

    fn read(n: &str) -> Vec<u8> {
        std::fs::read(format!("{DIR}{n}")).unwrap()
    }

    #[test]
    fn baseline_files_cut_into_prefix_scan_and_suffix_the_others_do_not() {
        for n in [
            "baseline.jpg",
            "pillow-q75.jpg",
            "pillow-q95.jpg",
            "grey.jpg",
            "exif.jpg",
        ] {
            let f = read(n);
            let l = layout(&f).unwrap_or_else(|| panic!("{n} stacks"));
            assert_eq!([l.prefix, l.scan, l.suffix].concat(), f, "{n}");
            assert!(l.suffix.starts_with(&[0xFF, 0xD9]));
        }
        for n in ["progressive.jpg", "restart-markers.jpg", "truncated.jpg"] {
            assert!(layout(&read(n)).is_none(), "{n}");
        }
    }

    #[test]
    fn a_tall_jpeg_splits_back_into_its_files_scans() {
        let f = read("pillow-q75.jpg");
        let l = layout(&f).unwrap();
        let three = [
            layout(&f).unwrap(),
            layout(&f).unwrap(),
            layout(&f).unwrap(),
        ];
        let t = tall(&three);
        let lens = vec![l.scan.len(); 3];
        let s = scans(&t, &lens).unwrap();
        assert!(s.iter().all(|s| *s == l.scan));
        // The tall file is a JPEG of three times the height with a restart interval.
        assert!(layout(&t).is_none(), "restart markers: not stackable again");
        assert!(scans(&t, &[l.scan.len(), l.scan.len() + 1, l.scan.len() - 1]).is_err());
        assert!(scans(&t[..t.len() - 1], &lens).is_err());
        assert!(scans(&t[..100], &lens).is_err());
    }
}
