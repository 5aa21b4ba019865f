//! Rebuilding a zlib stream (RFC 1950) exactly from its uncompressed contents.
//!
//! A PNG's image data is one zlib stream. bsar keeps the pixels and throws the stream away, so to
//! give back the original file it must recompress the pixels into the very same bytes. Four ways,
//! tried in this order (fdeflate first, for the header only it writes; spec/format.md 4.5.1):
//! - **zlib replay.** Most PNG writers (libpng, Pillow, ImageMagick, ...) call zlib. zlib's output
//!   is a pure function of its four parameters and the input, so finding the parameters (level,
//!   window bits, memory level, strategy) that reproduce the stream is enough: 4 bytes. bsar links
//!   zlib 1.3.1 from libz-sys's bundled source, pinned, so every build runs the same code.
//! - **fdeflate replay.** The `png` crate (and so the Rust `image` crate) writes with `fdeflate`
//!   by default, feeding it one filtered row at a time; fdeflate's output depends on those calls,
//!   so the replay makes the same calls. Pinned like zlib; 0 bytes of record.
//! - **miniz replay.** Rust's `flate2` (its default backend, miniz_oxide) writes the png crate's
//!   other compression settings; its output is a function of the level alone: 1 byte.
//! - **preflate.** Any other deflate encoder: the `preflate-rs` crate (pinned) models the encoder
//!   and records the few places where its prediction differs from the stream ("corrections").
//!
//! What follows the deflate data inside the zlib stream (the Adler-32 checksum, and anything a
//! writer left after it) is kept as "tail": empty when it is exactly the checksum, which bsar then
//! recomputes.

use libz_sys as z;
use std::os::raw::c_int;

/// How a zlib stream is rebuilt from its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rezip {
    /// zlib 1.3.1 `deflateInit2(level, Z_DEFLATED, window_bits, mem_level, strategy)`, fed the
    /// whole input and `Z_FINISH`: the stream's header, data and checksum.
    Zlib {
        level: u8,
        window_bits: u8,
        mem_level: u8,
        strategy: u8,
    },
    /// fdeflate 0.3.7, as the `png` crate calls it: `Compressor`, one `write_data` per filtered
    /// row (`stored`: `StoredOnlyCompressor`, which it uses when compressing does not pay).
    Fdeflate { stored: bool },
    /// miniz_oxide 0.9.1 (what flate2 1.1 runs) at `level` (0-10), zlib format, fed the whole
    /// input and `Finish`.
    Miniz { level: u8 },
    /// The two header bytes, then the deflate data that preflate-rs 0.7.6 rebuilds from its
    /// corrections, then the Adler-32 checksum (big-endian, recomputed).
    Preflate {
        header: [u8; 2],
        corrections: Vec<u8>,
    },
}

/// A zlib stream as bsar stores it: how to rebuild it, and what followed the part that rebuilds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub rezip: Rezip,
    /// Bytes after the rebuilt part, verbatim (normally empty).
    pub extra: Vec<u8>,
}

/// zlib parameters worth trying for a stream whose header states `level_class` (FLG bits 6-7:
/// 0 fastest, 1 fast, 2 default, 3 maximum) and `window_bits`: the encoders in the wild use the
/// filtered or default strategy and memory level 8 (zlib's default, libpng) or 9 (Pillow), and
/// OpenCV the run-length strategy (where the level changes nothing but the header). Most likely
/// first; each wrong guess costs only the first block of output (`replays`).
fn zlib_candidates(level_class: u8, window_bits: u8) -> Vec<Rezip> {
    let levels: &[u8] = match level_class {
        0 => &[1, 0],
        1 => &[5, 4, 3, 2],
        2 => &[6],
        _ => &[9, 8, 7],
    };
    let mut out = Vec::new();
    for &level in levels {
        for strategy in [1u8, 0] {
            for mem_level in [8u8, 9] {
                out.push(Rezip::Zlib {
                    level,
                    window_bits,
                    mem_level,
                    strategy,
                });
            }
        }
    }
    for strategy in [3u8, 2] {
        for mem_level in [8u8, 9] {
            out.push(Rezip::Zlib {
                level: levels[0],
                window_bits,
                mem_level,
                strategy,
            });
        }
    }
    out
}

/// Output bytes a zlib replay must match in [`guess`].
pub const GUESS_PREFIX: usize = 1 << 15;

/// A cheap guess at how to rebuild `stream`: the first zlib parameters whose output matches the
/// stream's first [`GUESS_PREFIX`] bytes, with nothing after the stream. The caller must check
/// the guess by rebuilding (as `PngExact::capture` does, with the reader's own code), and fall
/// back to [`analyse`] if it fails: this spares the full replay that `analyse` runs before the
/// caller's check runs another. `None` where the stream is not zlib's, or is too short to gain.
pub fn guess(stream: &[u8], plain: &[u8]) -> Option<Stream> {
    let (&cmf, &flg) = (stream.first()?, stream.get(1)?);
    let zlib_header =
        cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
    if !zlib_header
        || flg & 0x20 != 0
        || [cmf, flg] == [0x78, 0x01]
        || stream.len() <= 2 * GUESS_PREFIX
    {
        return None;
    }
    let c = zlib_candidates(flg >> 6, (cmf >> 4) + 8)
        .into_iter()
        .find(|c| zlib_compress(c, plain, stream.len(), Some(stream), GUESS_PREFIX).is_ok())?;
    Some(Stream {
        rezip: c,
        extra: Vec::new(),
    })
}

/// Finds how to rebuild `stream`, a zlib stream whose decompressed contents are `plain`, made of
/// rows of `row_len` bytes where that is known (a non-interlaced PNG). `None` when no way
/// reproduces it (a damaged stream, say); the caller then stores the file as bytes.
pub fn analyse(stream: &[u8], plain: &[u8], row_len: Option<usize>) -> Option<Stream> {
    let (&cmf, &flg) = (stream.first()?, stream.get(1)?);
    if cmf & 0x0f != 8 || cmf >> 4 > 7 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return None;
    }
    if [cmf, flg] == [0x78, 0x01] {
        for stored in [false, true] {
            let c = Rezip::Fdeflate { stored };
            if let Ok(out) = fdeflate_compress(stored, plain, row_len) {
                if stream.starts_with(&out) {
                    return Some(Stream {
                        rezip: c,
                        extra: stream[out.len()..].to_vec(),
                    });
                }
            }
        }
    }
    if flg & 0x20 == 0 {
        for c in zlib_candidates(flg >> 6, (cmf >> 4) + 8) {
            if let Some(n) = replays(&c, plain, stream) {
                return Some(Stream {
                    rezip: c,
                    extra: stream[n..].to_vec(),
                });
            }
        }
    }
    if flg & 0x20 == 0 {
        let levels: &[u8] = match flg >> 6 {
            0 => &[1, 0],
            1 => &[5, 4, 3, 2],
            2 => &[6],
            _ => &[9, 10, 8, 7],
        };
        for &level in levels {
            if let Ok(out) = miniz_compress(level, plain, stream.len(), Some(stream)) {
                return Some(Stream {
                    rezip: Rezip::Miniz { level },
                    extra: stream[out.len()..].to_vec(),
                });
            }
        }
    }
    let config = preflate_rs::PreflateConfig {
        plain_text_limit: plain.len().max(1),
        ..Default::default()
    };
    let (found, text) = preflate_rs::preflate_whole_deflate_stream(&stream[2..], &config).ok()?;
    if text.text() != plain {
        return None;
    }
    let rest = &stream[2 + found.compressed_size..];
    let extra = match rest.strip_prefix(&adler32(plain).to_be_bytes()[..]) {
        Some(after) => after.to_vec(),
        None => return None,
    };
    Some(Stream {
        rezip: Rezip::Preflate {
            header: [cmf, flg],
            corrections: found.corrections,
        },
        extra,
    })
}

/// Rebuilds the zlib stream for `plain` (rows of `row_len` bytes where known, as for `analyse`).
/// `limit` bounds the output (the stream's stored length): a damaged record that would produce
/// more is refused, not followed.
pub fn rebuild(
    s: &Stream,
    plain: &[u8],
    row_len: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut out = match &s.rezip {
        Rezip::Zlib { .. } => zlib_compress(&s.rezip, plain, limit, None, usize::MAX)?,
        Rezip::Fdeflate { stored } => fdeflate_compress(*stored, plain, row_len)?,
        Rezip::Miniz { level } => miniz_compress(*level, plain, limit, None)?,
        Rezip::Preflate {
            header,
            corrections,
        } => {
            let body = preflate_rs::recreate_whole_deflate_stream(plain, corrections)
                .map_err(|e| format!("deflate reconstruction failed: {e}"))?;
            let mut out = Vec::with_capacity(body.len() + 6);
            out.extend_from_slice(header);
            out.extend_from_slice(&body);
            out.extend_from_slice(&adler32(plain).to_be_bytes());
            out
        }
    };
    out.extend_from_slice(&s.extra);
    if out.len() > limit {
        return Err("rebuilt image data longer than recorded".into());
    }
    Ok(out)
}

/// miniz_oxide's zlib stream for `plain` at `level`, refusing output past `limit`; with `expect`,
/// stops (with an error) as soon as the output differs from it.
fn miniz_compress(
    level: u8,
    plain: &[u8],
    limit: usize,
    expect: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    use miniz_oxide::deflate::core::CompressorOxide;
    use miniz_oxide::{DataFormat, MZFlush, MZStatus};
    if level > 10 {
        return Err(format!("miniz level {level} out of range"));
    }
    let mut c: Box<CompressorOxide> = Box::default();
    c.set_format_and_level(DataFormat::Zlib, level);
    let mut input = plain;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 1 << 15];
    loop {
        let r = miniz_oxide::deflate::stream::deflate(&mut c, input, &mut chunk, MZFlush::Finish);
        input = &input[r.bytes_consumed..];
        let start = out.len();
        if start + r.bytes_written > limit {
            return Err("rebuilt image data longer than recorded".into());
        }
        out.extend_from_slice(&chunk[..r.bytes_written]);
        if let Some(want) = expect {
            if want.get(start..out.len()) != Some(&out[start..]) {
                return Err("differs".into());
            }
        }
        match r.status {
            Ok(MZStatus::StreamEnd) => return Ok(out),
            Ok(_) | Err(miniz_oxide::MZError::Buf)
                if r.bytes_written > 0 || r.bytes_consumed > 0 => {}
            _ => return Err("miniz_oxide failed".into()),
        }
    }
}

/// fdeflate's output for `plain`, fed in rows of `row_len` bytes (all at once where unknown).
fn fdeflate_compress(
    stored: bool,
    plain: &[u8],
    row_len: Option<usize>,
) -> Result<Vec<u8>, String> {
    let rows = plain.chunks(row_len.unwrap_or(plain.len()).max(1));
    let err = |e: std::io::Error| format!("fdeflate failed: {e}");
    let out = std::io::Cursor::new(Vec::with_capacity(plain.len() / 2));
    let out = if stored {
        let mut c = fdeflate::StoredOnlyCompressor::new(out).map_err(err)?;
        for r in rows {
            c.write_data(r).map_err(err)?;
        }
        c.finish().map_err(err)?
    } else {
        let mut c = fdeflate::Compressor::new(out).map_err(err)?;
        for r in rows {
            c.write_data(r).map_err(err)?;
        }
        c.finish().map_err(err)?
    };
    Ok(out.into_inner())
}

/// Whether zlib with parameters `c` reproduces a prefix of `want` that is a whole zlib stream;
/// returns that stream's length. Stops at the first differing byte.
fn replays(c: &Rezip, plain: &[u8], want: &[u8]) -> Option<usize> {
    zlib_compress(c, plain, want.len(), Some(want), usize::MAX)
        .ok()
        .map(|v| v.len())
}

/// zlib-compresses `plain` with the parameters of `c`, refusing output past `limit`; with
/// `expect`, stops (with an error) as soon as the output differs from it. Returns the output so
/// far once it holds `stop_after` bytes or more (`usize::MAX`: the whole stream).
fn zlib_compress(
    c: &Rezip,
    plain: &[u8],
    limit: usize,
    expect: Option<&[u8]>,
    stop_after: usize,
) -> Result<Vec<u8>, String> {
    let Rezip::Zlib {
        level,
        window_bits,
        mem_level,
        strategy,
    } = *c
    else {
        unreachable!("zlib_compress is only called for zlib replays")
    };
    let valid = level <= 9 && (9..=15).contains(&window_bits) && (1..=9).contains(&mem_level);
    if !valid || strategy > 4 {
        return Err(format!(
            "zlib parameters out of range ({level}, {window_bits}, {mem_level}, {strategy})"
        ));
    }
    let mut d = Deflater::new(level, window_bits, mem_level, strategy)?;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 1 << 15];
    d.input(plain);
    loop {
        let (n, done) = d.finish_into(&mut chunk)?;
        let start = out.len();
        if start + n > limit {
            return Err("rebuilt image data longer than recorded".into());
        }
        out.extend_from_slice(&chunk[..n]);
        if let Some(want) = expect {
            if want.get(start..out.len()) != Some(&out[start..]) {
                return Err("differs".into());
            }
        }
        if done || out.len() >= stop_after {
            return Ok(out);
        }
    }
}

pub fn adler32(data: &[u8]) -> u32 {
    let mut a: z::uLong = 1;
    for piece in data.chunks(1 << 30) {
        // SAFETY: `piece` is a valid slice whose length fits a uInt.
        a = unsafe { z::adler32(a, piece.as_ptr(), piece.len() as z::uInt) };
    }
    a as u32
}

/// A zlib deflate stream, owned: ended on drop.
struct Deflater {
    strm: Box<z::z_stream>,
}

impl Deflater {
    fn new(level: u8, window_bits: u8, mem_level: u8, strategy: u8) -> Result<Self, String> {
        let mut strm = Box::new(z::z_stream {
            next_in: std::ptr::null_mut(),
            avail_in: 0,
            total_in: 0,
            next_out: std::ptr::null_mut(),
            avail_out: 0,
            total_out: 0,
            msg: std::ptr::null_mut(),
            state: std::ptr::null_mut(),
            zalloc,
            zfree,
            opaque: std::ptr::null_mut(),
            data_type: 0,
            adler: 0,
            reserved: 0,
        });
        // SAFETY: `strm` is initialised as zlib asks (allocators set, no input yet) and lives in
        // a Box, so its address is stable for zlib's internal back-pointer.
        let rc = unsafe {
            z::deflateInit2_(
                &mut *strm,
                c_int::from(level),
                z::Z_DEFLATED,
                c_int::from(window_bits),
                c_int::from(mem_level),
                c_int::from(strategy),
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        if rc != z::Z_OK {
            return Err(format!("zlib refused its parameters ({rc})"));
        }
        Ok(Deflater { strm })
    }

    /// Hands zlib the whole input; it must outlive every later call (the caller keeps `plain`).
    fn input(&mut self, plain: &[u8]) {
        self.strm.next_in = plain.as_ptr() as *mut u8;
        self.strm.avail_in = plain.len() as z::uInt;
    }

    /// Runs `deflate(Z_FINISH)` into `out`; returns the bytes written and whether the stream ended.
    fn finish_into(&mut self, out: &mut [u8]) -> Result<(usize, bool), String> {
        self.strm.next_out = out.as_mut_ptr();
        self.strm.avail_out = out.len() as z::uInt;
        // SAFETY: next_in/avail_in describe the caller's live input, next_out/avail_out `out`.
        let rc = unsafe { z::deflate(&mut *self.strm, z::Z_FINISH) };
        let n = out.len() - self.strm.avail_out as usize;
        match rc {
            z::Z_STREAM_END => Ok((n, true)),
            z::Z_OK | z::Z_BUF_ERROR => Ok((n, false)),
            e => Err(format!("zlib failed ({e})")),
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by deflateInit2_ and is ended once.
        unsafe {
            z::deflateEnd(&mut *self.strm);
        }
    }
}

/// zlib's allocator: Rust's, with the size kept in front of the block for `zfree`.
unsafe extern "C" fn zalloc(_: z::voidpf, items: z::uInt, size: z::uInt) -> z::voidpf {
    const HEAD: usize = 16;
    let Some(n) = (items as usize)
        .checked_mul(size as usize)
        .and_then(|n| n.checked_add(HEAD))
    else {
        return std::ptr::null_mut();
    };
    let Ok(layout) = std::alloc::Layout::from_size_align(n, HEAD) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc(layout) };
    if p.is_null() {
        return p.cast();
    }
    // SAFETY: the block holds at least HEAD bytes, aligned for a usize.
    unsafe {
        (p as *mut usize).write(n);
        p.add(HEAD).cast()
    }
}

unsafe extern "C" fn zfree(_: z::voidpf, p: z::voidpf) {
    const HEAD: usize = 16;
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `zalloc`, which put the block's size HEAD bytes before it.
    unsafe {
        let base = (p as *mut u8).sub(HEAD);
        let n = (base as *const usize).read();
        std::alloc::dealloc(base, std::alloc::Layout::from_size_align_unchecked(n, HEAD));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * i / 7 + i / 13) % 251) as u8).collect()
    }

    #[test]
    fn a_guess_takes_the_first_parameters_that_match_a_long_streams_start() {
        // Noisy enough that the stream is long.
        let mut x = 1u32;
        let plain: Vec<u8> = (0..200_000u32)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (i / 64) as u8 + (x >> 29) as u8
            })
            .collect();
        let c = Rezip::Zlib {
            level: 9,
            window_bits: 15,
            mem_level: 8,
            strategy: 1,
        };
        let stream = zlib_compress(&c, &plain, usize::MAX, None, usize::MAX).unwrap();
        assert!(stream.len() > 2 * GUESS_PREFIX, "{}", stream.len());
        let g = guess(&stream, &plain).expect("a guess");
        assert_eq!(g.rezip, c);
        assert_eq!(rebuild(&g, &plain, None, stream.len()).unwrap(), stream);
        // Too short to gain anything: no guess (the full analysis is cheap there).
        let short = zlib_compress(&c, &plain[..20_000], usize::MAX, None, usize::MAX).unwrap();
        assert!(guess(&short, &plain[..20_000]).is_none());
    }

    #[test]
    fn zlib_streams_replay_with_four_bytes() {
        let plain = sample(100_000);
        for level in [1u32, 6, 9] {
            let mut e =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
            e.write_all(&plain).unwrap();
            let ours = zlib_compress(
                &Rezip::Zlib {
                    level: level as u8,
                    window_bits: 15,
                    mem_level: 8,
                    strategy: 0,
                },
                &plain,
                usize::MAX,
                None,
                usize::MAX,
            )
            .unwrap();
            let s = analyse(&ours, &plain, None).expect("a zlib stream replays");
            assert!(matches!(s.rezip, Rezip::Zlib { level: l, .. } if u32::from(l) == level));
            assert_eq!(rebuild(&s, &plain, None, ours.len()).unwrap(), ours);
            // A stream zlib did not write: flate2's default backend, miniz_oxide, replays too.
            let other = e.finish().unwrap();
            let s = analyse(&other, &plain, None).expect("a miniz stream replays");
            assert!(matches!(s.rezip, Rezip::Miniz { .. }), "{:?}", s.rezip);
            assert_eq!(rebuild(&s, &plain, None, other.len()).unwrap(), other);
            // And preflate takes what no replay reproduces (a stream miniz wrote at level 7,
            // labelled as level 9's class but cut short of nothing: forced through preflate).
            let config = preflate_rs::PreflateConfig::default();
            let (found, _) =
                preflate_rs::preflate_whole_deflate_stream(&other[2..], &config).unwrap();
            let p = Stream {
                rezip: Rezip::Preflate {
                    header: [other[0], other[1]],
                    corrections: found.corrections,
                },
                extra: Vec::new(),
            };
            assert_eq!(rebuild(&p, &plain, None, other.len()).unwrap(), other);
        }
    }

    #[test]
    fn trailing_bytes_are_kept_and_limits_hold() {
        let plain = sample(5_000);
        let c = Rezip::Zlib {
            level: 9,
            window_bits: 15,
            mem_level: 9,
            strategy: 1,
        };
        let mut stream = zlib_compress(&c, &plain, usize::MAX, None, usize::MAX).unwrap();
        stream.extend_from_slice(b"junk");
        let s = analyse(&stream, &plain, None).unwrap();
        assert_eq!(s.extra, b"junk");
        assert_eq!(rebuild(&s, &plain, None, stream.len()).unwrap(), stream);
        assert!(rebuild(&s, &plain, None, stream.len() - 1).is_err());
        assert!(
            analyse(&stream, &plain[1..], None).is_none(),
            "other contents"
        );
        let mut bad = s.clone();
        bad.rezip = Rezip::Zlib {
            level: 12,
            window_bits: 15,
            mem_level: 9,
            strategy: 1,
        };
        assert!(rebuild(&bad, &plain, None, usize::MAX).is_err());
    }

    /// fdeflate fed row by row (as the png crate does) replays only with the same rows.
    #[test]
    fn fdeflate_streams_replay_row_by_row() {
        let plain = sample(33 * 20);
        for stored in [false, true] {
            let z = fdeflate_compress(stored, &plain, Some(33)).unwrap();
            let s = analyse(&z, &plain, Some(33)).expect("an fdeflate stream replays");
            assert_eq!(s.rezip, Rezip::Fdeflate { stored });
            assert!(s.extra.is_empty());
            assert_eq!(rebuild(&s, &plain, Some(33), z.len()).unwrap(), z);
        }
    }
}
