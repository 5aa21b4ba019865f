//! The model engine on a [`Kernels`] device: the 2L nets of a [`Model`] run layer by layer
//! exactly as `Model::run_raw` does (spec/model.md 4.2), on a whole batch per launch; then the
//! logistic parameters (4.4) and the integer CDFs (4.5). Bit-identical to the Rust engine: the
//! kernels follow the spec's operation order, and nothing here changes it.

use super::kernels::{fail, ConvShape, GpuResult, Kernels};
use crate::model::{logistic_table, pixel_edges, Conv, Logistic, Model, Net};

/// One convolution on the device: weights `[ky][kx][cin][cout]`, bias `[cout]`.
struct DevConv<K: Kernels> {
    cin: usize,
    cout: usize,
    w: K::Buf<f32>,
    b: K::Buf<f32>,
}

struct DevNet<K: Kernels> {
    net: Net,
    cin: usize,
    cout: usize,
    min_ls: f32,
    conv_in: DevConv<K>,
    res: Vec<[DevConv<K>; 2]>,
    conv_out: DevConv<K>,
}

/// A model's weights on a device, ready to run batches.
pub struct Engine<'k, K: Kernels> {
    k: &'k K,
    grid: usize,
    nets: Vec<DevNet<K>>,
    table: K::Buf<u32>,
    pixel_edges: K::Buf<f32>,
    latent_edges: K::Buf<f32>,
}

fn upload_conv<K: Kernels>(k: &K, c: &Conv) -> GpuResult<DevConv<K>> {
    // The Rust engine's packing `[(t * cin + i) * opad + o]` without the padding channels.
    let mut w = Vec::with_capacity(9 * c.cin * c.cout);
    for t in 0..9 {
        for i in 0..c.cin {
            w.extend_from_slice(&c.w[(t * c.cin + i) * c.opad..][..c.cout]);
        }
    }
    Ok(DevConv {
        cin: c.cin,
        cout: c.cout,
        w: k.upload(&w)?,
        b: k.upload(&c.b[..c.cout])?,
    })
}

impl<'k, K: Kernels> Engine<'k, K> {
    /// Uploads every net of `model`.
    pub fn new(k: &'k K, model: &Model) -> GpuResult<Engine<'k, K>> {
        let cfg = model.config();
        let mut nets = Vec::new();
        for i in 0..cfg.latent_layers {
            for net in [Net::Q(i), Net::P(i)] {
                let w = model.net_weights(net);
                let min_ls = match net {
                    Net::P(0) => cfg.min_log_scale_pixel,
                    _ => cfg.min_log_scale_latent,
                };
                nets.push(DevNet {
                    net,
                    cin: w.cin,
                    cout: w.cout,
                    min_ls,
                    conv_in: upload_conv(k, &w.conv_in)?,
                    res: w
                        .res
                        .iter()
                        .map(|[a, b]| Ok([upload_conv(k, a)?, upload_conv(k, b)?]))
                        .collect::<GpuResult<_>>()?,
                    conv_out: upload_conv(k, &w.conv_out)?,
                });
            }
        }
        Ok(Engine {
            k,
            grid: cfg.grid(),
            nets,
            table: k.upload(&logistic_table()[..])?,
            pixel_edges: k.upload(&pixel_edges()[..])?,
            latent_edges: k.upload(model.latent_edges())?,
        })
    }

    fn net(&self, net: Net) -> GpuResult<&DevNet<K>> {
        self.nets
            .iter()
            .find(|n| n.net == net)
            .ok_or_else(|| fail(format!("{net:?}: no such net in the model")))
    }

    fn conv(
        &self,
        c: &DevConv<K>,
        nb: usize,
        input: &K::Buf<f32>,
        out: &mut K::Buf<f32>,
        accumulate: bool,
    ) -> GpuResult<()> {
        let shape = ConvShape {
            nb,
            g: self.grid,
            cin: c.cin,
            cout: c.cout,
        };
        self.k.conv3x3(shape, &c.w, &c.b, input, out, accumulate)
    }

    /// The raw final convolution outputs `[batch][g][g][2 * cout]` of `net` on `input`
    /// (`[batch][g][g][cin]`, already on the device): `Model::run_raw`, bit for bit.
    pub fn run_raw_on(
        &self,
        net: Net,
        input: &K::Buf<f32>,
        batch: usize,
    ) -> GpuResult<K::Buf<f32>> {
        let n = self.net(net)?;
        let px = batch * self.grid * self.grid;
        if K::len(input) < px * n.cin {
            return Err(fail(format!(
                "{net:?}: input has {} values, the batch needs {}",
                K::len(input),
                px * n.cin
            )));
        }
        let wd = n.conv_in.cout;
        let mut h = self.k.zeros(px * wd)?;
        let mut r = self.k.zeros(px * wd)?;
        let mut t = self.k.zeros(px * wd)?;
        self.conv(&n.conv_in, batch, input, &mut h, false)?;
        for [c1, c2] in &n.res {
            self.k.elu(&h, &mut t)?;
            self.conv(c1, batch, &t, &mut r, false)?;
            self.k.elu(&r, &mut t)?;
            self.conv(c2, batch, &t, &mut h, true)?;
        }
        self.k.elu(&h, &mut t)?;
        let mut out = self.k.zeros(px * 2 * n.cout)?;
        self.conv(&n.conv_out, batch, &t, &mut out, false)?;
        Ok(out)
    }

    /// `run_raw_on` from and to host memory.
    pub fn run_raw(&self, net: Net, input: &[f32], batch: usize) -> GpuResult<Vec<f32>> {
        let n = self.net(net)?;
        let need = batch * self.grid * self.grid * n.cin;
        if input.len() != need {
            return Err(fail(format!(
                "{net:?}: input has {} values, the batch needs {need}",
                input.len()
            )));
        }
        let out = self.run_raw_on(net, &self.k.upload(input)?, batch)?;
        self.k.download(&out)
    }

    /// Logistic parameters of `net` on `input` (spec/model.md 4.4): `Model::run`, bit for bit.
    pub fn run(&self, net: Net, input: &[f32], batch: usize) -> GpuResult<Logistic> {
        let n = self.net(net)?;
        let need = batch * self.grid * self.grid * n.cin;
        if input.len() != need {
            return Err(fail(format!(
                "{net:?}: input has {} values, the batch needs {need}",
                input.len()
            )));
        }
        // The raw outputs stay on the device for the parameters.
        let raw = self.run_raw_on(net, &self.k.upload(input)?, batch)?;
        let (mu, ls, inv_s) = self.params_on(n.cout, n.min_ls, &raw)?;
        Ok(Logistic {
            mu: self.k.download(&mu)?,
            ls: self.k.download(&ls)?,
            inv_s: self.k.download(&inv_s)?,
        })
    }

    #[allow(clippy::type_complexity)]
    fn params_on(
        &self,
        cout: usize,
        min_ls: f32,
        raw: &K::Buf<f32>,
    ) -> GpuResult<(K::Buf<f32>, K::Buf<f32>, K::Buf<f32>)> {
        let m = K::len(raw) / 2;
        let (mut mu, mut ls, mut inv_s) = (self.k.zeros(m)?, self.k.zeros(m)?, self.k.zeros(m)?);
        self.k
            .logistic_params(cout, min_ls, raw, &mut mu, &mut ls, &mut inv_s)?;
        Ok((mu, ls, inv_s))
    }

    /// The squeezed input of the first nets from `batch` patches of 8-bit samples
    /// (`Model::input_from_pixels`).
    pub fn input_from_pixels(&self, pixels: &[u8], c: usize) -> GpuResult<Vec<f32>> {
        let p = 2 * self.grid;
        let dev = self.k.upload(pixels)?;
        let mut out = self.k.zeros(pixels.len())?;
        self.k.squeeze_pixels(p, c, &dev, &mut out)?;
        self.k.download(&out)
    }

    /// Cumulative frequency tables `[distribution][C(0..=n)]` at `precision` for `net`'s
    /// outputs on `input`: over the 256 pixel values for `P(0)`, over the latent bins
    /// otherwise. Entry `k` equals `LogisticBins::cdf(k)` of the same distribution.
    pub fn cdfs(
        &self,
        net: Net,
        input: &[f32],
        batch: usize,
        precision: u32,
    ) -> GpuResult<Vec<u32>> {
        let n = self.net(net)?;
        let raw = self.run_raw_on(net, &self.k.upload(input)?, batch)?;
        let (mu, _ls, inv_s) = self.params_on(n.cout, n.min_ls, &raw)?;
        let edges = match net {
            Net::P(0) => &self.pixel_edges,
            _ => &self.latent_edges,
        };
        let nbins = K::len(edges) + 1;
        let mut out = self.k.zeros(K::len(&mu) * (nbins + 1))?;
        self.k
            .logistic_cdf(edges, &self.table, &mu, &inv_s, precision, &mut out)?;
        self.k.download(&out)
    }

    /// `C(0..=n)` for given parameters (tests: extreme and NaN values), over the pixel values
    /// (`pixel = true`) or the latent bins.
    pub fn cdfs_for(
        &self,
        pixel: bool,
        mu: &[f32],
        inv_s: &[f32],
        precision: u32,
    ) -> GpuResult<Vec<u32>> {
        let edges = if pixel {
            &self.pixel_edges
        } else {
            &self.latent_edges
        };
        let nbins = K::len(edges) + 1;
        let (mu, inv_s) = (self.k.upload(mu)?, self.k.upload(inv_s)?);
        let mut out = self.k.zeros(K::len(&mu) * (nbins + 1))?;
        self.k
            .logistic_cdf(edges, &self.table, &mu, &inv_s, precision, &mut out)?;
        self.k.download(&out)
    }
}
