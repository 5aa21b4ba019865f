//! The levels code: images of few distinct pixel values (label maps, masks, binary and palette
//! images), coded as an index image over a table of their values (spec/levels.md).
//!
//! The context code predicts a sample as a smooth function of its neighbours, which is right
//! for photographs and wrong for a label map, whose value is nearly always one of its
//! neighbours' and whose numbers mean nothing as magnitudes. The levels code instead asks, in
//! turn, whether the pixel equals each distinct neighbour (W, N, NE, NW, NN, WW), with adaptive
//! binary probabilities in a context made of which neighbours equal which; only a value no
//! neighbour holds is coded as its index. Everything is integer arithmetic, and the state
//! carries from image to image of a chunk, as the context code's does.

use crate::ans::{cost_q16, AnsError, Stack, Q16};
use std::fmt;
use std::sync::OnceLock;

/// Most distinct pixel values (tuples of all colour samples) an image coded by levels may hold.
pub const MAX_LEVELS: usize = 256;

/// Precision of every coded decision: probabilities are out of `2^PRECISION`.
const PRECISION: u32 = 12;
/// Probabilities are kept in 1/65536 and start at one half.
const HALF: u16 = 1 << 15;
/// The adaptation rate's slowest step: a probability moves by `1 / 2^RATE_LIMIT` of its distance
/// to the outcome. Earlier steps are `1 / 2^floor(log2(n + 2))` after `n` updates, so a fresh
/// context learns fast.
const RATE_LIMIT: u32 = 6;

/// Bits of the context: nine equalities to W, three to N, and W's value for two-level images.
const CONTEXT_BITS: usize = 13;
const CONTEXTS: usize = 1 << CONTEXT_BITS;
/// Neighbours asked in turn, in this order: W, N, NE, NW, NN, WW (their distinct values).
const CANDIDATES: usize = 6;
/// A position outside the image: equal to nothing, not a candidate.
const OUTSIDE: u16 = u16::MAX;

/// An image's distinct values and each pixel's index among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Levels {
    pub width: usize,
    pub height: usize,
    /// Samples per pixel value: 1 or 3.
    pub channels: usize,
    /// The distinct values, `channels` bytes each, in increasing order (compared as byte
    /// strings); at most `MAX_LEVELS`.
    pub table: Vec<u8>,
    /// For each pixel in raster order, its value's index in `table`.
    pub index: Vec<u8>,
}

impl Levels {
    /// The levels of an image (`channels` interleaved samples a pixel), or `None` if it holds
    /// more than `MAX_LEVELS` distinct values.
    pub fn of(width: usize, height: usize, channels: usize, samples: &[u8]) -> Option<Levels> {
        assert_eq!(samples.len(), width * height * channels, "image size");
        let key = |px: &[u8]| px.iter().fold(0u32, |k, &s| k << 8 | s as u32);
        let mut seen: Vec<u32> = Vec::new();
        // Runs of equal pixels are the rule in such images: test the last value first.
        let mut last = None;
        for px in samples.chunks_exact(channels) {
            let k = key(px);
            if last == Some(k) {
                continue;
            }
            last = Some(k);
            if let Err(at) = seen.binary_search(&k) {
                if seen.len() == MAX_LEVELS {
                    return None;
                }
                seen.insert(at, k);
            }
        }
        let table: Vec<u8> = seen
            .iter()
            .flat_map(|&k| (0..channels).rev().map(move |c| (k >> (8 * c)) as u8))
            .collect();
        let index = samples
            .chunks_exact(channels)
            .map(|px| seen.binary_search(&key(px)).expect("seen") as u8)
            .collect();
        Some(Levels {
            width,
            height,
            channels,
            table,
            index,
        })
    }

    /// How many distinct values the image holds.
    pub fn count(&self) -> usize {
        self.table.len() / self.channels
    }

    /// The image's samples, `channels` a pixel.
    pub fn samples(&self) -> Vec<u8> {
        let c = self.channels;
        let mut out = Vec::with_capacity(self.index.len() * c);
        for &i in &self.index {
            out.extend_from_slice(&self.table[i as usize * c..][..c]);
        }
        out
    }
}

/// One adaptive binary probability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bit {
    /// The probability of a 1, in 1/65536: always in 1..=65535.
    p: u16,
    /// Updates so far, saturating.
    n: u8,
}

impl Bit {
    const FRESH: Bit = Bit { p: HALF, n: 0 };

    /// The interval of `bit` out of `2^PRECISION`: a 1 is `[0, f)`, a 0 `[f, 2^PRECISION)`,
    /// where `f` is the probability of a 1, at least 1 and at most `2^PRECISION - 1`.
    fn interval(self, bit: bool) -> (u32, u32) {
        let f = (u32::from(self.p) >> (16 - PRECISION)).clamp(1, (1 << PRECISION) - 1);
        if bit {
            (0, f)
        } else {
            (f, (1 << PRECISION) - f)
        }
    }

    fn update(&mut self, bit: bool) {
        let step = (31 - (u32::from(self.n) + 2).leading_zeros()).min(RATE_LIMIT);
        if bit {
            self.p += (u16::MAX - self.p) >> step;
        } else {
            self.p -= self.p >> step;
        }
        self.n = self.n.saturating_add(1);
    }
}

/// The levels code's adaptive state: fresh for each chunk, carried from image to image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelsModel {
    /// Per context and candidate: the probability that the pixel is that candidate.
    hit: Vec<[Bit; CANDIDATES]>,
    /// The binary tree over an escaped value's index (node 1 the root, node `2k + b` the child).
    escape: Vec<Bit>,
}

impl Default for LevelsModel {
    fn default() -> Self {
        LevelsModel {
            hit: vec![[Bit::FRESH; CANDIDATES]; CONTEXTS],
            escape: vec![Bit::FRESH; 2 * MAX_LEVELS],
        }
    }
}

/// What the coder sees at one pixel: its context and the distinct neighbour values to ask.
struct Pixel {
    context: usize,
    candidates: [u16; CANDIDATES],
    count: usize,
}

/// The context and candidates of pixel `(x, y)` of `index`, from the pixels before it.
fn pixel(index: &[u8], width: usize, levels: usize, x: usize, y: usize) -> Pixel {
    let at = |dx: isize, dy: isize| -> u16 {
        let (xx, yy) = (x as isize + dx, y as isize + dy);
        if xx < 0 || yy < 0 || xx >= width as isize {
            OUTSIDE
        } else {
            u16::from(index[yy as usize * width + xx as usize])
        }
    };
    let w = at(-1, 0);
    let n = at(0, -1);
    let (nw, ne, ww, nn) = (at(-1, -1), at(1, -1), at(-2, 0), at(0, -2));
    let far = [at(-2, -1), at(2, -1), at(-1, -2), at(1, -2)];
    let eq = |a: u16, b: u16| a == b && a != OUTSIDE;
    let mut context = 0usize;
    let to_w = [n, nw, ne, ww, nn, far[0], far[1], far[2], far[3]];
    for (bit, &t) in to_w.iter().enumerate() {
        context |= (eq(t, w) as usize) << bit;
    }
    for (bit, &t) in [ne, nw, nn].iter().enumerate() {
        context |= (eq(t, n) as usize) << (9 + bit);
    }
    context |= ((levels == 2 && w == 1) as usize) << 12;
    let mut candidates = [OUTSIDE; CANDIDATES];
    let mut count = 0;
    for v in [w, n, ne, nw, nn, ww] {
        if v != OUTSIDE && !candidates[..count].contains(&v) {
            candidates[count] = v;
            count += 1;
        }
    }
    Pixel {
        context,
        candidates,
        count,
    }
}

/// Bits of an escaped index: enough for `levels - 1`.
fn escape_depth(levels: usize) -> u32 {
    usize::BITS - (levels - 1).leading_zeros()
}

/// Runs the code over one image's pixels in raster order: `bit(state, value)` codes one decision
/// (the encoder's value given, the decoder's returned) and learns from it. `value(x, y)` gives
/// the encoder's index; the decoder writes what it decodes into `index` as it goes.
fn run(
    model: &mut LevelsModel,
    width: usize,
    height: usize,
    levels: usize,
    index: &mut [u8],
    mut bit: impl FnMut(&mut Bit, bool) -> Result<bool, LevelsError>,
) -> Result<(), LevelsError> {
    if levels <= 1 {
        index.fill(0);
        return Ok(());
    }
    let depth = escape_depth(levels);
    for y in 0..height {
        for x in 0..width {
            let px = pixel(index, width, levels, x, y);
            let here = y * width + x;
            let truth = index[here];
            let mut found = None;
            for j in 0..px.count {
                let c = px.candidates[j];
                // The last candidate when every level is a candidate: no other value is left.
                if j + 1 == px.count && px.count == levels {
                    found = Some(c as u8);
                    break;
                }
                let state = &mut model.hit[px.context][j];
                if bit(state, u16::from(truth) == c)? {
                    found = Some(c as u8);
                    break;
                }
            }
            let value = match found {
                Some(v) => v,
                // One level left outside the candidates: it is that one.
                None if levels - px.count == 1 => (0..levels as u16)
                    .find(|v| !px.candidates[..px.count].contains(v))
                    .expect("one level left")
                    as u8,
                None => {
                    let mut node = 1usize;
                    for d in (0..depth).rev() {
                        let b = bit(&mut model.escape[node], truth >> d & 1 == 1)?;
                        node = 2 * node + b as usize;
                    }
                    let v = node - (1 << depth);
                    if v >= levels || px.candidates[..px.count].contains(&(v as u16)) {
                        return Err(LevelsError("an escaped value out of place".into()));
                    }
                    v as u8
                }
            };
            index[here] = value;
        }
    }
    Ok(())
}

/// The cost of each decision's probability out of `2^PRECISION`, in 1/65536 bits.
fn cost_table() -> &'static [Q16] {
    static TABLE: OnceLock<Vec<Q16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..1u32 << PRECISION)
            .map(|f| cost_q16(f.max(1), PRECISION))
            .collect()
    })
}

/// What coding `image` after the images `model` has seen would cost, in 1/65536 bits, leaving
/// `model` as coding it would. The table is not counted.
pub fn cost(model: &mut LevelsModel, image: &Levels) -> Q16 {
    let table = cost_table();
    let mut total = 0;
    let mut index = image.index.clone();
    run(
        model,
        image.width,
        image.height,
        image.count(),
        &mut index,
        |state, b| {
            total += table[state.interval(b).1 as usize];
            state.update(b);
            Ok(b)
        },
    )
    .expect("the encoder's own values");
    total
}

/// The levels block of a chunk (spec/levels.md 3): each image's table, then one rANS message
/// with every image's decisions, coded in order with one carried state.
pub fn encode(images: &[&Levels]) -> Vec<u8> {
    let mut model = LevelsModel::default();
    let mut out = Vec::new();
    let mut intervals: Vec<(u32, u32)> = Vec::new();
    for img in images {
        write_table(&mut out, img);
        let mut index = img.index.clone();
        run(
            &mut model,
            img.width,
            img.height,
            img.count(),
            &mut index,
            |state, b| {
                intervals.push(state.interval(b));
                state.update(b);
                Ok(b)
            },
        )
        .expect("the encoder's own values");
    }
    // The decoder pops in coding order, so the encoder pushes in reverse.
    let mut stack = Stack::new(1);
    for &(start, freq) in intervals.iter().rev() {
        stack.push(0, start, freq, PRECISION);
    }
    out.extend_from_slice(&stack.to_bytes());
    out
}

/// The bytes `image`'s table takes in a levels block.
pub fn table_len(image: &Levels) -> usize {
    1 + match image.channels == 1 && image.count() > 32 {
        true => 32,
        false => image.table.len(),
    }
}

/// A table as the block holds it: `count - 1`, then the values (for one channel and more than 32
/// values, a 256-bit map of the values present instead).
fn write_table(out: &mut Vec<u8>, img: &Levels) {
    out.push((img.count() - 1) as u8);
    if img.channels == 1 && img.count() > 32 {
        let mut map = [0u8; 32];
        for &v in &img.table {
            map[v as usize / 8] |= 1 << (v % 8);
        }
        out.extend_from_slice(&map);
    } else {
        out.extend_from_slice(&img.table);
    }
}

/// The shape of an image of a levels block: width, height and samples per value (1 or 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelsError(pub String);

impl fmt::Display for LevelsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "levels block: {}", self.0)
    }
}

impl std::error::Error for LevelsError {}

impl From<AnsError> for LevelsError {
    fn from(e: AnsError) -> Self {
        LevelsError(e.to_string())
    }
}

/// Decodes the first `upto + 1` images of a levels block holding images of `shapes`, as
/// samples (`channels` a pixel). Allocates the images and fixed tables only: the shapes come
/// from the member table, which the caller has checked against its budget.
pub fn decode(block: &[u8], shapes: &[Shape], upto: usize) -> Result<Vec<Vec<u8>>, LevelsError> {
    let bad = |m: &str| LevelsError(m.to_string());
    let mut pos = 0usize;
    let mut tables = Vec::with_capacity(shapes.len());
    for s in shapes {
        if !matches!(s.channels, 1 | 3) {
            return Err(bad("an image of neither 1 nor 3 channels"));
        }
        let count = *block.get(pos).ok_or_else(|| bad("truncated table"))? as usize + 1;
        pos += 1;
        let table = if s.channels == 1 && count > 32 {
            let map = block
                .get(pos..pos + 32)
                .ok_or_else(|| bad("truncated table"))?;
            pos += 32;
            let t: Vec<u8> = (0..=255u8)
                .filter(|&v| map[v as usize / 8] >> (v % 8) & 1 == 1)
                .collect();
            if t.len() != count {
                return Err(bad("a value map that does not hold its count"));
            }
            t
        } else {
            let n = count * s.channels;
            let t = block
                .get(pos..pos + n)
                .ok_or_else(|| bad("truncated table"))?;
            pos += n;
            if t.chunks_exact(s.channels)
                .zip(t.chunks_exact(s.channels).skip(1))
                .any(|(a, b)| a >= b)
            {
                return Err(bad("a table out of order"));
            }
            t.to_vec()
        };
        tables.push((count, table));
    }
    let mut stack = Stack::from_bytes(&block[pos..])?;
    if stack.lanes() != 1 {
        return Err(bad("a message of more than one lane"));
    }
    let mut model = LevelsModel::default();
    let mut out = Vec::with_capacity(upto + 1);
    for (s, (count, table)) in shapes.iter().zip(&tables).take(upto + 1) {
        let mut index = vec![0u8; s.width * s.height];
        run(
            &mut model,
            s.width,
            s.height,
            *count,
            &mut index,
            |state, _| {
                let (start1, f1) = state.interval(true);
                let b = stack.peek(0, PRECISION) < start1 + f1;
                let (start, freq) = state.interval(b);
                stack.pop(0, start, freq, PRECISION);
                state.update(b);
                Ok(b)
            },
        )?;
        let levels = Levels {
            width: s.width,
            height: s.height,
            channels: s.channels,
            table: table.clone(),
            index,
        };
        out.push(levels.samples());
    }
    if upto + 1 >= shapes.len() && stack.check_initial()? != 0 {
        return Err(bad("data left after the last image"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
