//! Running one net (spec/model.md §2, §4.2): layer order, padding, elu, residual adds, and the
//! split of work across threads (whole batch items or whole output rows, never a partial sum).

use super::conv::{conv3x3, Conv, KernelPath};
use super::exp::{elu_f32, exp_f32};

/// The weights of one of the 2L nets.
pub(crate) struct NetWeights {
    pub cin: usize,
    pub cout: usize,
    pub conv_in: Conv,
    pub res: Vec<[Conv; 2]>,
    pub conv_out: Conv,
}

impl NetWeights {
    /// Multiply-accumulates per image for a `g x g` grid.
    pub fn macs(&self, g: usize) -> usize {
        let per_px = self.conv_in.macs_per_pixel()
            + self
                .res
                .iter()
                .map(|[a, b]| a.macs_per_pixel() + b.macs_per_pixel())
                .sum::<usize>()
            + self.conv_out.macs_per_pixel();
        per_px * g * g
    }
}

/// Runs `net` on `nb` inputs `[nb][g][g][cin]`, writing the raw final conv outputs
/// `[nb][g][g][2*cout]` into `out`.
pub(crate) fn run_net(
    net: &NetWeights,
    input: &[f32],
    nb: usize,
    g: usize,
    threads: usize,
    path: KernelPath,
    out: &mut [f32],
) {
    let threads = threads.max(1);
    let (isz, osz) = (g * g * net.cin, g * g * 2 * net.cout);
    assert_eq!(input.len(), nb * isz);
    assert_eq!(out.len(), nb * osz);
    if threads > 1 && nb >= threads {
        // Whole batch items per thread: one spawn per run, no synchronisation between layers.
        let per = nb.div_ceil(threads);
        std::thread::scope(|s| {
            for (inp, o) in input.chunks(per * isz).zip(out.chunks_mut(per * osz)) {
                s.spawn(move || run_layers(net, inp, inp.len() / isz, g, 1, path, o));
            }
        });
    } else {
        run_layers(net, input, nb, g, threads, path, out);
    }
}

fn run_layers(
    net: &NetWeights,
    input: &[f32],
    nb: usize,
    g: usize,
    threads: usize,
    path: KernelPath,
    out: &mut [f32],
) {
    let wd = net.conv_in.cout;
    let mut pad = Vec::new();
    let mut h = vec![0f32; nb * g * g * wd];
    let mut r = vec![0f32; nb * g * g * wd];
    pad_into(path, input, nb, g, net.cin, false, &mut pad);
    conv_par(path, &net.conv_in, &pad, nb, g, &mut h, false, threads);
    for [c1, c2] in &net.res {
        pad_into(path, &h, nb, g, wd, true, &mut pad);
        conv_par(path, c1, &pad, nb, g, &mut r, false, threads);
        pad_into(path, &r, nb, g, wd, true, &mut pad);
        conv_par(path, c2, &pad, nb, g, &mut h, true, threads);
    }
    pad_into(path, &h, nb, g, wd, true, &mut pad);
    conv_par(path, &net.conv_out, &pad, nb, g, out, false, threads);
}

/// One convolution over all `nb * g` output rows, split into contiguous row ranges per thread.
#[allow(clippy::too_many_arguments)]
fn conv_par(
    path: KernelPath,
    conv: &Conv,
    pad: &[f32],
    nb: usize,
    g: usize,
    out: &mut [f32],
    accumulate: bool,
    threads: usize,
) {
    let rows = nb * g;
    if threads <= 1 || rows < 2 {
        conv3x3(path, conv, pad, g, g, 0..rows, out, accumulate);
        return;
    }
    let per = rows.div_ceil(threads);
    std::thread::scope(|s| {
        let mut chunks = out.chunks_mut(per * g * conv.cout).enumerate();
        let first = chunks.next();
        for (t, chunk) in chunks {
            let r0 = t * per;
            let r1 = r0 + chunk.len() / (g * conv.cout);
            s.spawn(move || conv3x3(path, conv, pad, g, g, r0..r1, chunk, accumulate));
        }
        if let Some((_, chunk)) = first {
            let r1 = chunk.len() / (g * conv.cout);
            conv3x3(path, conv, pad, g, g, 0..r1, chunk, accumulate);
        }
    });
}

/// Copies `src [nb][g][g][c]` into `dst [nb][g+2][g+2][c]` with a +0.0 border, applying elu
/// on the way when asked.
fn pad_into(
    path: KernelPath,
    src: &[f32],
    nb: usize,
    g: usize,
    c: usize,
    elu: bool,
    dst: &mut Vec<f32>,
) {
    dst.clear();
    dst.resize(nb * (g + 2) * (g + 2) * c, 0.0);
    match path.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 and FMA are present (checked by `usable`).
        KernelPath::Avx2 | KernelPath::Avx512 => unsafe { pad_avx2(src, nb, g, c, elu, dst) },
        _ => pad_body(src, nb, g, c, elu, dst),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pad_avx2(src: &[f32], nb: usize, g: usize, c: usize, elu: bool, dst: &mut [f32]) {
    // The same IEEE operations as the portable body; the compiler may vectorise them, which
    // cannot change any result (each element is computed on its own).
    pad_body(src, nb, g, c, elu, dst)
}

#[inline(always)]
fn pad_body(src: &[f32], nb: usize, g: usize, c: usize, elu: bool, dst: &mut [f32]) {
    let (srow, drow) = (g * c, (g + 2) * c);
    for b in 0..nb {
        for y in 0..g {
            let s = &src[(b * g + y) * srow..][..srow];
            let d = &mut dst[(b * (g + 2) + y + 1) * drow + c..][..srow];
            if elu {
                for (d, &s) in d.iter_mut().zip(s) {
                    *d = elu_f32(s);
                }
            } else {
                d.copy_from_slice(s);
            }
        }
    }
}

/// Splits raw outputs `[n][2*cout]` into `mu`, the clamped log-scale `ls = max(r, min_ls)` (NaN
/// becomes `min_ls`) and `inv_s = exp(-ls)` (spec §4.4).
pub(crate) fn split_output(
    path: KernelPath,
    raw: &[f32],
    cout: usize,
    min_ls: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = raw.len() / (2 * cout);
    let mut mu = Vec::with_capacity(n * cout);
    let mut ls = Vec::with_capacity(n * cout);
    for px in raw.chunks_exact(2 * cout) {
        mu.extend_from_slice(&px[..cout]);
        ls.extend(
            px[cout..]
                .iter()
                .map(|&r| if r > min_ls { r } else { min_ls }),
        );
    }
    let mut inv_s = vec![0f32; ls.len()];
    match path.usable() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 and FMA are present (checked by `usable`).
        KernelPath::Avx2 | KernelPath::Avx512 => unsafe { inv_scale_avx2(&ls, &mut inv_s) },
        _ => inv_scale_body(&ls, &mut inv_s),
    }
    (mu, ls, inv_s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn inv_scale_avx2(ls: &[f32], inv_s: &mut [f32]) {
    inv_scale_body(ls, inv_s)
}

#[inline(always)]
fn inv_scale_body(ls: &[f32], inv_s: &mut [f32]) {
    for (o, &l) in inv_s.iter_mut().zip(ls) {
        *o = exp_f32(-l);
    }
}
