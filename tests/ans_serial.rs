//! Serialisation of a sealed stack: exact round trips, a canonical encoding,
//! and hostile bytes that must give errors, never panics.

use bsar::ans::{AnsError, Stack, HEAD_MIN};
use proptest::prelude::*;

/// Bytes laid out by hand from spec/ans.md section 4 (independently of
/// `to_bytes`), for heads of every byte size 5..8 and any tail.
fn arb_layout() -> impl Strategy<Value = (Vec<u64>, Vec<u32>, Vec<u8>)> {
    let head =
        (32u32..64, any::<u64>()).prop_map(|(bits, r)| (1u64 << bits) | (r & ((1u64 << bits) - 1)));
    (
        prop::collection::vec(head, 1..200),
        prop::collection::vec(any::<u32>(), 0..50),
    )
        .prop_map(|(heads, tail)| {
            let mut bytes = Vec::new();
            let mut v = heads.len();
            while v >= 0x80 {
                bytes.push(0x80 | (v & 0x7f) as u8);
                v >>= 7;
            }
            bytes.push(v as u8);
            let size = |h: &u64| (64 - h.leading_zeros()).div_ceil(8) as usize;
            for group in heads.chunks(4) {
                bytes.push(
                    group
                        .iter()
                        .enumerate()
                        .map(|(i, h)| ((size(h) - 5) as u8) << (2 * i))
                        .sum(),
                );
            }
            for h in &heads {
                bytes.extend_from_slice(&h.to_le_bytes()[..size(h)]);
            }
            for w in &tail {
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            (heads, tail, bytes)
        })
}

fn arb_stack() -> impl Strategy<Value = Stack> {
    arb_layout().prop_map(|(_, _, bytes)| Stack::from_bytes(&bytes).unwrap())
}

fn varint_len(v: usize) -> usize {
    if v < 128 {
        1
    } else if v < 1 << 14 {
        2
    } else if v < 1 << 21 {
        3
    } else {
        4
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ans_layout_matches_the_spec_and_round_trips((heads, tail, bytes) in arb_layout()) {
        let s = Stack::from_bytes(&bytes).unwrap();
        prop_assert_eq!(s.heads(), &heads[..]);
        prop_assert_eq!(s.tail(), &tail[..]);
        prop_assert_eq!(s.serialized_len(), bytes.len());
        prop_assert_eq!(s.to_bytes(), bytes);
    }

    /// The encoding is canonical: whatever bytes parse re-serialise to exactly
    /// themselves. So a flipped bit either fails or yields a different stack.
    #[test]
    fn ans_mutated_bytes_fail_or_parse_canonically(s in arb_stack(), at: prop::sample::Index, bit in 0u8..8) {
        let mut bytes = s.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(t) = Stack::from_bytes(&bytes) {
            prop_assert_eq!(t.to_bytes(), bytes);
            prop_assert_ne!(t, s);
        }
    }

    #[test]
    fn ans_truncations_fail_or_lose_whole_tail_words(s in arb_stack(), cut: prop::sample::Index) {
        let bytes = s.to_bytes();
        let n = cut.index(bytes.len());
        match Stack::from_bytes(&bytes[..n]) {
            Err(_) => {}
            Ok(t) => {
                prop_assert_eq!(t.heads(), s.heads());
                prop_assert!(t.tail().len() < s.tail().len());
                prop_assert_eq!(t.to_bytes(), &bytes[..n]);
            }
        }
    }

    #[test]
    fn ans_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(t) = Stack::from_bytes(&bytes) {
            prop_assert_eq!(t.to_bytes(), bytes);
            prop_assert!(t.heads().iter().all(|&h| h >= HEAD_MIN));
        }
    }
}

#[test]
fn ans_huge_lane_counts_are_refused_before_allocating() {
    // 2^24 lanes (the maximum) announced in 4 bytes of input.
    assert_eq!(
        Stack::from_bytes(&[0x80, 0x80, 0x80, 0x08]),
        Err(AnsError::Truncated("heads"))
    );
    // One more than the maximum.
    assert_eq!(
        Stack::from_bytes(&[0x81, 0x80, 0x80, 0x08]),
        Err(AnsError::BadLaneCount)
    );
    // A varint that never ends.
    assert_eq!(Stack::from_bytes(&[0xff; 16]), Err(AnsError::BadLaneCount));
}

#[test]
fn ans_fresh_stacks_cost_five_and_a_quarter_bytes_per_lane() {
    for lanes in [1usize, 4, 32, 256, 1000] {
        let s = Stack::new(lanes);
        let want = varint_len(lanes) + lanes.div_ceil(4) + 5 * lanes;
        assert_eq!(s.to_bytes().len(), want, "lanes {lanes}");
        assert_eq!(Stack::from_bytes(&s.to_bytes()).unwrap(), s);
    }
}
