//! Coding many chunks at once, in lockstep, so that their net passes run as batches.
//!
//! A chunk's Bit-Swap stream is sequential: each patch needs the stack its predecessor left, and
//! each net's input needs the latents the previous net's distribution popped. What can run
//! together is the same step of *different* chunks. So every chunk of a batch runs the very
//! same procedure as [`super::encode`] / [`super::decode`] on a thread of its own, and its nets
//! go through a [`Batcher`]: a chunk that needs a net waits; when every chunk still coding is
//! waiting, the batcher groups the requests by (model, net), runs each group as one batch on
//! the engine it was given (the GPU's, in `bsar create --device gpu`), and hands every chunk its
//! share. Chunks of different sizes simply finish at different times and leave the batch.
//!
//! The procedure is not duplicated: the batcher is just another [`Nets`]. Interval computation
//! and rANS stay on the CPU, each chunk on its thread; only the nets are batched. The bytes are
//! those of the sequential coder, because a net's output for one input does not depend on the
//! rest of its batch (spec/model.md 4) and everything else is the same code.

use crate::ans::Stack;
use crate::bitswap::encode::{encode_chunk, Encoded};
use crate::bitswap::nets::Nets;
use crate::bitswap::scheme::{Precisions, Scheme};
use crate::bitswap::stream::{
    decode_with_code, DirectCode, Planes, PlanesShape, Policy, StreamError,
};
use crate::model::{Logistic, Model, Net};
use std::sync::{Condvar, Mutex, MutexGuard};

/// One chunk to encode: its model list, its images and the models that may stand in for each
/// (as [`encode_chunk`] takes them).
pub struct EncodeJob<'a> {
    pub models: Vec<&'a Model>,
    pub images: &'a [Planes],
    pub candidates: Vec<Vec<usize>>,
}

/// One chunk to decode (as [`super::decode`] takes it).
pub struct DecodeJob<'a> {
    pub models: Vec<&'a Model>,
    pub scheme: Scheme,
    pub prec: Precisions,
    pub stack: Stack,
    pub shapes: Vec<PlanesShape>,
    pub upto: usize,
    /// The chunk version's direct code.
    pub code: DirectCode,
}

/// Encodes every job; result `i` is what `encode_chunk(jobs[i]...)` returns, byte for byte.
/// `max_batch` bounds the inputs of one net pass (a group larger than it runs in parts).
pub fn encode_batch(
    nets: &dyn Nets,
    max_batch: usize,
    scheme: Scheme,
    prec: Precisions,
    policy: Policy,
    newest: crate::context::Version,
    jobs: &[EncodeJob],
) -> Vec<Result<Encoded, StreamError>> {
    run_jobs(nets, max_batch, jobs.len(), |i, client| {
        let j = &jobs[i];
        encode_chunk(
            client,
            &j.models,
            (scheme, prec, policy),
            j.images,
            &j.candidates,
            newest,
        )
    })
}

/// Decodes every job; result `i` is what `decode(jobs[i]...)` returns.
pub fn decode_batch(
    nets: &dyn Nets,
    max_batch: usize,
    jobs: Vec<DecodeJob>,
) -> Vec<Result<Vec<Planes>, StreamError>> {
    let jobs: Vec<Mutex<Option<DecodeJob>>> =
        jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    run_jobs(nets, max_batch, jobs.len(), |i, client| {
        let j = lock(&jobs[i]).take().expect("each job runs once");
        decode_with_code(
            client, &j.models, j.scheme, j.prec, j.stack, &j.shapes, j.upto, j.code,
        )
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `work(i, nets)` for every `i < n` on its own thread, with nets batched across threads;
/// the calling thread runs the batches (a GPU context stays on one thread).
fn run_jobs<R: Send>(
    nets: &dyn Nets,
    max_batch: usize,
    n: usize,
    work: impl Fn(usize, &Client) -> Result<R, StreamError> + Sync,
) -> Vec<Result<R, StreamError>> {
    let batcher = Batcher {
        state: Mutex::new(State {
            live: n,
            pending: Vec::new(),
            answers: Vec::new(),
            next_ticket: 0,
            stopped: false,
        }),
        wake_runner: Condvar::new(),
        wake_chunks: Condvar::new(),
    };
    let results: Vec<Mutex<Option<Result<R, StreamError>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for i in 0..n {
            let (batcher, work, results) = (&batcher, &work, &results);
            let spawned = std::thread::Builder::new()
                .name(format!("bsar-chunk-{i}"))
                .spawn_scoped(s, move || {
                    let _leaving = Leaving(batcher);
                    let r = work(i, &Client { batcher });
                    *lock(&results[i]) = Some(r);
                });
            if let Err(e) = spawned {
                batcher.leave();
                *lock(&results[i]) = Some(Err(StreamError::Engine {
                    image: 0,
                    why: format!("cannot start a coding thread: {e}"),
                }));
            }
        }
        // If running a batch panics, the chunks must not wait for ever: `Stopping` tells them.
        let _stopping = Stopping(&batcher);
        batcher.serve(nets, max_batch.max(1));
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    Err(StreamError::Engine {
                        image: 0,
                        why: "a coding thread stopped early".into(),
                    })
                })
        })
        .collect()
}

/// A net pass one chunk asked for.
struct Request {
    ticket: u64,
    model: *const Model,
    net: Net,
    input: Vec<f32>,
    batch: usize,
}

// SAFETY: `model` points to a `Model` (which is Sync) borrowed by the waiting chunk thread for
// the whole time the request exists; the pointer only identifies and reads it.
unsafe impl Send for Request {}

struct State {
    /// Chunks still coding.
    live: usize,
    pending: Vec<Request>,
    answers: Vec<(u64, Result<Logistic, String>)>,
    next_ticket: u64,
    /// The runner is gone (it panicked): waiting chunks give up.
    stopped: bool,
}

struct Batcher {
    state: Mutex<State>,
    wake_runner: Condvar,
    wake_chunks: Condvar,
}

/// What a chunk thread sees as its [`Nets`]: submits a request and waits for its answer.
struct Client<'b> {
    batcher: &'b Batcher,
}

struct Leaving<'b>(&'b Batcher);

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

struct Stopping<'b>(&'b Batcher);

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).stopped = true;
        self.0.wake_chunks.notify_all();
    }
}

impl Nets for Client<'_> {
    fn run(
        &self,
        model: &Model,
        net: Net,
        input: &[f32],
        batch: usize,
    ) -> Result<Logistic, String> {
        let b = self.batcher;
        let mut st = lock(&b.state);
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.pending.push(Request {
            ticket,
            model,
            net,
            input: input.to_vec(),
            batch,
        });
        if st.pending.len() == st.live {
            b.wake_runner.notify_one();
        }
        loop {
            if let Some(k) = st.answers.iter().position(|a| a.0 == ticket) {
                return st.answers.swap_remove(k).1;
            }
            if st.stopped {
                return Err("the batch runner stopped".into());
            }
            st = b.wake_chunks.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Batcher {
    fn leave(&self) {
        let mut st = lock(&self.state);
        st.live -= 1;
        self.wake_runner.notify_one();
    }

    /// Runs rounds until every chunk has finished: each round waits until every live chunk is
    /// waiting for a net, then answers all of them.
    fn serve(&self, nets: &dyn Nets, max_batch: usize) {
        loop {
            let mut st = lock(&self.state);
            while !(st.live == 0 || st.pending.len() == st.live) {
                st = self.wake_runner.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.live == 0 {
                return;
            }
            let round = std::mem::take(&mut st.pending);
            drop(st);
            let answers = run_round(nets, max_batch, round);
            lock(&self.state).answers.extend(answers);
            self.wake_chunks.notify_all();
        }
    }
}

/// Answers one round of requests: those for the same net of the same model run together, in
/// passes of at most `max_batch` inputs.
fn run_round(
    nets: &dyn Nets,
    max_batch: usize,
    round: Vec<Request>,
) -> Vec<(u64, Result<Logistic, String>)> {
    let mut groups: Vec<Vec<Request>> = Vec::new();
    for r in round {
        match groups
            .iter_mut()
            .find(|g| std::ptr::eq(g[0].model, r.model) && g[0].net == r.net)
        {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    let mut answers = Vec::new();
    for group in groups {
        let mut part: Vec<Request> = Vec::new();
        let mut items = 0;
        for r in group {
            if !part.is_empty() && items + r.batch > max_batch {
                answers.extend(run_pass(nets, std::mem::take(&mut part)));
                items = 0;
            }
            items += r.batch;
            part.push(r);
        }
        answers.extend(run_pass(nets, part));
    }
    answers
}

/// One net pass over the concatenated inputs of `part`, split back per request.
fn run_pass(nets: &dyn Nets, part: Vec<Request>) -> Vec<(u64, Result<Logistic, String>)> {
    // SAFETY: see `Request`: the chunk that made the request is waiting, holding the model.
    let model = unsafe { &*part[0].model };
    let net = part[0].net;
    let total: usize = part.iter().map(|r| r.batch).sum();
    let mut input = Vec::with_capacity(part.iter().map(|r| r.input.len()).sum());
    for r in &part {
        input.extend_from_slice(&r.input);
    }
    match nets.run(model, net, &input, total) {
        Err(e) => part.iter().map(|r| (r.ticket, Err(e.clone()))).collect(),
        Ok(out) if total == 0 || out.mu.len() % total != 0 => {
            let e = format!(
                "{net:?}: the engine returned {} outputs for {total} inputs",
                out.mu.len()
            );
            part.iter().map(|r| (r.ticket, Err(e.clone()))).collect()
        }
        Ok(out) => {
            let per = out.mu.len() / total;
            let mut at = 0;
            part.iter()
                .map(|r| {
                    let span = at..at + r.batch * per;
                    at = span.end;
                    let l = Logistic {
                        mu: out.mu[span.clone()].to_vec(),
                        ls: out.ls[span.clone()].to_vec(),
                        inv_s: out.inv_s[span].to_vec(),
                    };
                    (r.ticket, Ok(l))
                })
                .collect()
        }
    }
}
