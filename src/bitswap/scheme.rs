//! Coding one patch with Bit-Swap or BB-ANS on a rANS stack.
//!
//! Conventions (spec/bitswap.md, "Patch procedure"):
//! - a tensor of symbols is pushed in ascending index order and popped in descending order, so a
//!   decoder that replays the encoder's operations backwards meets every symbol in reverse;
//! - latent tensors are NHWC `[P/2][P/2][Cz]`, their symbols are bin indices;
//! - pixel symbols are the real samples of the patch in `(y, x, c)` raster order, paired with the
//!   squeezed position of the likelihood `p(x|z1)`; padding samples are never coded.

use crate::ans::Stack;
use crate::bitswap::nets::Nets;
use crate::bitswap::patches::PatchPos;
use crate::model::{LocalLinear, Logistic, LogisticBins, Model, Net, PixelContext};

/// Which bits-back scheme orders the operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Bit-Swap: interleaves posterior pops and prior pushes layer by layer.
    BitSwap,
    /// BB-ANS: pops every latent layer first, then pushes everything.
    BbAns,
}

impl Scheme {
    pub fn id(self) -> u8 {
        match self {
            Scheme::BitSwap => 0,
            Scheme::BbAns => 1,
        }
    }

    pub fn from_id(id: u8) -> Option<Scheme> {
        match id {
            0 => Some(Scheme::BitSwap),
            1 => Some(Scheme::BbAns),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scheme::BitSwap => "bitswap",
            Scheme::BbAns => "bbans",
        }
    }
}

/// Precisions (bits) of the frequency tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Precisions {
    pub pixel: u32,
    pub latent: u32,
}

/// The rANS lane every symbol goes to. bsar chunks use one lane: the Bit-Swap recursion is
/// sequential anyway, and a single head keeps the per-chunk overhead at one state.
const LANE: usize = 0;

/// Which side runs: the order of a tensor's symbols depends on it (spec/bitswap.md 3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// Ascending indices: the encoder's pushes and pops.
    Encoder,
    /// Descending indices: the decoder's, undoing the encoder's.
    Decoder,
}

impl Order {
    fn indices(self, n: usize) -> impl Iterator<Item = usize> {
        let reverse = self == Order::Decoder;
        (0..n).map(move |i| if reverse { n - 1 - i } else { i })
    }
}

/// Codes patches of one model on one stack. The nets run wherever `nets` runs them (the CPU
/// engine, or a batcher that gathers the requests of many chunks, `batch.rs`): the procedure
/// is this one either way.
pub struct PatchCoder<'m> {
    model: &'m Model,
    nets: &'m dyn Nets,
    prec: Precisions,
}

/// A net could not run (a device failure): one line.
pub type NetResult<T> = Result<T, String>;

/// The distribution of every symbol of a latent tensor.
enum Latents {
    /// Net outputs, one logistic per symbol.
    Net(Logistic),
    /// The top prior: the standard logistic for every symbol.
    Top,
}

impl<'m> PatchCoder<'m> {
    pub fn new(model: &'m Model, nets: &'m dyn Nets, prec: Precisions) -> Self {
        PatchCoder { model, nets, prec }
    }

    fn posterior_of_x(&self, patch: &[u8]) -> NetResult<Latents> {
        let input = self.model.input_from_pixels(patch, 1);
        Ok(Latents::Net(self.nets.run(
            self.model,
            Net::Q(0),
            &input,
            1,
        )?))
    }

    fn net_on_bins(&self, net: Net, bins: &[u16]) -> NetResult<Logistic> {
        let input = self.model.input_from_bins(bins, 1);
        self.nets.run(self.model, net, &input, 1)
    }

    fn latents(&self, net: Net, bins: &[u16]) -> NetResult<Latents> {
        Ok(Latents::Net(self.net_on_bins(net, bins)?))
    }

    fn latent_bins<'a>(&'a self, d: &Latents, j: usize) -> LogisticBins<'a> {
        match d {
            Latents::Net(l) => l.bins(j, self.model.latent_edges(), self.prec.latent),
            Latents::Top => self.model.top_prior(self.prec.latent),
        }
    }

    fn latent_len(&self) -> usize {
        let c = self.model.config();
        (c.patch / 2) * (c.patch / 2) * c.latent_channels
    }

    // ---- latent tensors -------------------------------------------------------------------

    /// Pushes a latent tensor. The encoder pushes ascending (`Order::Encoder`); the decoder,
    /// giving back what the encoder popped, pushes descending (`Order::Decoder`).
    fn push_latents(&self, stack: &mut Stack, bins: &[u16], d: &Latents, order: Order) {
        for j in order.indices(bins.len()) {
            let (start, freq) = self.latent_bins(d, j).interval(bins[j] as u32);
            stack.push(LANE, start, freq, self.prec.latent);
        }
    }

    /// Pops a latent tensor: ascending in the encoder, descending in the decoder, so that every
    /// operation of one is undone by the other (spec/bitswap.md 3.2).
    fn pop_latents(&self, stack: &mut Stack, d: &Latents, order: Order) -> Vec<u16> {
        let mut bins = vec![0u16; self.latent_len()];
        for j in order.indices(bins.len()) {
            let (sym, start, freq) = self
                .latent_bins(d, j)
                .find(stack.peek(LANE, self.prec.latent));
            stack.pop(LANE, start, freq, self.prec.latent);
            bins[j] = sym as u16;
        }
        bins
    }

    // ---- pixels ---------------------------------------------------------------------------

    fn pixel_bins(&self, p: &Logistic, y: usize, x: usize, c: usize) -> LogisticBins<'static> {
        let k = self.model.squeezed_index(y, x, c);
        LogisticBins::pixel(p.mu[k], p.inv_s[k], self.prec.pixel)
    }

    /// The real samples `(y, x, c)` of a patch in raster order.
    fn samples(&self, pos: &PatchPos) -> impl DoubleEndedIterator<Item = (usize, usize, usize)> {
        let ch = self.model.config().channels;
        let (h, w) = (pos.real_h, pos.real_w);
        (0..h * w * ch).map(move |i| (i / (w * ch), (i / ch) % w, i % ch))
    }

    /// Pushes the patch's real samples. With `p(x | z1)` the encoder pushes in raster order (a
    /// tensor, ascending, 3.2); a model with pixel context pushes in reverse raster order, so
    /// that its decoder meets every sample after the neighbours its distribution reads
    /// (spec/bitswap.md 3.2).
    fn push_pixels(&self, stack: &mut Stack, patch: &[u8], pos: &PatchPos, p: &Logistic) {
        let cfg = self.model.config();
        let (pp, ch) = (cfg.patch, cfg.channels);
        let mut push = |s: (usize, usize, usize), d: LogisticBins<'_>| {
            let (start, freq) = d.interval(patch[(s.0 * pp + s.1) * ch + s.2] as u32);
            stack.push(LANE, start, freq, self.prec.pixel);
        };
        match cfg.pixel_context {
            PixelContext::None => {
                for s in self.samples(pos) {
                    push(s, self.pixel_bins(p, s.0, s.1, s.2));
                }
            }
            PixelContext::LocalLinear => {
                let local = LocalLinear::new(self.model, p);
                for s in self.samples(pos).rev() {
                    push(s, local.bins(patch, pos.real_w, s, self.prec.pixel));
                }
            }
        }
    }

    /// Pops the patch's real samples, undoing `push_pixels`, and rebuilds the padding.
    fn pop_pixels(&self, stack: &mut Stack, patch: &mut [u8], pos: &PatchPos, p: &Logistic) {
        let cfg = self.model.config();
        let (pp, ch) = (cfg.patch, cfg.channels);
        let prec = self.prec.pixel;
        let mut pop = |s: (usize, usize, usize), d: LogisticBins<'_>, patch: &mut [u8]| {
            let (sym, start, freq) = d.find(stack.peek(LANE, prec));
            stack.pop(LANE, start, freq, prec);
            patch[(s.0 * pp + s.1) * ch + s.2] = sym as u8;
        };
        match cfg.pixel_context {
            PixelContext::None => {
                for s in self.samples(pos).rev() {
                    pop(s, self.pixel_bins(p, s.0, s.1, s.2), patch);
                }
            }
            PixelContext::LocalLinear => {
                let local = LocalLinear::new(self.model, p);
                for s in self.samples(pos) {
                    let d = local.bins(patch, pos.real_w, s, prec);
                    pop(s, d, patch);
                }
            }
        }
        crate::bitswap::patches::pad(patch, pp, ch, pos);
    }

    // ---- the two schemes ------------------------------------------------------------------

    /// Encodes one padded patch (`P x P x C`, real region `pos`) onto the stack.
    pub fn encode(
        &self,
        scheme: Scheme,
        stack: &mut Stack,
        patch: &[u8],
        pos: &PatchPos,
    ) -> NetResult<()> {
        let layers = self.model.config().latent_layers;
        const E: Order = Order::Encoder;
        match scheme {
            Scheme::BitSwap => {
                let z1 = self.pop_latents(stack, &self.posterior_of_x(patch)?, E);
                self.push_pixels(stack, patch, pos, &self.net_on_bins(Net::P(0), &z1)?);
                let mut below = z1;
                for i in 1..layers {
                    let above = self.pop_latents(stack, &self.latents(Net::Q(i), &below)?, E);
                    self.push_latents(stack, &below, &self.latents(Net::P(i), &above)?, E);
                    below = above;
                }
                self.push_latents(stack, &below, &Latents::Top, E);
            }
            Scheme::BbAns => {
                let mut z = vec![self.pop_latents(stack, &self.posterior_of_x(patch)?, E)];
                for i in 1..layers {
                    let next = self.pop_latents(stack, &self.latents(Net::Q(i), &z[i - 1])?, E);
                    z.push(next);
                }
                self.push_pixels(stack, patch, pos, &self.net_on_bins(Net::P(0), &z[0])?);
                for i in 1..layers {
                    self.push_latents(stack, &z[i - 1], &self.latents(Net::P(i), &z[i])?, E);
                }
                self.push_latents(stack, &z[layers - 1], &Latents::Top, E);
            }
        }
        Ok(())
    }

    /// Decodes one patch: the exact reverse of [`PatchCoder::encode`]. Returns the padded patch.
    pub fn decode(&self, scheme: Scheme, stack: &mut Stack, pos: &PatchPos) -> NetResult<Vec<u8>> {
        let cfg = self.model.config();
        let layers = cfg.latent_layers;
        const D: Order = Order::Decoder;
        let mut patch = vec![0u8; cfg.patch * cfg.patch * cfg.channels];
        match scheme {
            Scheme::BitSwap => {
                let mut above = self.pop_latents(stack, &Latents::Top, D);
                for i in (1..layers).rev() {
                    let below = self.pop_latents(stack, &self.latents(Net::P(i), &above)?, D);
                    self.push_latents(stack, &above, &self.latents(Net::Q(i), &below)?, D);
                    above = below;
                }
                let z1 = above;
                self.pop_pixels(stack, &mut patch, pos, &self.net_on_bins(Net::P(0), &z1)?);
                self.push_latents(stack, &z1, &self.posterior_of_x(&patch)?, D);
            }
            Scheme::BbAns => {
                let mut z = vec![Vec::new(); layers];
                z[layers - 1] = self.pop_latents(stack, &Latents::Top, D);
                for i in (1..layers).rev() {
                    z[i - 1] = self.pop_latents(stack, &self.latents(Net::P(i), &z[i])?, D);
                }
                self.pop_pixels(stack, &mut patch, pos, &self.net_on_bins(Net::P(0), &z[0])?);
                for i in (1..layers).rev() {
                    self.push_latents(stack, &z[i], &self.latents(Net::Q(i), &z[i - 1])?, D);
                }
                self.push_latents(stack, &z[0], &self.posterior_of_x(&patch)?, D);
            }
        }
        Ok(patch)
    }
}
