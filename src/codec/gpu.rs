//! The Bit-Swap codec's nets on a [`Kernels`] device (`--features cuda`): the GPU engine
//! (`gpu::engine`) behind the batch coder's [`Nets`], one engine per model, made on first use.
//! Only the nets run on the device; intervals and rANS stay on the CPU (`bitswap::batch`).

use crate::bitswap::Nets;
use crate::gpu::engine::Engine;
use crate::gpu::{probe, Gpu, GpuError, Kernels};
use crate::model::{Logistic, Model, Net};
use std::sync::Mutex;

/// Runs nets on the kernels `k` (the GPU, or the host emulation in tests).
pub struct EngineNets<K: Kernels + Sync + 'static> {
    k: &'static K,
    /// Models' weights on the device, by model id.
    engines: Mutex<Vec<([u8; 32], Engine<'static, K>)>>,
}

impl<K: Kernels + Sync + 'static> EngineNets<K> {
    pub fn new(k: &'static K) -> EngineNets<K> {
        EngineNets {
            k,
            engines: Mutex::new(Vec::new()),
        }
    }

    /// What runs the nets, for messages ("GPU NVIDIA H200").
    pub fn describe(&self) -> String {
        self.k.describe()
    }
}

/// Device 0 as the codec's engine, or one line saying why there is none. The device lives as
/// long as the process (the engines borrow it).
pub fn open_gpu() -> Result<EngineNets<Gpu>, GpuError> {
    let gpu: &'static Gpu = Box::leak(Box::new(probe()?));
    Ok(EngineNets::new(gpu))
}

impl<K> Nets for EngineNets<K>
where
    K: Kernels + Sync + 'static,
    K::Buf<f32>: Send,
    K::Buf<u32>: Send,
{
    fn run(
        &self,
        model: &Model,
        net: Net,
        input: &[f32],
        batch: usize,
    ) -> Result<Logistic, String> {
        let gpu = |e: GpuError| format!("{}: {e}", self.k.describe());
        self.k.bind_thread().map_err(gpu)?;
        let mut engines = self.engines.lock().unwrap_or_else(|p| p.into_inner());
        let id = model.id();
        let at = match engines.iter().position(|(i, _)| *i == id) {
            Some(at) => at,
            None => {
                engines.push((id, Engine::new(self.k, model).map_err(gpu)?));
                engines.len() - 1
            }
        };
        engines[at].1.run(net, input, batch).map_err(gpu)
    }
}
