//! Work spread over threads without changing any result: each item is computed on its own, and
//! results come back in input order, whatever the thread count or timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Runs `f(i)` for every `i < n` on up to `threads` threads; results in order.
pub(crate) fn par_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    // One thread: no thread at all (`-j 1` spawns nothing).
    if threads <= 1 || n <= 1 {
        return (0..n).map(f).collect();
    }
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.min(n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = f(i);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item is mapped")
        })
        .collect()
}

/// The state an `Ordered` map's workers share; it must outlive the thread scope they run in.
pub(crate) struct OrderedState<T> {
    window: Mutex<Window<T>>,
    changed: Condvar,
}

struct Window<T> {
    /// The next item a worker starts.
    next: usize,
    /// Items the consumer is done with (their cost is free again).
    released: usize,
    /// Cost of the items started and not released.
    held: u64,
    /// Each finished item, or the panic of the worker that computed it.
    slots: Vec<Option<std::thread::Result<T>>>,
    stop: bool,
}

impl<T> OrderedState<T> {
    pub fn new() -> OrderedState<T> {
        OrderedState {
            window: Mutex::new(Window {
                next: 0,
                released: 0,
                held: 0,
                slots: Vec::new(),
                stop: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window<T>> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'g>(
        &self,
        w: std::sync::MutexGuard<'g, Window<T>>,
    ) -> std::sync::MutexGuard<'g, Window<T>> {
        self.changed.wait(w).unwrap_or_else(|p| p.into_inner())
    }
}

/// `work(i)` for every item `i`, computed on worker threads ahead of one consumer that takes the
/// results strictly in order (`next`), so that what it does cannot depend on the thread count or
/// on timing. Items started and not yet released by the consumer cost at most `budget` together
/// (an item that alone costs more starts when nothing else is held), and at most `ahead` items
/// run or wait ahead of the consumer. Dropping the consumer stops the workers after the items
/// they are on; a worker's panic is raised again in the consumer, when it takes that item.
pub(crate) struct Ordered<'a, T> {
    state: &'a OrderedState<T>,
    costs: Arc<Vec<u64>>,
    /// Items handed to the consumer; the last of them is released when it asks for the next.
    taken: usize,
}

pub(crate) fn ordered_map<'s, 'a, T, F>(
    scope: &'s std::thread::Scope<'s, 'a>,
    state: &'a OrderedState<T>,
    costs: Vec<u64>,
    threads: usize,
    budget: u64,
    ahead: usize,
    work: F,
) -> Ordered<'a, T>
where
    T: Send + 'a,
    F: Fn(usize) -> T + Send + Sync + 'a,
{
    let n = costs.len();
    state.lock().slots = (0..n).map(|_| None).collect();
    let costs = Arc::new(costs);
    let work = Arc::new(work);
    let ahead = ahead.max(1);
    for _ in 0..threads.max(1).min(n.max(1)) {
        let (costs, work) = (costs.clone(), work.clone());
        scope.spawn(move || loop {
            let i = {
                let mut w = state.lock();
                loop {
                    if w.stop || w.next >= n {
                        return;
                    }
                    let i = w.next;
                    let fits = i == w.released || w.held.saturating_add(costs[i]) <= budget;
                    if fits && i < w.released + ahead {
                        break;
                    }
                    w = state.wait(w);
                }
                let i = w.next;
                w.next += 1;
                w.held = w.held.saturating_add(costs[i]);
                i
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(i)));
            state.lock().slots[i] = Some(r);
            state.changed.notify_all();
        });
    }
    Ordered {
        state,
        costs,
        taken: 0,
    }
}

impl<T> Ordered<'_, T> {
    /// The next item's result, in order (`None` after the last): releases the one before.
    pub fn next(&mut self) -> Option<T> {
        let mut w = self.state.lock();
        if self.taken > 0 {
            w.held = w.held.saturating_sub(self.costs[self.taken - 1]);
            w.released = self.taken;
            self.state.changed.notify_all();
        }
        let i = self.taken;
        if i >= w.slots.len() {
            return None;
        }
        loop {
            match w.slots[i].take() {
                Some(Ok(r)) => {
                    self.taken += 1;
                    return Some(r);
                }
                Some(Err(panic)) => {
                    drop(w);
                    std::panic::resume_unwind(panic)
                }
                None => w = self.state.wait(w),
            }
        }
    }
}

impl<T> Drop for Ordered<'_, T> {
    fn drop(&mut self) {
        self.state.lock().stop = true;
        self.state.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Costs held at once by running or finished-but-unconsumed items, as the work sees them.
    struct Live {
        now: AtomicU64,
        max: AtomicU64,
    }

    #[test]
    fn results_come_in_order_within_the_budget() {
        let costs: Vec<u64> = vec![5, 1, 1, 20, 1, 1, 3, 3, 3, 2, 6, 1];
        let budget = 6;
        for threads in [1, 2, 4, 7] {
            let live = Live {
                now: AtomicU64::new(0),
                max: AtomicU64::new(0),
            };
            let state = OrderedState::new();
            let (c, l) = (&costs, &live);
            std::thread::scope(|s| {
                let mut items =
                    ordered_map(s, &state, costs.clone(), threads, budget, 8, move |i| {
                        let before = l.now.fetch_add(c[i], Ordering::SeqCst);
                        if c[i] > budget {
                            assert_eq!(
                                before, 0,
                                "item {i} (over the budget) started beside others"
                            );
                        }
                        l.max.fetch_max(before + c[i], Ordering::SeqCst);
                        // Uneven work, so that later items often finish first.
                        std::thread::sleep(std::time::Duration::from_millis((7 * i as u64) % 5));
                        i * 10
                    });
                for k in 0..costs.len() {
                    assert_eq!(items.next(), Some(k * 10));
                    // The consumer is done with item k before it asks for the next.
                    l.now.fetch_sub(c[k], Ordering::SeqCst);
                }
                assert_eq!(items.next(), None);
            });
            let max = live.max.load(Ordering::SeqCst);
            assert!(max <= 20, "threads {threads}: {max} held at once");
            assert!(
                max <= budget || max == 20,
                "threads {threads}: {max} held at once"
            );
        }
    }

    #[test]
    fn a_workers_panic_reaches_the_consumer_and_dropping_stops_the_rest() {
        let state = OrderedState::new();
        let started = AtomicU64::new(0);
        let s0 = &started;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|s| {
                let mut items = ordered_map(s, &state, vec![1; 100], 2, 1000, 2, move |i| {
                    s0.fetch_add(1, Ordering::SeqCst);
                    assert!(i != 1, "item 1 fails");
                    i
                });
                assert_eq!(items.next(), Some(0));
                items.next();
            })
        }));
        assert!(caught.is_err());
        // At most `ahead` items beyond the consumer were ever started.
        assert!(started.load(Ordering::SeqCst) <= 4, "{started:?}");
    }
}
