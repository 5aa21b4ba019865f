//! Lepton data: one JPEG file in lepton_jpeg's format, made and read back, with what bsar's reader
//! checks before the library trusts it (spec/format.md 6.2).

use lepton_jpeg::{EnabledFeatures, SingleThreadPool};
use std::io::Cursor;

/// Lepton's C++-compatible settings, but one partition: lepton_jpeg cuts a file of more than
/// 125 KB of scan data into up to 8 partitions (so that threads can code them at once), each with
/// a model learning from scratch; bsar codes chunks in parallel instead, and one model over the
/// whole file codes it smaller (photos-train as Pillow JPEG quality 95: 0.4% of the input).
fn write_features() -> EnabledFeatures {
    EnabledFeatures {
        max_partitions: 1,
        ..EnabledFeatures::compat_lepton_vector_write()
    }
}

/// Reading takes what writing made (`write_features` caps width and height at 16,386), and
/// files of the promised length only.
fn read_features(expected: u64) -> EnabledFeatures {
    let w = write_features();
    EnabledFeatures {
        max_jpeg_width: w.max_jpeg_width,
        max_jpeg_height: w.max_jpeg_height,
        max_jpeg_file_size: expected.min(u64::from(w.max_jpeg_file_size)) as u32,
        ..EnabledFeatures::compat_lepton_vector_read()
    }
}

/// The most pixels (width x height of its largest frame) a JPEG of `len` bytes may have. Every
/// 8x8 block costs at least a bit of scan data, so a file of n bytes holds at most 512n pixels:
/// a header that claims more is damage (spec/format.md 6.2).
pub(super) fn max_pixels(len: u64) -> u64 {
    len.saturating_mul(512).saturating_add(1 << 16)
}

/// What lepton_jpeg 0.5.8 may allocate to decode the Lepton data of a JPEG of `len` bytes, once
/// `precheck` has passed it (spec/format.md 6.3): 16 bytes a pixel for the DCT coefficients (two
/// bytes each, up to four full-resolution components, twice over for progressive files, whose
/// per-thread images are merged into one), over the frame padded to whole 16x16 MCUs (at most
/// 2^20 more pixels at 16,386 pixels a side); the JPEG it writes and its scan buffers (4 bytes
/// a byte of the file); and its model and tables, a fixed 32 MiB (measured: under 10 MiB).
pub(super) fn decode_budget(len: u64) -> u64 {
    max_pixels(len)
        .saturating_add(1 << 20)
        .saturating_mul(16)
        .saturating_add(len.saturating_mul(4))
        .saturating_add(32 << 20)
}

/// Lepton's fixed header (28 bytes): magic, version, type, 16 bytes of flags and revision, the
/// JPEG's length (u32 LE at 20) and the compressed header's length (u32 LE at 24); then the
/// zlib-compressed header, which starts `HDR` and the raw JPEG header's length (u32 LE).
/// lepton_jpeg allocates that length before reading it, so bsar checks it first: a JPEG's
/// header is never longer than the JPEG.
pub(super) fn precheck(stream: &[u8], expected: u64) -> Result<(), String> {
    use std::io::Read;
    let bad = |m: &str| Err(format!("Lepton data damaged: {m}"));
    let Some(fixed) = stream.get(..28) else {
        return bad("shorter than its header");
    };
    let u32_at = |i: usize| u32::from_le_bytes(fixed[i..i + 4].try_into().unwrap());
    if u64::from(u32_at(20)) != expected {
        return bad("it states another file length than the member table");
    }
    let Some(compressed) = stream.get(28..28 + u32_at(24) as usize) else {
        return bad("its header runs past its end");
    };
    // The whole header, inflated within a bound (the JPEG's header, its trailing bytes and
    // restart bookkeeping are never much longer than the JPEG).
    let cap = 2 * expected + (1 << 16);
    let mut hdr = Vec::new();
    if flate2::read::ZlibDecoder::new(compressed)
        .take(cap + 1)
        .read_to_end(&mut hdr)
        .is_err()
        || hdr.len() as u64 > cap
    {
        return bad("bad header");
    }
    let mut r = &hdr[..];
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = (r.get(..n)?, r.get(n..)?);
        r = b;
        Some(a)
    };
    let u32_le = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) as usize;
    if take(3) != Some(b"HDR") {
        return bad("bad header");
    }
    let Some(raw) = take(4).map(u32_le).and_then(&mut take) else {
        return bad("its JPEG header is longer than its header");
    };
    // The decoder allocates for the frame's size. Every 8x8 block of a JPEG costs at least a
    // bit of scan data, so a file of n bytes holds at most 512n pixels: more is damage.
    // The decoder sizes its buffers from the frame header, trusting it: it must be there and
    // sane (JPEG's own ranges: 1 to 4 components, sampling factors 1 to 4, no empty dimension),
    // and followed by a scan header, where the decoder works out the frame's geometry.
    let Some((w, h)) = frame_size(raw) else {
        return bad("no sound frame header followed by a scan header");
    };
    if u64::from(w) * u64::from(h) > max_pixels(expected) {
        return bad("its frame is larger than the file could hold");
    }
    // The records after it, each with the length lepton_jpeg allocates before reading: every
    // length must be of data that is there.
    let mut segments = Vec::new();
    while let Some(marker) = take(3) {
        let ok = match marker {
            b"P0D" => take(1).is_some(),
            b"CRS" => take(4)
                .map(u32_le)
                .and_then(|n| take(n.checked_mul(4)?))
                .is_some(),
            b"FRS" => take(4).map(u32_le).and_then(&mut take).is_some(),
            b"GRB" => take(4).map(u32_le).and_then(&mut take).is_some(),
            // A truncated JPEG: lepton_jpeg sizes its buffers from this record's positions
            // without checking them, so bsar's reader refuses it, and its writer (which checks
            // its output with this reader) stores truncated JPEGs with zstd.
            b"EEE" => return bad("a truncated-JPEG record, which bsar does not read"),
            // Scan segments: per segment a u16 first row, a u32 size, 10 more bytes.
            [b'H', b'H', n] => match take(16 * *n as usize) {
                Some(h) => {
                    segments.extend(
                        h.chunks_exact(16)
                            .map(|e| u64::from(u32_le(&e[2..6]) as u32)),
                    );
                    true
                }
                None => false,
            },
            _ => return bad("unknown header record"),
        };
        if !ok {
            return bad("a header record runs past the header");
        }
    }
    // lepton_jpeg indexes the last segment. (The writer checks its own output with this
    // reader, so a JPEG this refuses is stored with zstd instead.)
    if segments.is_empty() {
        return bad("no scan segments");
    }
    Ok(())
}

/// The largest width x height among the frame headers (SOFn) of a JPEG header as Lepton keeps it
/// (without the SOI marker; progressive files carry headers between scans, and the decoder reads
/// every one), walked segment by segment exactly as lepton_jpeg 0.5.8 walks it (`JpegHeader::
/// parse`: every marker but EOI is followed by a length). `None` if the walk fails where the
/// library's would, if a frame header is outside JPEG's ranges (1 to 4 components, sampling
/// factors 1 to 4, no empty dimension), or if the header does not reach a scan header (SOS)
/// after a frame header.
///
/// The last rule is the one the library needs most: it computes a component's size in blocks
/// only when its first parse reaches a scan header, and a header that ends (or reaches EOI)
/// before one leaves those sizes at their defaults, u32::MAX, from which it sizes buffers
/// (the fuzz finding lepton_chunk-oom-1865ca47: a 550 GB allocation).
fn frame_size(b: &[u8]) -> Option<(u16, u16)> {
    let mut pos = 0;
    let mut largest: Option<(u16, u16)> = None;
    let mut scan_reached = false;
    while pos < b.len() {
        let marker = *b.get(pos + 1)?;
        if b[pos] != 0xFF {
            return None;
        }
        if marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([*b.get(pos + 2)?, *b.get(pos + 3)?]) as usize;
        if len < 2 {
            return None;
        }
        let segment = b.get(pos + 4..pos + 2 + len)?;
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // Precision, height, width, component count, then 3 bytes a component.
            let count = *segment.get(5)? as usize;
            let comps = segment.get(6..6 + 3 * count)?;
            let sane = (1..=4).contains(&count)
                && comps.chunks_exact(3).all(|c| {
                    let (hs, vs) = (c[1] >> 4, c[1] & 15);
                    (1..=4).contains(&hs) && (1..=4).contains(&vs)
                });
            let (w, h) = (
                u16::from_be_bytes([segment[3], segment[4]]),
                u16::from_be_bytes([segment[1], segment[2]]),
            );
            if !sane || w == 0 || h == 0 {
                return None;
            }
            let area = |(w, h): (u16, u16)| u32::from(w) * u32::from(h);
            if largest.is_none_or(|l| area((w, h)) > area(l)) {
                largest = Some((w, h));
            }
        }
        if marker == 0xDA {
            largest?;
            scan_reached = true;
        }
        pos += 2 + len;
    }
    largest.filter(|_| scan_reached)
}

/// `jpeg` in Lepton's format, checked to decode to the same bytes by `lepton_decode`, the very
/// reader of archives (so the writer never keeps Lepton data its reader refuses); `None` where
/// Lepton refuses it or fails the check.
pub fn lepton_encode(jpeg: &[u8]) -> Option<Vec<u8>> {
    let l = encode_unchecked(jpeg)?;
    (lepton_decode(&l, jpeg.len() as u64).ok()? == jpeg).then_some(l)
}

/// `jpeg` in Lepton's format, not decoded back: the caller checks what it keeps.
pub(super) fn encode_unchecked(jpeg: &[u8]) -> Option<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::with_capacity(jpeg.len()));
    contained(|| {
        lepton_jpeg::encode_lepton(
            &mut Cursor::new(jpeg),
            &mut out,
            &write_features(),
            &SingleThreadPool::default(),
        )
        .is_ok()
    })
    .filter(|&ok| ok)?;
    Some(out.into_inner())
}

/// Length of Lepton's fixed header; its last field (u32 LE at 24) is the compressed header's
/// length.
pub(super) const FIXED: usize = 28;

/// A Lepton stream in three parts: the fixed header, the header inflated, and the rest (the
/// coded scans), which [`join`] puts back together. The header is what files of a data set
/// share (the same tables, the same markers), so a chunk keeps them together, in one frame.
pub(super) struct Parts<'a> {
    pub fixed: &'a [u8],
    pub header: Vec<u8>,
    pub body: &'a [u8],
}

/// Splits a Lepton stream the writer made (`None` if it is not laid out as expected).
pub(super) fn split(stream: &[u8]) -> Option<Parts<'_>> {
    use std::io::Read;
    let fixed = stream.get(..FIXED)?;
    let n = u32::from_le_bytes(fixed[24..28].try_into().unwrap()) as usize;
    let compressed = stream.get(FIXED..FIXED.checked_add(n)?)?;
    let mut header = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .read_to_end(&mut header)
        .ok()?;
    Some(Parts {
        fixed,
        header,
        body: &stream[FIXED + n..],
    })
}

/// The Lepton stream of `parts`: the header compressed again (by zlib at level 6: Lepton's
/// reader only inflates it, so any encoder serves), its length in the fixed header.
pub(super) fn join(fixed: &[u8], header: &[u8], body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    z.write_all(header).expect("writing to memory");
    let compressed = z.finish().expect("writing to memory");
    let mut out = Vec::with_capacity(FIXED + compressed.len() + body.len());
    out.extend_from_slice(&fixed[..24]);
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&compressed);
    out.extend_from_slice(body);
    out
}

/// Decodes a Lepton stream to exactly `expected` bytes.
pub fn lepton_decode(stream: &[u8], expected: u64) -> Result<Vec<u8>, String> {
    precheck(stream, expected)?;
    let mut out = Bounded {
        buf: Vec::new(),
        limit: expected,
    };
    let r = contained(|| {
        lepton_jpeg::decode_lepton(
            &mut Cursor::new(stream),
            &mut out,
            &read_features(expected),
            &SingleThreadPool::default(),
        )
    });
    match r {
        Some(Ok(_)) => {}
        // The library's messages carry a trace of source locations, one per line: the first
        // line says what is wrong.
        Some(Err(e)) => {
            let e = e.to_string();
            return Err(format!(
                "Lepton data damaged: {}",
                e.lines().next().unwrap_or("")
            ));
        }
        None => return Err("Lepton data damaged (the decoder gave up)".into()),
    }
    if out.buf.len() as u64 != expected {
        return Err(format!(
            "Lepton data decodes to {} bytes, the member table says {expected}",
            out.buf.len()
        ));
    }
    Ok(out.buf)
}

thread_local! {
    /// Set while this thread runs lepton_jpeg inside `contained`.
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (a call into lepton_jpeg, which panics on some damaged input instead of returning an
/// error) with its panics caught and kept quiet: `None` if it panicked. Panics anywhere else still
/// reach the panic hook that was installed before (the default one, or a fuzzer's).
fn contained<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(|c| c.get()) {
                previous(info)
            }
        }));
    });
    CONTAINED.with(|c| c.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(false));
    r.ok()
}

/// A Vec that refuses to grow past `limit`: a damaged stream cannot make the decoder allocate
/// more than the member table promised.
struct Bounded {
    buf: Vec<u8>,
    limit: u64,
}

impl std::io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + b.len() as u64 > self.limit {
            return Err(std::io::Error::other("longer than the member table says"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREY: &[u8] = include_bytes!("../../../tests/fixtures/exact/jpeg/grey.jpg");

    #[test]
    fn round_trips_and_refuses_streams_that_claim_too_much() {
        let l = lepton_encode(GREY).expect("Lepton takes the fixture");
        assert_eq!(lepton_decode(&l, GREY.len() as u64).unwrap(), GREY);
        // Another length than the member table's is refused before decoding.
        assert!(lepton_decode(&l, GREY.len() as u64 - 1).is_err());
        // The frame size the check reads is the file's (160x120).
        let n = u32::from_le_bytes(l[24..28].try_into().unwrap()) as usize;
        let mut z = flate2::read::ZlibDecoder::new(&l[28..28 + n]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut z, &mut raw).unwrap();
        let raw_len = u32::from_le_bytes(raw[3..7].try_into().unwrap()) as usize;
        assert_eq!(frame_size(&raw[7..7 + raw_len]), Some((160, 120)));
        // A stream that says its JPEG header is 4 GB long (lepton_jpeg would allocate that).
        let mut hostile = l[..28].to_vec();
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, b"HDR\xff\xff\xff\xff").unwrap();
        let hdr = e.finish().unwrap();
        hostile[24..28].copy_from_slice(&(hdr.len() as u32).to_le_bytes());
        hostile.extend_from_slice(&hdr);
        let err = lepton_decode(&hostile, GREY.len() as u64).unwrap_err();
        assert!(err.contains("longer than its header"), "{err}");
    }

    #[test]
    fn a_jpeg_header_must_reach_a_scan_header_after_its_frame_header() {
        let l = lepton_encode(GREY).unwrap();
        let p = split(&l).unwrap();
        let raw_len = u32::from_le_bytes(p.header[3..7].try_into().unwrap()) as usize;
        let raw = &p.header[7..7 + raw_len];
        assert_eq!(frame_size(raw), Some((160, 120)));
        // The segments, as the walk sees them: marker and start.
        let mut segments = Vec::new();
        let mut pos = 0;
        while pos < raw.len() {
            segments.push((raw[pos + 1], pos));
            pos += 2 + u16::from_be_bytes([raw[pos + 2], raw[pos + 3]]) as usize;
        }
        let at = |m: u8| segments.iter().find(|s| s.0 == m).unwrap().1;
        let (sof, sos) = (at(0xC0), at(0xDA));
        assert!(sof < sos);
        // Cut before the scan header (the fuzz finding's shape: lepton_jpeg then sizes buffers
        // from component sizes it never computed), or the scan header turned into APP3.
        assert_eq!(frame_size(&raw[..sos]), None);
        let mut renamed = raw.to_vec();
        renamed[sos + 1] = 0xE3;
        assert_eq!(frame_size(&renamed), None);
        // EOI before the scan header ends the library's parse just the same.
        let mut eoi = raw[..sos].to_vec();
        eoi.extend_from_slice(&[0xFF, 0xD9]);
        eoi.extend_from_slice(&raw[sos..]);
        assert_eq!(frame_size(&eoi), None);
        // A scan header before any frame header.
        let mut early = raw[..sof].to_vec();
        early.extend_from_slice(&raw[sos..]);
        early.extend_from_slice(&raw[sof..sos]);
        assert_eq!(frame_size(&early), None);
        // And the whole stream with such a header is refused before decoding.
        let mut cut = p.header[..3].to_vec();
        cut.extend_from_slice(&(sos as u32).to_le_bytes());
        cut.extend_from_slice(&raw[..sos]);
        cut.extend_from_slice(&p.header[7 + raw_len..]);
        let err = lepton_decode(&join(p.fixed, &cut, p.body), GREY.len() as u64).unwrap_err();
        assert!(err.contains("scan header"), "{err}");
    }

    #[test]
    fn a_stream_split_and_joined_again_decodes_to_the_file() {
        let l = lepton_encode(GREY).unwrap();
        let p = split(&l).unwrap();
        assert!(p.header.starts_with(b"HDR"));
        let again = join(p.fixed, &p.header, p.body);
        assert_eq!(lepton_decode(&again, GREY.len() as u64).unwrap(), GREY);
        // A damaged header is refused, never decoded into other bytes.
        let mut bad = p.header.clone();
        bad[3] ^= 0x40;
        assert!(lepton_decode(&join(p.fixed, &bad, p.body), GREY.len() as u64).is_err());
    }
}
