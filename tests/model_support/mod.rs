//! Shared helpers for the model tests: a random-weights model written as real export files,
//! and a literal (slow) reading of the spec to compare the engine against.
#![allow(dead_code)]

use bsar::model::{Model, Net};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::BTreeMap;

/// SplitMix64: a tiny deterministic generator, enough for test weights.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-a, a).
    pub fn uniform(&mut self, a: f32) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }
}

#[derive(Clone, Copy)]
pub struct Shape {
    pub channels: usize,
    pub patch: usize,
    pub latent_layers: usize,
    pub latent_channels: usize,
    pub width: usize,
    pub res_blocks: usize,
    pub latent_bins: usize,
}

pub struct Files {
    pub json: Vec<u8>,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Files {
    pub fn safetensors(&self) -> Vec<u8> {
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, (s, v))| {
                (
                    k.clone(),
                    s.clone(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, TensorView)> = bytes
            .iter()
            .map(|(k, s, b)| {
                (
                    k.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::tensor::serialize(views, &None).unwrap()
    }
}

pub fn net_names(l: usize) -> Vec<String> {
    (0..l)
        .map(|i| format!("q{i}"))
        .chain((0..l).map(|i| format!("p{i}")))
        .collect()
}

pub fn net_io(s: &Shape, name: &str) -> (usize, usize) {
    let (c, cz) = (s.channels, s.latent_channels);
    match name {
        "q0" => (4 * c, cz),
        "p0" => (cz, 4 * c),
        _ => (cz, cz),
    }
}

/// A model with random weights, scaled so activations stay O(1) through the nets.
pub fn random_model(s: Shape, seed: u64) -> Files {
    let mut rng = Rng(seed);
    let mut t = BTreeMap::new();
    let mut conv = |t: &mut BTreeMap<_, _>, name: String, cout: usize, cin: usize, gain: f32| {
        let a = gain * (3.0 / (9.0 * cin as f32)).sqrt();
        let w: Vec<f32> = (0..cout * cin * 9).map(|_| rng.uniform(a)).collect();
        let b: Vec<f32> = (0..cout).map(|_| rng.uniform(0.1)).collect();
        t.insert(format!("{name}.weight"), (vec![cout, cin, 3, 3], w));
        t.insert(format!("{name}.bias"), (vec![cout], b));
    };
    for n in net_names(s.latent_layers) {
        let (cin, cout) = net_io(&s, &n);
        conv(&mut t, format!("{n}.in"), s.width, cin, 1.0);
        for b in 0..s.res_blocks {
            conv(&mut t, format!("{n}.res{b}.conv1"), s.width, s.width, 1.0);
            conv(&mut t, format!("{n}.res{b}.conv2"), s.width, s.width, 0.5);
        }
        conv(&mut t, format!("{n}.out"), 2 * cout, s.width, 1.0);
    }
    let n = s.latent_bins;
    let edges: Vec<f32> = (1..n)
        .map(|i| (i as f64 / (n - i) as f64).ln() as f32)
        .collect();
    let centres: Vec<f32> = (0..n)
        .map(|i| ((i as f64 + 0.5) / (n as f64 - i as f64 - 0.5)).ln() as f32)
        .collect();
    t.insert("latent.edges".into(), (vec![n - 1], edges));
    t.insert("latent.centres".into(), (vec![n], centres));
    let json = format!(
        r#"{{"format": "bsar-model", "version": 1, "name": "test-random",
  "channels": {}, "patch": {}, "latent_layers": {}, "latent_channels": {},
  "width": {}, "res_blocks": {}, "latent_bins": {},
  "min_log_scale_latent": -2.3026, "min_log_scale_pixel": -6.0,
  "train": {{"note": "random weights for tests"}}}}"#,
        s.channels,
        s.patch,
        s.latent_layers,
        s.latent_channels,
        s.width,
        s.res_blocks,
        s.latent_bins
    );
    Files {
        json: json.into_bytes(),
        tensors: t,
    }
}

/// The spec's convolution read literally: OIHW weights, NCHW-free indexing on an NHWC input
/// `[g][g][cin]`, one fma chain per output over (ky, kx, i) with out-of-bounds inputs as +0.0.
pub fn spec_conv(
    w: &[f32],
    b: &[f32],
    cout: usize,
    cin: usize,
    g: usize,
    input: &[f32],
) -> Vec<f32> {
    let mut out = vec![0f32; g * g * cout];
    for y in 0..g {
        for x in 0..g {
            for o in 0..cout {
                let mut acc = 0.0f32;
                for ky in 0..3 {
                    for kx in 0..3 {
                        for i in 0..cin {
                            let (yy, xx) =
                                (y as isize + ky as isize - 1, x as isize + kx as isize - 1);
                            let v = if yy < 0 || xx < 0 || yy >= g as isize || xx >= g as isize {
                                0.0
                            } else {
                                input[(yy as usize * g + xx as usize) * cin + i]
                            };
                            acc = w[((o * cin + i) * 3 + ky) * 3 + kx].mul_add(v, acc);
                        }
                    }
                }
                out[(y * g + x) * cout + o] = acc + b[o];
            }
        }
    }
    out
}

/// The spec's net (§2, §4.2) for one image, raw outputs `[g][g][2*cout]`.
pub fn spec_net(f: &Files, s: &Shape, name: &str, input: &[f32]) -> Vec<f32> {
    let g = s.patch / 2;
    let (cin, cout) = net_io(s, name);
    let get = |k: String| &f.tensors[&k].1;
    let elu = |v: &[f32]| -> Vec<f32> { v.iter().map(|&x| bsar::model::elu_f32(x)).collect() };
    let mut h = spec_conv(
        get(format!("{name}.in.weight")),
        get(format!("{name}.in.bias")),
        s.width,
        cin,
        g,
        input,
    );
    for b in 0..s.res_blocks {
        let p = format!("{name}.res{b}");
        let r = spec_conv(
            get(format!("{p}.conv1.weight")),
            get(format!("{p}.conv1.bias")),
            s.width,
            s.width,
            g,
            &elu(&h),
        );
        let r = spec_conv(
            get(format!("{p}.conv2.weight")),
            get(format!("{p}.conv2.bias")),
            s.width,
            s.width,
            g,
            &elu(&r),
        );
        for (h, r) in h.iter_mut().zip(&r) {
            *h += *r;
        }
    }
    spec_conv(
        get(format!("{name}.out.weight")),
        get(format!("{name}.out.bias")),
        2 * cout,
        s.width,
        g,
        &elu(&h),
    )
}

/// The tiny trained fixture model (`tests/fixtures/model-tiny*`: RGB, 8x8 patches, two layers).
pub fn tiny_fixture() -> Model {
    Model::load(
        include_bytes!("../fixtures/model-tiny.json"),
        include_bytes!("../fixtures/model-tiny.safetensors"),
    )
    .expect("fixture model loads")
}

/// A grey model with random weights, shaped like the fixture (8x8 patches, two latent layers):
/// the shipped grey model, with 28x28 patches and eight layers, is too slow for tests that code
/// many chunks.
pub fn tiny_grey(seed: u64, latent_bins: usize) -> Model {
    let shape = Shape {
        channels: 1,
        patch: 8,
        latent_layers: 2,
        latent_channels: 2,
        width: 8,
        res_blocks: 1,
        latent_bins,
    };
    let f = random_model(shape, seed);
    Model::load(&f.json, &f.safetensors()).expect("random grey model loads")
}

/// Every net of a model: q0..q(L-1), then p0..p(L-1).
pub fn all_nets(m: &Model) -> Vec<Net> {
    let l = m.config().latent_layers;
    (0..l).map(Net::Q).chain((0..l).map(Net::P)).collect()
}

/// A random batch of inputs for `net`: pixels for q0, latent bins for every other net.
pub fn random_net_input(m: &Model, net: Net, batch: usize, rng: &mut Rng) -> Vec<f32> {
    let c = m.config();
    if net == Net::Q(0) {
        let px: Vec<u8> = (0..batch * c.patch * c.patch * c.channels)
            .map(|_| rng.next_u64() as u8)
            .collect();
        m.input_from_pixels(&px, batch)
    } else {
        let g = c.grid();
        let bins: Vec<u16> = (0..batch * g * g * c.latent_channels)
            .map(|_| (rng.next_u64() % c.latent_bins as u64) as u16)
            .collect();
        m.input_from_bins(&bins, batch)
    }
}
