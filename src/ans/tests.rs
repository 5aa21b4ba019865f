//! Hand-computed vectors: they pin the formulas of spec/ans.md, so a change
//! of arithmetic or layout fails here first.

use super::*;

#[test]
fn push_matches_the_spec_example() {
    // spec/ans.md 3.2 example: 2^32 = 5 * 858993459 + 1.
    let mut s = Stack::new(1);
    s.push(0, 3, 5, 4);
    assert_eq!(s.heads(), &[858_993_459u64 * 16 + 1 + 3]);
    assert!(s.tail().is_empty());
    assert_eq!(s.peek(0, 4), 4);
    s.pop(0, 3, 5, 4);
    assert_eq!(s.heads(), &[HEAD_MIN]);
}

#[test]
fn push_renormalises_exactly_at_the_threshold() {
    // Threshold for freq 1, p 8: head >= 1 * 2^56 moves a word.
    let mut s = Stack {
        heads: vec![(1 << 56) - 1, 1 << 56],
        tail: vec![],
        borrowed: 0,
        journal: None,
    };
    s.push(0, 0, 1, 8);
    assert!(
        s.tail().is_empty(),
        "just below the threshold must not renormalise"
    );
    s.push(1, 0, 1, 8);
    assert_eq!(s.tail(), &[0]);
    assert_eq!(s.heads()[1], 1 << 32);
}

#[test]
fn supply_vectors() {
    // spec/ans.md 3.4: the words beneath an empty tail.
    let want = [0x4BC0FBEB, 0x45EB667D, 0x80F9FF12, 0xBCAD2D54];
    for (k, &w) in want.iter().enumerate() {
        assert_eq!(supply_word(k as u64), w, "S({k})");
    }
}

#[test]
fn empty_pop_reads_the_supply_and_push_gives_it_back() {
    let mut s = Stack::new(1);
    let bits = Uniform::bits(8).unwrap();
    assert_eq!(s.pop_symbol(0, &bits), 0);
    assert_eq!(s.borrowed(), 1);
    assert_eq!(s.heads(), &[(1u64 << 56) | supply_word(0) as u64]);
    s.push_symbol(0, &bits, 0);
    assert_eq!(s.heads(), &[HEAD_MIN]);
    assert_eq!(s.tail(), &[supply_word(0)]);
    assert_eq!(
        s.check_initial(),
        Err(AnsError::NotInitial(
            "the decoder read past the end of the tail"
        ))
    );
    let back = Stack::from_bytes(&s.to_bytes()).unwrap();
    assert_eq!(back.check_initial(), Ok(1));
    // A tail that is not the supply's words is unread data.
    let mut wrong = back.clone();
    wrong.tail[0] ^= 1;
    assert!(wrong.check_initial().is_err());
}

#[test]
fn fresh_stack_serialises_to_the_spec_bytes() {
    assert_eq!(Stack::new(1).to_bytes(), vec![1, 0, 0, 0, 0, 0, 1]);
    let mut s = Stack::new(5);
    s.heads[1] = u64::MAX;
    s.heads[4] = 0x1_0000_0102;
    s.tail = vec![0x0403_0201];
    let b = s.to_bytes();
    let want: Vec<u8> = [
        &[5u8, 0b0000_1100, 0b0000_0000][..],
        &[0, 0, 0, 0, 1],
        &[0xff; 8],
        &[0, 0, 0, 0, 1],
        &[0, 0, 0, 0, 1],
        &[2, 1, 0, 0, 1],
        &[1, 2, 3, 4],
    ]
    .concat();
    assert_eq!(b, want);
    assert_eq!(s.serialized_len(), want.len());
    assert_eq!(Stack::from_bytes(&b).unwrap(), s);
}

#[test]
fn from_bytes_names_each_defect() {
    let good = Stack::new(1).to_bytes();
    assert_eq!(
        Stack::from_bytes(&[]),
        Err(AnsError::Truncated("lane count"))
    );
    assert_eq!(Stack::from_bytes(&[0]), Err(AnsError::BadLaneCount));
    assert_eq!(
        Stack::from_bytes(&[0x81, 0x00]),
        Err(AnsError::BadLaneCount)
    );
    assert_eq!(
        Stack::from_bytes(&[0xff, 0xff, 0xff, 0x7f]),
        Err(AnsError::BadLaneCount)
    );
    assert_eq!(
        Stack::from_bytes(&good[..6]),
        Err(AnsError::Truncated("heads"))
    );
    assert_eq!(
        Stack::from_bytes(&[1, 0b100, 0, 0, 0, 0, 1]),
        Err(AnsError::BadPadding)
    );
    assert_eq!(
        Stack::from_bytes(&[1, 0, 0, 0, 0, 0, 0]),
        Err(AnsError::BadHead { lane: 0 })
    );
    assert_eq!(
        Stack::from_bytes(&[1, 1, 0, 0, 0, 0, 1, 0]),
        Err(AnsError::BadHead { lane: 0 })
    );
    let mut ragged = good.clone();
    ragged.extend_from_slice(&[9, 9]);
    assert_eq!(
        Stack::from_bytes(&ragged),
        Err(AnsError::RaggedTail { len: 2 })
    );
}

#[test]
fn errors_are_single_lines() {
    let all = [
        AnsError::BadPrecision(40),
        AnsError::BadDistribution("x"),
        AnsError::Truncated("heads"),
        AnsError::BadLaneCount,
        AnsError::BadHead { lane: 3 },
        AnsError::BadPadding,
        AnsError::RaggedTail { len: 3 },
        AnsError::NotInitial("x"),
    ];
    for e in all {
        let s = e.to_string();
        assert!(
            !s.is_empty() && !s.contains('\n') && !s.ends_with('.'),
            "{s:?}"
        );
    }
}

#[test]
fn models_reject_bad_tables() {
    assert_eq!(Categorical::new(&[1, 1], 0), Err(AnsError::BadPrecision(0)));
    assert_eq!(
        Categorical::new(&[1, 1], 32),
        Err(AnsError::BadPrecision(32))
    );
    assert!(Categorical::new(&[], 4).is_err());
    assert!(Categorical::new(&[16, 0], 4).is_err());
    assert!(Categorical::new(&[8, 7], 4).is_err());
    assert!(Categorical::new(&[8, 9], 4).is_err());
    assert!(Categorical::new(&[u32::MAX, u32::MAX, 2], 31).is_err());
    assert!(Categorical::new(&[8, 8], 4).is_ok());
    assert!(Uniform::new(0, 4).is_err());
    assert!(Uniform::new(17, 4).is_err());
    assert!(Uniform::bits(32).is_err());
}

#[test]
fn uniform_follows_the_fixed_rule() {
    // 2^4 = 16 = 3 * 5 + 1: symbol 0 gets 6, symbols 1 and 2 get 5.
    let u = Uniform::new(3, 4).unwrap();
    assert_eq!(
        [u.interval(0), u.interval(1), u.interval(2)],
        [(0, 6), (6, 5), (11, 5)]
    );
    for cum in 0..16 {
        let (s, start, freq) = u.find(cum);
        assert!(start <= cum && cum < start + freq && u.interval(s) == (start, freq));
    }
    let u = Uniform::new(1, 1).unwrap();
    assert_eq!(u.interval(0), (0, 2));
}

/// Random pushes and pops after a checkpoint, then a rollback: the stack must equal the copy
/// taken at the checkpoint, including when the pops dig below it and into the supply.
#[test]
fn rollback_restores_the_checkpoint_exactly() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let mut s = Stack::new(1);
        // A prefix of real data (sometimes none), so rollbacks meet both the tail and the supply.
        for _ in 0..(rand() % 40) {
            s.push(0, (rand() % 200) as u32, 1 + (rand() % 50) as u32, 8);
        }
        let before = s.clone();
        let cp = s.checkpoint();
        for _ in 0..(rand() % 300) {
            let p = 4 + (rand() % 20) as u32;
            if rand() % 2 == 0 {
                let freq = 1 + (rand() % (1u64 << (p - 1))) as u32;
                s.push(0, 0, freq, p);
            } else {
                let cum = s.peek(0, p);
                // Pop a symbol of width 1 at `cum`: the most information a pop can take.
                s.pop(0, cum, 1, p);
            }
        }
        s.rollback(cp);
        assert_eq!(s, before, "round {round}");
    }
}

#[test]
fn commit_keeps_the_work_and_stops_journalling() {
    let mut s = Stack::new(1);
    s.push(0, 3, 5, 8);
    let _cp = s.checkpoint();
    s.push(0, 7, 9, 8);
    let after = s.clone();
    s.commit();
    assert_eq!(s.heads(), after.heads());
    assert_eq!(s.tail(), after.tail());
    assert!(s.journal.is_none());
}
