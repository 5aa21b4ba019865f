//! Decoding an archive's chunks for `extract` and `verify`: in the order the caller needs them,
//! on every core, ahead of the caller but within a memory budget.
//!
//! A chunk's decode (a Bit-Swap stream above all) is sequential, so the parallelism is across
//! chunks: on the CPU, each worker thread decodes whole chunks, the next one not yet started;
//! on a GPU, one thread decodes groups of chunks in lock-step batches. Results are handed over
//! strictly in order, so what a caller does (and the first error it meets) does not depend on
//! the thread count or on timing. The workers also rebuild image files from their pixels, so
//! that the caller only writes (or checks) what it is handed.

use super::device;
use crate::archive::par::{ordered_map, Ordered, OrderedState};
use crate::archive::{Archive, Restored, Result};
use crate::codec::Registry;

/// How a reader decodes chunks: in units of `group` chunks, on `threads` threads.
pub(crate) struct Reading {
    pub group: usize,
    pub threads: usize,
}

/// How to read with `engine`; `threads` is the user's `-j` (default: all cores), which only a
/// CPU reader uses.
pub(crate) fn reading(engine: &device::Engine, threads: Option<u32>) -> Reading {
    if engine.is_some() {
        Reading {
            group: device::GPU_CHUNKS,
            threads: 1,
        }
    } else {
        Reading {
            group: 1,
            threads: threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                |n| n as usize,
            ),
        }
    }
}

/// Decoded bytes held ahead of the caller: more cores must not mean several huge files in
/// memory together. A unit that alone holds more is decoded when nothing else is held.
const READ_BUDGET: u64 = 1 << 30;

/// Units decoded ahead of the one the caller holds, per thread.
const AHEAD_PER_THREAD: usize = 2;

/// The decoded content a unit's chunks hold (their members' sizes, up to `upto`).
fn unit_bytes(archive: &Archive, unit: &[(usize, usize)]) -> u64 {
    let ix = &archive.index;
    unit.iter()
        .flat_map(|&(ci, upto)| ix.chunk_members[ci].iter().take(upto + 1))
        .map(|&m| ix.members[m as usize].size)
        .fold(0u64, u64::saturating_add)
}

/// A member's restored content: a file's bytes (an image file rebuilt from its pixels), or
/// why its file could not be rebuilt.
pub(crate) type Content = std::result::Result<Vec<u8>, String>;
type Decoded = (usize, Result<Vec<Content>>);

/// The state a stream's workers share; it must outlive the thread scope they run in.
pub(crate) type StreamState = OrderedState<Vec<Decoded>>;

/// Decoded chunks, handed out in the order given. Dropping it stops the workers after the
/// chunks they are decoding.
pub(crate) struct ChunkStream<'a> {
    units: Ordered<'a, Vec<Decoded>>,
    /// The unit the caller holds.
    current: Vec<Decoded>,
}

impl<'a> ChunkStream<'a> {
    /// Starts decoding `order` (chunk, last item needed), in units of `reading.group` chunks,
    /// on `reading.threads` threads of `scope`; `restore(member, item)` turns each decoded item
    /// into the member's content.
    pub fn start<'s>(
        scope: &'s std::thread::Scope<'s, 'a>,
        state: &'a StreamState,
        archive: &'a Archive,
        registry: &'a Registry,
        order: &[(usize, usize)],
        reading: &Reading,
        restore: &'a (dyn Fn(usize, Restored) -> Content + Sync),
    ) -> ChunkStream<'a> {
        let units: Vec<Vec<(usize, usize)>> = order
            .chunks(reading.group.max(1))
            .map(|u| u.to_vec())
            .collect();
        let costs = units.iter().map(|u| unit_bytes(archive, u)).collect();
        let threads = reading.threads.max(1);
        let decode = move |i: usize| {
            let unit = &units[i];
            let results = archive.read_chunks(unit, registry);
            let restored = results.into_iter().zip(unit).map(|(r, &(ci, _))| {
                let holders = &archive.index.chunk_members[ci];
                let items = r?.into_iter().zip(holders);
                Ok(items
                    .map(|(item, &m)| {
                        item.map_err(|e| e.to_string())
                            .and_then(|item| restore(m as usize, item))
                    })
                    .collect())
            });
            unit.iter().map(|u| u.0).zip(restored).collect()
        };
        let ahead = threads * AHEAD_PER_THREAD;
        ChunkStream {
            units: ordered_map(scope, state, costs, threads, READ_BUDGET, ahead, decode),
            current: Vec::new(),
        }
    }

    /// The items of `chunk`, which must be the chunk after the last one asked for in the order
    /// given (or the same one again).
    pub fn get(&mut self, chunk: usize) -> Result<&[Content]> {
        if !self.current.iter().any(|d| d.0 == chunk) {
            // Done with the unit held: its memory is free for the workers.
            self.current = self
                .units
                .next()
                .expect("chunks are asked for in the order given");
        }
        match self.current.iter().find(|d| d.0 == chunk) {
            Some((_, Ok(items))) => Ok(items),
            Some((_, Err(e))) => Err(e.clone()),
            None => unreachable!("chunks are asked for in the order given"),
        }
    }
}
