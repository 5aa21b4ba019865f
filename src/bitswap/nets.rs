//! Who runs the model's nets for the Bit-Swap procedure: the CPU engine (`Model::run`) here, or
//! any other engine that gives the same bits (the GPU's, `codec::gpu`). The procedure asks for
//! one net of one model on a batch of inputs; everything else (intervals, rANS) stays with it.

use crate::model::{Logistic, Model, Net};

/// Runs nets for the coder. Implementations must return exactly what `Model::run` returns for
/// the same inputs (spec/model.md 4): the archive bytes depend on every bit.
pub trait Nets: Sync {
    /// The logistic parameters of `net` of `model` on `batch` inputs laid out as `Model::run`
    /// takes them. An error is one line (a device failure, say); the chunk then fails.
    fn run(&self, model: &Model, net: Net, input: &[f32], batch: usize)
        -> Result<Logistic, String>;
}

/// The CPU engine on `threads` threads (its results do not depend on the count).
#[derive(Clone, Copy, Debug)]
pub struct CpuNets {
    pub threads: usize,
}

impl CpuNets {
    /// One thread: what a chunk coded on its own thread uses (threads go to chunks instead).
    pub const SINGLE: CpuNets = CpuNets { threads: 1 };
}

impl Nets for CpuNets {
    fn run(
        &self,
        model: &Model,
        net: Net,
        input: &[f32],
        batch: usize,
    ) -> Result<Logistic, String> {
        Ok(model.run(net, input, batch, self.threads))
    }
}
