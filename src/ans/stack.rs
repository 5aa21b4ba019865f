//! The interleaved rANS stack: one 64-bit head per lane, one shared tail of
//! 32-bit words. Every formula here is written out in spec/ans.md section 3.

use super::{AnsError, Distribution, HEAD_MIN, MAX_LANES, MAX_PRECISION};

/// A last-in-first-out rANS coder with `lanes()` interleaved heads.
///
/// Invariant (kept by every operation, and checked by `from_bytes`): every head
/// lies in `[2^32, 2^64)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub(super) heads: Vec<u64>,
    /// Bottom of the stack first; `push` appends, `pop` takes from the end.
    pub(super) tail: Vec<u32>,
    /// Words a pop read from the supply beneath an empty tail. Not serialised.
    pub(super) borrowed: u64,
    /// While a [`Checkpoint`] is open: what it needs to undo the pops since. Not serialised.
    pub(super) journal: Option<Journal>,
}

/// The tail words below a checkpoint's length that pops have taken since, deepest last. Words
/// pushed after the checkpoint are not kept: rolling back simply drops them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Journal {
    low_water: usize,
    taken: Vec<u32>,
}

/// A state of a [`Stack`] to roll back to (see [`Stack::checkpoint`]).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    heads: Vec<u64>,
    borrowed: u64,
    len: usize,
}

/// Word `k` of the endless supply beneath the tail (spec/ans.md 3.4). The words are
/// pseudo-random rather than zero because a bits-back encoder *samples* latents with the
/// words it pops: zero words would always pick the lowest bins, far out in the posterior's
/// tail, and make the first image of every chunk expensive.
#[inline]
pub fn supply_word(k: u64) -> u32 {
    // MurmurHash3's 32-bit finaliser over a Weyl sequence: cheap and well mixed.
    let mut x = (k as u32)
        .wrapping_mul(0x9E37_79B9)
        .wrapping_add(0x7F4A_7C15);
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE35);
    x ^ (x >> 16)
}

#[inline(always)]
fn debug_check_interval(start: u32, freq: u32, precision: u32) {
    debug_assert!(
        (1..=MAX_PRECISION).contains(&precision),
        "precision {precision} outside 1..={MAX_PRECISION}"
    );
    debug_assert!(freq >= 1, "frequency must be at least 1");
    debug_assert!(
        start as u64 + freq as u64 <= 1u64 << precision,
        "interval [{start}, {start}+{freq}) exceeds 2^{precision}"
    );
}

impl Stack {
    /// A fresh stack: every head exactly 2^32, empty tail, nothing borrowed.
    ///
    /// Panics if `lanes` is 0 or above `MAX_LANES` (a programmer error).
    pub fn new(lanes: usize) -> Stack {
        assert!(
            (1..=MAX_LANES).contains(&lanes),
            "lane count {lanes} outside 1..={MAX_LANES}"
        );
        Stack {
            heads: vec![HEAD_MIN; lanes],
            tail: Vec::new(),
            borrowed: 0,
            journal: None,
        }
    }

    /// Number of interleaved lanes.
    #[inline]
    pub fn lanes(&self) -> usize {
        self.heads.len()
    }

    /// The lane heads, lane 0 first.
    pub fn heads(&self) -> &[u64] {
        &self.heads
    }

    /// The shared tail, bottom word first.
    pub fn tail(&self) -> &[u32] {
        &self.tail
    }

    /// Starts a new count of `borrowed()`: a decoder handed the encoder's own stack (rather than
    /// its serialised bytes, which do not carry the count) calls this before decoding.
    pub fn clear_borrowed(&mut self) {
        self.borrowed = 0;
    }

    /// How many words pops have read from an empty tail so far (the "initial
    /// bits" of bits-back coding are `32 * borrowed()`).
    pub fn borrowed(&self) -> u64 {
        self.borrowed
    }

    /// Encodes the interval `[start, start + freq)` out of `2^precision` on `lane`.
    ///
    /// Preconditions (programmer errors, checked by debug assertions; `freq == 0`
    /// panics on division in release): `1 <= precision <= 31`, `freq >= 1`,
    /// `start + freq <= 2^precision`.
    #[inline]
    pub fn push(&mut self, lane: usize, start: u32, freq: u32, precision: u32) {
        debug_check_interval(start, freq, precision);
        let mut x = self.heads[lane];
        // x >= freq * 2^(64-p), written without the product (it may not fit 64 bits).
        if x >> (64 - precision) >= freq as u64 {
            self.tail.push(x as u32);
            x >>= 32;
        }
        let f = freq as u64;
        self.heads[lane] = ((x / f) << precision) + (x % f) + start as u64;
    }

    /// The value in `[0, 2^precision)` that identifies the symbol on top of `lane`:
    /// the caller finds the interval containing it, then calls `pop`.
    #[inline]
    pub fn peek(&self, lane: usize, precision: u32) -> u32 {
        debug_assert!((1..=MAX_PRECISION).contains(&precision));
        (self.heads[lane] & ((1u64 << precision) - 1)) as u32
    }

    /// Removes the symbol whose interval `[start, start + freq)` contains
    /// `peek(lane, precision)`. Division free. An empty tail supplies the next
    /// supply word and counts it in `borrowed()` (spec/ans.md 3.4).
    #[inline]
    pub fn pop(&mut self, lane: usize, start: u32, freq: u32, precision: u32) {
        debug_check_interval(start, freq, precision);
        let x = self.heads[lane];
        let cum = x & ((1u64 << precision) - 1);
        debug_assert!(
            cum >= start as u64 && cum < start as u64 + freq as u64,
            "interval does not contain the peeked value"
        );
        // Cannot overflow when the interval contains cum (spec/ans.md 3.3); the
        // wrapping ops only keep a caller's bug from panicking in release.
        let mut x = (freq as u64)
            .wrapping_mul(x >> precision)
            .wrapping_add(cum)
            .wrapping_sub(start as u64);
        if x < HEAD_MIN {
            x = (x << 32) | self.take_word() as u64;
        }
        self.heads[lane] = x;
    }

    #[inline(always)]
    fn take_word(&mut self) -> u32 {
        match self.tail.pop() {
            Some(w) => {
                if let Some(j) = &mut self.journal {
                    // A word below every length reached since the checkpoint is one it held.
                    if self.tail.len() < j.low_water {
                        j.low_water = self.tail.len();
                        j.taken.push(w);
                    }
                }
                w
            }
            None => {
                let w = supply_word(self.borrowed);
                self.borrowed += 1;
                w
            }
        }
    }

    /// Opens a checkpoint: until [`Stack::rollback`] or [`Stack::commit`], the stack keeps what
    /// it needs to return to this exact state (the words pops take, nothing else). An encoder
    /// uses it to try one way of coding something and undo it if another way is cheaper.
    /// Opening a new checkpoint closes the previous one.
    pub fn checkpoint(&mut self) -> Checkpoint {
        self.journal = Some(Journal {
            low_water: self.tail.len(),
            taken: Vec::new(),
        });
        Checkpoint {
            heads: self.heads.clone(),
            borrowed: self.borrowed,
            len: self.tail.len(),
        }
    }

    /// Returns to the state of `cp`, which must be the checkpoint opened last (programmer error
    /// otherwise: panics if no checkpoint is open).
    pub fn rollback(&mut self, cp: Checkpoint) {
        let j = self
            .journal
            .take()
            .expect("rollback without an open checkpoint");
        self.tail.truncate(j.low_water);
        self.tail.extend(j.taken.iter().rev());
        debug_assert_eq!(self.tail.len(), cp.len);
        self.heads = cp.heads;
        self.borrowed = cp.borrowed;
    }

    /// Keeps everything done since the open checkpoint and stops journalling.
    pub fn commit(&mut self) {
        self.journal = None;
    }

    /// Pushes `symbol` under the model `dist` on `lane`.
    #[inline]
    pub fn push_symbol<D: Distribution + ?Sized>(&mut self, lane: usize, dist: &D, symbol: u32) {
        let (start, freq) = dist.interval(symbol);
        self.push(lane, start, freq, dist.precision());
    }

    /// Pops a symbol from `lane` under the model `dist` and returns it.
    #[inline]
    pub fn pop_symbol<D: Distribution + ?Sized>(&mut self, lane: usize, dist: &D) -> u32 {
        let p = dist.precision();
        let (symbol, start, freq) = dist.find(self.peek(lane, p));
        self.pop(lane, start, freq, p);
        symbol
    }

    /// One push on every lane, `intervals[i]` = `(start, freq)` for lane `i`.
    /// Byte-identical to `push(i, ..)` for `i = 0, 1, .., lanes-1`: lanes that
    /// renormalise append their words in ascending lane order (spec/ans.md 3.5).
    ///
    /// Panics if `intervals.len() != lanes()`.
    pub fn push_step(&mut self, intervals: &[(u32, u32)], precision: u32) {
        assert_eq!(
            intervals.len(),
            self.lanes(),
            "push_step needs one interval per lane"
        );
        for (lane, &(start, freq)) in intervals.iter().enumerate() {
            self.push(lane, start, freq, precision);
        }
    }

    /// `peek` on every lane: `out[i]` receives lane `i`'s value.
    ///
    /// Panics if `out.len() != lanes()`.
    pub fn peek_step(&self, precision: u32, out: &mut [u32]) {
        assert_eq!(out.len(), self.lanes(), "peek_step needs one slot per lane");
        for (lane, slot) in out.iter_mut().enumerate() {
            *slot = self.peek(lane, precision);
        }
    }

    /// The inverse of `push_step`: lanes refill from the tail in descending lane
    /// order, so the highest lane takes the top word.
    ///
    /// Panics if `intervals.len() != lanes()`.
    pub fn pop_step(&mut self, intervals: &[(u32, u32)], precision: u32) {
        assert_eq!(
            intervals.len(),
            self.lanes(),
            "pop_step needs one interval per lane"
        );
        for (lane, &(start, freq)) in intervals.iter().enumerate().rev() {
            self.pop(lane, start, freq, precision);
        }
    }

    /// Checks that a decoder that ran every operation backwards is back where
    /// and a tail holding exactly the supply words the encoder borrowed, given
    /// and a tail of 0 words only (the words the encoder borrowed, now given
    /// back). Returns how many such words there are.
    pub fn check_initial(&self) -> Result<usize, AnsError> {
        if self.heads.iter().any(|&h| h != HEAD_MIN) {
            return Err(AnsError::NotInitial("a head is not 2^32"));
        }
        if self.borrowed != 0 {
            return Err(AnsError::NotInitial(
                "the decoder read past the end of the tail",
            ));
        }
        // The words given back are the supply's first words, the first one on top.
        let n = self.tail.len() as u64;
        if self
            .tail
            .iter()
            .enumerate()
            .any(|(i, &w)| w != supply_word(n - 1 - i as u64))
        {
            return Err(AnsError::NotInitial("unread data left in the tail"));
        }
        Ok(self.tail.len())
    }

    /// Bits stored above the initial state: `32 * tail words + sum over lanes of
    /// (floor(log2 head) - 32)`. Differences of `bit_len` between two points
    /// track the information pushed in between to within one bit per lane.
    pub fn bit_len(&self) -> u64 {
        let heads: u64 = self
            .heads
            .iter()
            .map(|&h| (63 - h.leading_zeros() as u64) - 32)
            .sum();
        32 * self.tail.len() as u64 + heads
    }
}
