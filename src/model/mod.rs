//! Deterministic inference engine for Bit-Swap models (spec/model.md).
//!
//! The engine loads an exported model, runs its 2L conditional distributions on batches of
//! patches, and turns their logistic outputs into integer frequency tables. Everything that
//! feeds a frequency table is computed by the arithmetic contract of spec §4, so any conforming
//! implementation (any CPU, thread count, SIMD path or a GPU) produces the same bits.
//!
//! Layouts are NHWC everywhere: `[batch][y][x][channel]` on the `P/2 x P/2` grid.

mod cdf;
mod config;
mod conv;
mod exp;
mod load;
mod local;
mod net;

pub use cdf::{
    logistic_table, pixel_edges, LogisticBins, MAX_PRECISION, PIXEL_BINS, TABLE_CRC32, TABLE_LEN,
};
pub use config::{ModelConfig, PixelContext};
pub use conv::KernelPath;
pub use exp::{elu_f32, exp_f32};
pub use local::{LocalLinear, MU_LIMIT};

use net::{run_net, split_output};
// Read by other engines (the GPU's, src/gpu/engine.rs) that run the same nets.
#[cfg(feature = "cuda")]
pub(crate) use conv::Conv;
use net::NetWeights;
use std::fmt;

/// How users see a model id (spec/model.md section 3): its first 8 bytes in hex. Takes any
/// slice, so that ids read from a chunk header can be shown before they are matched to a model.
pub fn short_id(id: &[u8]) -> String {
    id.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The f32 value of a sample (spec §1): what the nets see, and what a local-linear likelihood
/// combines (§5).
#[inline(always)]
pub(crate) fn sample_value(v: u8) -> f32 {
    v as f32 / 127.5 - 1.0
}

/// One line saying what is wrong with a model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    msg: String,
}

impl ModelError {
    pub(crate) fn new(msg: impl Into<String>) -> ModelError {
        ModelError { msg: msg.into() }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ModelError {}

/// One of the 2L nets: `Q(i)` is `q(z_{i+1} | ...)`, `P(i)` is `p(x | z1)` for `i = 0` and
/// `p(z_i | z_{i+1})` otherwise (spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    Q(usize),
    P(usize),
}

/// Logistic parameters per output, NHWC `[batch][y][x][cout]`: the mean, the clamped log-scale
/// and `inv_s = exp(-ls)` (bsar exp).
#[derive(Clone, Debug, PartialEq)]
pub struct Logistic {
    pub mu: Vec<f32>,
    pub ls: Vec<f32>,
    pub inv_s: Vec<f32>,
}

impl Logistic {
    /// The discretised distribution of output `idx` over the bins with interior `edges`
    /// (`pixel_edges()` for p0, `Model::latent_edges()` otherwise).
    #[inline]
    pub fn bins<'a>(&self, idx: usize, edges: &'a [f32], precision: u32) -> LogisticBins<'a> {
        LogisticBins::new(edges, self.mu[idx], self.inv_s[idx], precision)
    }
}

/// A loaded model: validated configuration, repacked weights and latent bin tables.
pub struct Model {
    config: ModelConfig,
    q: Vec<NetWeights>,
    p: Vec<NetWeights>,
    latent_edges: Vec<f32>,
    latent_centres: Vec<f32>,
    id: [u8; 32],
}

impl Model {
    /// Loads and validates a model from its JSON and safetensors bytes (spec §3). Every shape,
    /// config field and weight is checked; a bad file gives one clear error line, never a panic.
    pub fn load(json: &[u8], safetensors: &[u8]) -> Result<Model, ModelError> {
        load::load(json, safetensors)
    }

    /// SHA-256 of the safetensors bytes followed by the JSON bytes (spec §3).
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Interior latent bin edges `E_1 .. E_{N-1}`, as shipped in the weights file.
    pub fn latent_edges(&self) -> &[f32] {
        &self.latent_edges
    }

    /// Latent bin centres `c_0 .. c_{N-1}`, as shipped in the weights file.
    pub fn latent_centres(&self) -> &[f32] {
        &self.latent_centres
    }

    /// `(Cin, Cout)` of a net; its input is `[batch][P/2][P/2][Cin]`, its outputs `Cout` logistics
    /// per grid position.
    ///
    /// # Panics
    /// If the net index is not below `latent_layers`.
    pub fn net_channels(&self, net: Net) -> (usize, usize) {
        let n = self.weights(net);
        (n.cin, n.cout)
    }

    /// Multiply-accumulates per patch for all 2L nets.
    pub fn macs_per_patch(&self) -> usize {
        let g = self.config.grid();
        self.q.iter().chain(&self.p).map(|n| n.macs(g)).sum()
    }

    /// Squeezed network input from `batch` patches of 8-bit samples, each `P*P*C` in HWC order:
    /// `s[b][i][j][c*4 + dy*2 + dx] = x[b][2i+dy][2j+dx][c] / 127.5 - 1` (spec §1).
    ///
    /// # Panics
    /// If `pixels.len() != batch * P * P * C`.
    pub fn input_from_pixels(&self, pixels: &[u8], batch: usize) -> Vec<f32> {
        let (c, p) = (self.config.channels, self.config.patch);
        assert_eq!(
            pixels.len(),
            batch * p * p * c,
            "input_from_pixels: wrong length"
        );
        let mut s = vec![0f32; pixels.len()];
        for b in 0..batch {
            let img = &pixels[b * p * p * c..][..p * p * c];
            let out = &mut s[b * p * p * c..][..p * p * c];
            for y in 0..p {
                for x in 0..p {
                    for ch in 0..c {
                        let v = sample_value(img[(y * p + x) * c + ch]);
                        out[self.squeezed_index(y, x, ch)] = v;
                    }
                }
            }
        }
        s
    }

    /// Offset, within one patch's squeezed NHWC block `[P/2][P/2][4C]`, of pixel `(y, x)`
    /// channel `c`: where its value goes in `input_from_pixels` and where its `(mu, inv_s)`
    /// are in `p0`'s output.
    #[inline]
    pub fn squeezed_index(&self, y: usize, x: usize, c: usize) -> usize {
        let (g, c4) = (self.config.grid(), 4 * self.config.channels);
        ((y / 2) * g + x / 2) * c4 + c * 4 + (y % 2) * 2 + (x % 2)
    }

    /// Latent network input: the bin centres of `bins` (`[batch][P/2][P/2][Cz]`).
    ///
    /// # Panics
    /// If the length is wrong or a bin is not below `latent_bins`.
    pub fn input_from_bins(&self, bins: &[u16], batch: usize) -> Vec<f32> {
        let g = self.config.grid();
        assert_eq!(
            bins.len(),
            batch * g * g * self.config.latent_channels,
            "input_from_bins: wrong length"
        );
        bins.iter()
            .map(|&b| self.latent_centres[b as usize])
            .collect()
    }

    /// Runs a net on `batch` inputs with the fastest kernels (or scalar under
    /// `BSAR_FORCE_SCALAR=1`). The result does not depend on `threads` or the path.
    pub fn run(&self, net: Net, input: &[f32], batch: usize, threads: usize) -> Logistic {
        self.run_with(net, input, batch, threads, KernelPath::detect())
    }

    /// `run` with an explicit kernel path (an unavailable path falls back to scalar).
    pub fn run_with(
        &self,
        net: Net,
        input: &[f32],
        batch: usize,
        threads: usize,
        path: KernelPath,
    ) -> Logistic {
        let raw = self.run_raw(net, input, batch, threads, path);
        let min_ls = match net {
            Net::P(0) => self.config.min_log_scale_pixel,
            _ => self.config.min_log_scale_latent,
        };
        let (mu, ls, inv_s) = split_output(path, &raw, self.weights(net).cout, min_ls);
        Logistic { mu, ls, inv_s }
    }

    /// The raw final convolution outputs `[batch][P/2][P/2][2*Cout]` (means, then unclamped
    /// log-scales), for tests and diagnostics.
    ///
    /// # Panics
    /// If `input.len()` is not `batch * (P/2)^2 * Cin`.
    pub fn run_raw(
        &self,
        net: Net,
        input: &[f32],
        batch: usize,
        threads: usize,
        path: KernelPath,
    ) -> Vec<f32> {
        let w = self.weights(net);
        let g = self.config.grid();
        assert_eq!(
            input.len(),
            batch * g * g * w.cin,
            "run: input length does not match the net"
        );
        let mut out = vec![0f32; batch * g * g * 2 * w.cout];
        run_net(w, input, batch, g, threads, path, &mut out);
        out
    }

    /// The top prior `p(z_L)` at `precision` bits (standard logistic over the latent bins).
    pub fn top_prior(&self, precision: u32) -> LogisticBins<'_> {
        LogisticBins::top_prior(&self.latent_edges, precision)
    }

    /// The weights of a net, for other engines (src/gpu/engine.rs).
    #[cfg(feature = "cuda")]
    pub(crate) fn net_weights(&self, net: Net) -> &NetWeights {
        self.weights(net)
    }

    fn weights(&self, net: Net) -> &NetWeights {
        let (v, i) = match net {
            Net::Q(i) => (&self.q, i),
            Net::P(i) => (&self.p, i),
        };
        v.get(i)
            .unwrap_or_else(|| panic!("{net:?}: the model has {} latent layers", v.len()))
    }
}
