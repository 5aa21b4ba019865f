//! Large images in independent tiles (spec/bitswap.md 2.1): the layout of a tiled Bit-Swap
//! chunk (version 5) and the geometry of its tiles.
//!
//! Why: a chunk's stream decodes on one core, so one large photograph would use one core and
//! hold the coder's per-sample state for all of its samples at once. Cut into tiles that are
//! each coded as a chunk of their own, the image decodes on every core, and coding holds the
//! state of the tiles in flight only. What it costs is each tile starting its adaptation afresh.

use super::CodecError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The version byte of a tiled chunk.
pub const VERSION_TILED: u8 = 5;
/// The tile side bsar writes. It tiles an image wider or taller than twice the side
/// (`writes_tiles`): smaller ones are one stream, since a chunk of images already decodes on
/// one core per chunk, and each tile's fresh start costs bytes (measured: about 600 bytes a tile
/// on photographs).
pub const TILE_SIDE: u32 = 1024;
/// The tile sides a reader accepts.
pub const TILE_SIDE_MIN: u32 = 16;
pub const TILE_SIDE_MAX: u32 = 16384;
/// Tiles decoded (or coded) at once, at most: it bounds the memory the tiles' coders hold
/// together (spec/format.md 6.3), whatever the thread count asked for.
pub const MAX_TILE_THREADS: usize = 8;

/// One tile: its place in the image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// Whether an image of `width x height` has two tiles or more at side `side`: what a reader
/// requires of a tiled chunk.
pub fn needs_tiles(width: u32, height: u32, side: u32) -> bool {
    width > side || height > side
}

/// Whether bsar's writer, tiling at side `side`, tiles an image of `width x height`.
pub fn writes_tiles(width: u32, height: u32, side: u32) -> bool {
    width > 2 * side || height > 2 * side
}

/// The tiles of a `width x height` image at side `side`, in raster order: `side x side`, the
/// last column and row narrower where the image is not a multiple of `side`.
pub fn tiles(width: u32, height: u32, side: u32) -> Vec<Tile> {
    let mut out = Vec::new();
    for top in (0..height).step_by(side as usize) {
        for left in (0..width).step_by(side as usize) {
            out.push(Tile {
                left,
                top,
                width: side.min(width - left),
                height: side.min(height - top),
            });
        }
    }
    out
}

/// Most tiles an image of `width x height` can have under any side a reader accepts.
pub fn max_tiles(width: u32, height: u32) -> u64 {
    (width as u64).div_ceil(TILE_SIDE_MIN as u64) * (height as u64).div_ceil(TILE_SIDE_MIN as u64)
}

/// The tile's samples, cut from an image of `width` pixels a row and `channels` samples a pixel.
pub fn crop(pixels: &[u8], width: u32, channels: u8, t: Tile) -> Vec<u8> {
    let (c, w) = (channels as usize, width as usize);
    let row = t.width as usize * c;
    let mut out = Vec::with_capacity(row * t.height as usize);
    for y in t.top as usize..(t.top + t.height) as usize {
        let at = (y * w + t.left as usize) * c;
        out.extend_from_slice(&pixels[at..at + row]);
    }
    out
}

/// Writes the tile's samples into the image (the inverse of `crop`).
pub fn paste(pixels: &mut [u8], width: u32, channels: u8, t: Tile, tile: &[u8]) {
    let (c, w) = (channels as usize, width as usize);
    let row = t.width as usize * c;
    for (i, src) in tile.chunks_exact(row).enumerate() {
        let at = ((t.top as usize + i) * w + t.left as usize) * c;
        pixels[at..at + row].copy_from_slice(src);
    }
}

/// A tiled chunk's bytes: the version, the tile side, then each tile's chunk with its length.
pub fn write(side: u32, tile_chunks: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = tile_chunks.iter().map(|c| c.len() + 4).sum();
    let mut out = Vec::with_capacity(3 + total);
    out.push(VERSION_TILED);
    out.extend_from_slice(&(side as u16).to_le_bytes());
    for c in tile_chunks {
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(c);
    }
    out
}

/// A tiled chunk, parsed: the tiles of the image and each one's chunk bytes.
pub struct Tiled<'a> {
    pub tiles: Vec<(Tile, &'a [u8])>,
}

fn corrupt(msg: String) -> CodecError {
    CodecError::Corrupt(msg)
}

/// Parses a tiled chunk of one `width x height` image: the side must be one a reader accepts,
/// the image must need tiles at that side, and the tiles' chunks must fill the chunk exactly.
pub fn parse(data: &[u8], width: u32, height: u32) -> Result<Tiled<'_>, CodecError> {
    let short = || corrupt("tiled Bit-Swap chunk is truncated".to_string());
    let head = data.get(..3).ok_or_else(short)?;
    debug_assert_eq!(head[0], VERSION_TILED);
    let side = u16::from_le_bytes([head[1], head[2]]) as u32;
    // u16 holds at most 65535, below TILE_SIDE_MAX's bound only by the check below.
    if !(TILE_SIDE_MIN..=TILE_SIDE_MAX).contains(&side) {
        return Err(corrupt(format!("tile side {side} is out of range")));
    }
    if !needs_tiles(width, height, side) {
        return Err(corrupt(format!(
            "a {width}x{height} image is not tiled at side {side}"
        )));
    }
    let mut pos = 3;
    let mut out = Vec::new();
    for t in tiles(width, height, side) {
        let len = data.get(pos..pos + 4).ok_or_else(short)?;
        let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
        pos += 4;
        let chunk = data.get(pos..pos.saturating_add(len)).ok_or_else(short)?;
        if chunk.first() == Some(&VERSION_TILED) {
            return Err(corrupt("a tile's chunk is itself tiled".to_string()));
        }
        pos += len;
        out.push((t, chunk));
    }
    if pos != data.len() {
        return Err(corrupt(format!(
            "tiled Bit-Swap chunk has {} bytes after its last tile",
            data.len() - pos
        )));
    }
    Ok(Tiled { tiles: out })
}

/// Worker threads that `run_each` calls hold, across the process: with several large images
/// coded or decoded at once (one per `-j` thread), their tiles share `MAX_TILE_THREADS` extra
/// threads instead of each taking as many, so the tiles in flight, and their memory, stay bounded.
static EXTRA_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// Gives back the extra workers a `run_each` took, however it ends.
struct Workers(usize);

impl Drop for Workers {
    fn drop(&mut self) {
        EXTRA_WORKERS.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// Takes up to `want` extra workers from the process's pool.
fn take_workers(want: usize) -> Workers {
    let mut got = 0;
    while got < want {
        let now = EXTRA_WORKERS.load(Ordering::Acquire);
        if now >= MAX_TILE_THREADS {
            break;
        }
        if EXTRA_WORKERS
            .compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            got += 1;
        }
    }
    Workers(got)
}

/// Runs `f` on every index below `n` and returns the results in index order, the same whatever
/// the thread count: on the calling thread and up to `threads - 1` more (at most
/// `MAX_TILE_THREADS` in all, and fewer when other calls hold the process's extra workers).
pub fn run_each<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let want = threads.clamp(1, MAX_TILE_THREADS).min(n.max(1)) - 1;
    let workers = take_workers(want);
    if workers.0 == 0 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let r = f(i);
        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
    };
    std::thread::scope(|s| {
        for _ in 0..workers.0 {
            s.spawn(work);
        }
        work();
    });
    drop(workers);
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every index ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_image_once_and_crop_paste_invert() {
        let (w, h, c) = (700u32, 530u32, 3u8);
        let ts = tiles(w, h, 256);
        assert_eq!(ts.len(), 3 * 3);
        assert_eq!(
            ts[2],
            Tile {
                left: 512,
                top: 0,
                width: 188,
                height: 256
            }
        );
        let area: u64 = ts.iter().map(|t| t.width as u64 * t.height as u64).sum();
        assert_eq!(area, w as u64 * h as u64);
        assert!(ts.len() as u64 <= max_tiles(w, h));
        let pixels: Vec<u8> = (0..w * h * c as u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut back = vec![0u8; pixels.len()];
        for t in &ts {
            paste(&mut back, w, c, *t, &crop(&pixels, w, c, *t));
        }
        assert_eq!(back, pixels);
    }

    #[test]
    fn layout_round_trips_and_damage_is_refused() {
        let chunks = vec![vec![4u8, 1, 2], vec![3u8; 10], vec![4u8], vec![4u8, 9]];
        let data = write(256, &chunks);
        let t = parse(&data, 300, 300).unwrap();
        assert_eq!(t.tiles.len(), 4);
        for ((_, got), want) in t.tiles.iter().zip(&chunks) {
            assert_eq!(got, &want.as_slice());
        }
        // One byte short, one byte over, a side out of range, an image that needs no tiles,
        // a tile that is itself tiled.
        assert!(parse(&data[..data.len() - 1], 300, 300).is_err());
        let mut over = data.clone();
        over.push(0);
        assert!(parse(&over, 300, 300).is_err());
        assert!(parse(&write(8, &chunks), 300, 300).is_err());
        assert!(parse(&data, 256, 256).is_err());
        let nested = write(256, &[vec![VERSION_TILED], vec![4], vec![4], vec![4]]);
        assert!(parse(&nested, 300, 300).is_err());
    }

    /// Several calls at once share the process's extra workers: no more than each caller and
    /// `MAX_TILE_THREADS` more run tiles at a time, and every call still gets all its results.
    #[test]
    fn concurrent_calls_share_the_extra_workers() {
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let callers = 4;
        std::thread::scope(|s| {
            for c in 0..callers {
                let (running, most) = (&running, &most);
                s.spawn(move || {
                    let got = run_each(40, 64, |i| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i + c
                    });
                    assert_eq!(got, (0..40).map(|i| i + c).collect::<Vec<_>>());
                });
            }
        });
        let most = most.load(Ordering::SeqCst);
        assert!(
            most <= callers + MAX_TILE_THREADS,
            "{most} tiles ran at once"
        );
    }

    #[test]
    fn run_each_keeps_index_order_at_any_thread_count() {
        for threads in [1, 2, 3, 64] {
            assert_eq!(
                run_each(10, threads, |i| i * i),
                (0..10).map(|i| i * i).collect::<Vec<_>>()
            );
        }
        assert!(run_each(0, 4, |i| i).is_empty());
    }
}
