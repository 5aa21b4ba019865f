//! A counting global allocator for the decode-budget checks (spec/format.md 6.3): the tests in
//! `tests/decode_budget.rs` and every fuzz target that decodes install it, and run each decode
//! under `within`. The moment the calling thread's live allocations grow past the decode's
//! budget, it prints one line and aborts, before the memory is handed out, so a request of any
//! size is caught (a fuzzer reports it as a crash, with its stack), not only one above the
//! fuzzer's RSS limit.
//!
//!     #[global_allocator]
//!     static ALLOC: budget_support::Counting = budget_support::Counting;
//!
//! Counting is per thread: the decoders under test run on the calling thread (Lepton with its
//! single-thread pool, Bit-Swap with one net thread), so no allocation of theirs is missed, and
//! another thread's work never counts against them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    /// Bytes this thread has live, counted from its start (frees of another thread's blocks
    /// make it smaller, which only gives a decode more room, never less).
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The most `LIVE` may reach while `within` runs; `i64::MAX` outside it.
    static LIMIT: Cell<i64> = const { Cell::new(i64::MAX) };
    /// The highest `LIVE` seen since `within` started.
    static PEAK: Cell<i64> = const { Cell::new(0) };
    /// What `within` is running, for the message.
    static WHAT: Cell<&'static str> = const { Cell::new("") };
}

fn charge(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(n as i64);
        live.set(now);
        PEAK.with(|p| p.set(p.get().max(now)));
        let limit = LIMIT.with(|l| l.get());
        if now > limit {
            over_budget(n, now, limit);
        }
    });
}

fn credit(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n as i64)));
}

#[cold]
fn over_budget(request: usize, now: i64, limit: i64) -> ! {
    use std::io::Write;
    // The message itself allocates: lift the limit first.
    LIMIT.with(|l| l.set(i64::MAX));
    let start = START.with(|s| s.get());
    let _ = writeln!(
        std::io::stderr(),
        "decode budget exceeded: {}: an allocation of {request} bytes brings the decode to {} \
         bytes, over its budget of {}",
        WHAT.with(|w| w.get()),
        now - start,
        limit - start
    );
    std::process::abort();
}

thread_local! {
    static START: Cell<i64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        credit(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            credit(layout.size() - new_size);
        }
        System.realloc(ptr, layout, new_size)
    }
}

/// Runs `f` with this thread's allocations held to `budget` bytes beyond what it had live before
/// (aborting, with a line naming `what`, past it); returns `f`'s result and the peak it reached.
/// Only meaningful where `Counting` is the global allocator.
pub fn within<T>(what: &'static str, budget: u64, f: impl FnOnce() -> T) -> (T, u64) {
    let start = LIVE.with(|l| l.get());
    let outer = (
        LIMIT.with(|l| l.get()),
        PEAK.with(|p| p.get()),
        START.with(|s| s.get()),
        WHAT.with(|w| w.get()),
    );
    START.with(|s| s.set(start));
    WHAT.with(|w| w.set(what));
    PEAK.with(|p| p.set(start));
    let limit = start.saturating_add(budget.min(i64::MAX as u64) as i64);
    // A budget never loosens an enclosing one.
    LIMIT.with(|l| l.set(limit.min(outer.0)));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    LIMIT.with(|l| l.set(outer.0));
    PEAK.with(|p| p.set(outer.1.max(peak)));
    START.with(|s| s.set(outer.2));
    WHAT.with(|w| w.set(outer.3));
    (r, (peak - start).max(0) as u64)
}
