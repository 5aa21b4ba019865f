// rANS push and pop for many independent streams at once, one thread per stream
// (spec/ans.md 3.2-3.4). A stream is one lane: a 64-bit head and its own tail of 32-bit words.
//
// Layouts, chosen so that neighbouring threads touch neighbouring words:
// - symbol t of stream s: start[t * n + s], freq[t * n + s] (and sym[t * n + s]);
// - tail word k of stream s: tail[k * n + s], k < cap; tail_len[s] words are in use;
// - borrowed[s]: supply words read under an empty tail (spec/ans.md 3.4);
// - status[s]: 0, or 1 if a push found the tail full (the stream is then left unchanged from
//   that symbol on, and the caller reports an error).
#include "portable.h"

// Word k of the supply beneath an empty tail (spec/ans.md 3.4).
BSAR_FN u32 supply_word(u64 k) {
    u32 x = (u32)k * 0x9E3779B9u + 0x7F4A7C15u;
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    return x ^ (x >> 16);
}

BSAR_FN u64 push_one_symbol(u64 x, u32 start, u32 freq, u32 p, u32 *tail, u64 n, u32 s,
                            u32 *len, u32 cap, u32 *status) {
    if ((x >> (64 - p)) >= (u64)freq) {
        if (*len >= cap) {
            *status = 1;
            return x;
        }
        tail[(u64)(*len) * n + s] = (u32)x;
        *len += 1;
        x >>= 32;
    }
    return ((x / freq) << p) + (x % freq) + start;
}

BSAR_FN u64 pop_one_symbol(u64 x, u32 start, u32 freq, u32 p, const u32 *tail, u64 n, u32 s,
                           u32 *len, u64 *borrowed) {
    u64 cum = x & ((1ull << p) - 1);
    x = (u64)freq * (x >> p) + cum - start;
    if (x < (1ull << 32)) {
        u32 w;
        if (*len > 0) {
            *len -= 1;
            w = tail[(u64)(*len) * n + s];
        } else {
            w = supply_word(*borrowed);
            *borrowed += 1;
        }
        x = (x << 32) | w;
    }
    return x;
}

// Pushes symbols t = 0, 1, .., count-1 on stream s.
BSAR_FN void rans_push_one(u64 s, u32 n, u32 count, u32 p, const u32 *start, const u32 *freq,
                           u64 *heads, u32 *tail, u32 *tail_len, u32 cap, u32 *status) {
    u64 x = heads[s];
    u32 len = tail_len[s];
    u32 st = status[s];
    for (u32 t = 0; t < count && st == 0; t++) {
        u64 k = (u64)t * n + s;
        x = push_one_symbol(x, start[k], freq[k], p, tail, n, (u32)s, &len, cap, &st);
    }
    heads[s] = x;
    tail_len[s] = len;
    status[s] = st;
}
KERNEL_1D(rans_push, n,
          (u32 n, u32 count, u32 p, const u32 *start, const u32 *freq, u64 *heads, u32 *tail,
           u32 *tail_len, u32 cap, u32 *status),
          (i, n, count, p, start, freq, heads, tail, tail_len, cap, status))

// Undoes rans_push with the same intervals: pops t = count-1, .., 0 on stream s. (The caller
// knows the intervals; for a real decoder see rans_pop_cdf.)
BSAR_FN void rans_pop_one(u64 s, u32 n, u32 count, u32 p, const u32 *start, const u32 *freq,
                          u64 *heads, const u32 *tail, u32 *tail_len, u64 *borrowed) {
    u64 x = heads[s];
    u32 len = tail_len[s];
    u64 b = borrowed[s];
    for (u32 t = count; t-- > 0;) {
        u64 k = (u64)t * n + s;
        x = pop_one_symbol(x, start[k], freq[k], p, tail, n, (u32)s, &len, &b);
    }
    heads[s] = x;
    tail_len[s] = len;
    borrowed[s] = b;
}
KERNEL_1D(rans_pop, n,
          (u32 n, u32 count, u32 p, const u32 *start, const u32 *freq, u64 *heads,
           const u32 *tail, u32 *tail_len, u64 *borrowed),
          (i, n, count, p, start, freq, heads, tail, tail_len, borrowed))

// Decodes `count` symbols per stream under one categorical distribution: cdf[0..=nsym] with
// cdf[0] = 0, cdf[nsym] = 2^p, every bin nonempty (spec/ans.md 5). Symbols come out in the
// reverse order of the pushes: sym[t * n + s] for t = count-1, .., 0, so that the output equals
// the symbols rans_push was given. The bin is found by binary search (any search gives the
// same bin).
BSAR_FN void rans_pop_cdf_one(u64 s, u32 n, u32 count, u32 p, const u32 *cdf, u32 nsym,
                              u32 *sym, u64 *heads, const u32 *tail, u32 *tail_len,
                              u64 *borrowed) {
    u64 x = heads[s];
    u32 len = tail_len[s];
    u64 b = borrowed[s];
    for (u32 t = count; t-- > 0;) {
        u32 cum = (u32)(x & ((1ull << p) - 1));
        u32 lo = 0, hi = nsym;
        while (hi - lo > 1) {
            u32 mid = lo + (hi - lo) / 2;
            if (cdf[mid] <= cum) lo = mid; else hi = mid;
        }
        sym[(u64)t * n + s] = lo;
        x = pop_one_symbol(x, cdf[lo], cdf[lo + 1] - cdf[lo], p, tail, n, (u32)s, &len, &b);
    }
    heads[s] = x;
    tail_len[s] = len;
    borrowed[s] = b;
}
KERNEL_1D(rans_pop_cdf, n,
          (u32 n, u32 count, u32 p, const u32 *cdf, u32 nsym, u32 *sym, u64 *heads,
           const u32 *tail, u32 *tail_len, u64 *borrowed),
          (i, n, count, p, cdf, nsym, sym, heads, tail, tail_len, borrowed))
