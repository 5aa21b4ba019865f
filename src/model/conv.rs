//! 3x3 convolution, padding 1, NHWC, in the exact accumulation order of spec/model.md §4.2.
//!
//! Each output `(pixel, o)` is one fused multiply-add chain over (ky, kx, input channel), started
//! from +0.0, then `+ bias`. The SIMD kernel gives each lane one output channel, so every lane
//! runs exactly the scalar chain: the two paths agree bit for bit (tested).

use std::ops::Range;
use std::sync::OnceLock;

/// Which kernels to run. `Scalar` is portable Rust (`f32::mul_add`); `Avx2` needs AVX2 and FMA;
/// `Avx512` needs AVX-512F (its elementwise steps use the AVX2 code). All give identical bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPath {
    Scalar,
    Avx2,
    Avx512,
}

impl KernelPath {
    /// The fastest path this CPU supports, or `Scalar` when `BSAR_FORCE_SCALAR=1` (read once).
    pub fn detect() -> KernelPath {
        static PATH: OnceLock<KernelPath> = OnceLock::new();
        *PATH.get_or_init(|| {
            let forced = std::env::var("BSAR_FORCE_SCALAR")
                .map(|v| v == "1")
                .unwrap_or(false);
            if forced {
                KernelPath::Scalar
            } else if KernelPath::Avx512.is_available() {
                KernelPath::Avx512
            } else if KernelPath::Avx2.is_available() {
                KernelPath::Avx2
            } else {
                KernelPath::Scalar
            }
        })
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            KernelPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => {
                KernelPath::Avx2.is_available() && is_x86_feature_detected!("avx512f")
            }
            #[cfg(not(target_arch = "x86_64"))]
            KernelPath::Avx2 | KernelPath::Avx512 => false,
        }
    }

    /// `self` if available, else `Scalar` (results are identical either way).
    pub(crate) fn usable(self) -> KernelPath {
        if self.is_available() {
            self
        } else {
            KernelPath::Scalar
        }
    }
}

/// One convolution's weights, repacked for the kernels: `w[((ky*3 + kx)*cin + i)*opad + o]`,
/// output channels padded with zeros to `opad`, a multiple of 8 (one AVX2 vector).
pub(crate) struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub opad: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

impl Conv {
    /// From PyTorch's layout `[cout][cin][3][3]` and a bias `[cout]`.
    pub fn from_oihw(w: &[f32], b: &[f32], cout: usize, cin: usize) -> Conv {
        assert_eq!(w.len(), cout * cin * 9);
        assert_eq!(b.len(), cout);
        let opad = cout.div_ceil(8) * 8;
        let mut packed = vec![0f32; 9 * cin * opad];
        for o in 0..cout {
            for i in 0..cin {
                for t in 0..9 {
                    packed[(t * cin + i) * opad + o] = w[(o * cin + i) * 9 + t];
                }
            }
        }
        let mut bias = vec![0f32; opad];
        bias[..cout].copy_from_slice(b);
        Conv {
            cin,
            cout,
            opad,
            w: packed,
            b: bias,
        }
    }

    /// Multiply-accumulates per output pixel.
    pub fn macs_per_pixel(&self) -> usize {
        9 * self.cin * self.cout
    }
}

/// Computes output rows `rows` (row index `b*h + y` over a batch) of the convolution.
/// `pad` is the zero-bordered input `[batch][h+2][w+2][cin]`; `out` holds exactly those rows,
/// `[rows.len()][w][cout]`. With `accumulate`, `out = out + (acc + bias)` (the residual add),
/// else `out = acc + bias`.
pub(crate) fn conv3x3(
    path: KernelPath,
    conv: &Conv,
    pad: &[f32],
    h: usize,
    w: usize,
    rows: Range<usize>,
    out: &mut [f32],
    accumulate: bool,
) {
    assert!(pad.len() >= rows.end.div_ceil(h.max(1)) * (h + 2) * (w + 2) * conv.cin);
    assert_eq!(out.len(), rows.len() * w * conv.cout);
    match path.usable() {
        KernelPath::Scalar => conv_scalar(conv, pad, h, w, rows, out, accumulate),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked AVX2 and FMA; the asserts above bound every access.
        KernelPath::Avx2 => unsafe { avx2::conv(conv, pad, h, w, rows, out, accumulate) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked AVX-512F (and AVX2, FMA); the asserts above bound every access.
        KernelPath::Avx512 => unsafe { avx512::conv(conv, pad, h, w, rows, out, accumulate) },
        #[cfg(not(target_arch = "x86_64"))]
        KernelPath::Avx2 | KernelPath::Avx512 => unreachable!(),
    }
}

fn conv_scalar(
    conv: &Conv,
    pad: &[f32],
    h: usize,
    w: usize,
    rows: Range<usize>,
    out: &mut [f32],
    accumulate: bool,
) {
    let (cin, cout, opad) = (conv.cin, conv.cout, conv.opad);
    let rs = (w + 2) * cin;
    let mut acc = vec![0f32; cout];
    for (ri, r) in rows.enumerate() {
        let (b, y) = (r / h, r % h);
        let img = b * (h + 2) * rs;
        for x in 0..w {
            acc.fill(0.0);
            for t in 0..9 {
                let (ky, kx) = (t / 3, t % 3);
                let ip = &pad[img + (y + ky) * rs + (x + kx) * cin..][..cin];
                let wt = &conv.w[t * cin * opad..];
                for (i, &a) in ip.iter().enumerate() {
                    let wrow = &wt[i * opad..][..cout];
                    for (acc, &wv) in acc.iter_mut().zip(wrow) {
                        *acc = wv.mul_add(a, *acc);
                    }
                }
            }
            let dst = &mut out[(ri * w + x) * cout..][..cout];
            for ((d, &a), &b) in dst.iter_mut().zip(&acc).zip(&conv.b) {
                let v = a + b;
                *d = if accumulate { *d + v } else { v };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Conv;
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Pixels per register tile (6 pixels x 2 vectors = 12 accumulators of 16 registers).
    const MR: usize = 6;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn conv(
        conv: &Conv,
        pad: &[f32],
        h: usize,
        w: usize,
        rows: Range<usize>,
        out: &mut [f32],
        accumulate: bool,
    ) {
        let (cin, cout, opad) = (conv.cin, conv.cout, conv.opad);
        let rs = (w + 2) * cin;
        for (ri, r) in rows.enumerate() {
            let (b, y) = (r / h, r % h);
            let row_in = pad.as_ptr().add(b * (h + 2) * rs + y * rs);
            let orow = &mut out[ri * w * cout..][..w * cout];
            let mut ob = 0;
            while ob < opad {
                let two = opad - ob >= 16;
                let mut x0 = 0;
                while x0 < w {
                    let mr = (w - x0).min(MR);
                    let ip = row_in.add(x0 * cin);
                    macro_rules! go {
                        ($m:literal) => {
                            if two {
                                tile::<$m, 2>(conv, ip, rs, ob, orow, x0, accumulate)
                            } else {
                                tile::<$m, 1>(conv, ip, rs, ob, orow, x0, accumulate)
                            }
                        };
                    }
                    match mr {
                        6 => go!(6),
                        5 => go!(5),
                        4 => go!(4),
                        3 => go!(3),
                        2 => go!(2),
                        _ => go!(1),
                    }
                    x0 += mr;
                }
                ob += if two { 16 } else { 8 };
            }
        }
        let _ = cout;
    }

    /// `M` pixels starting at column `x0`, output channels `ob .. ob + 8*V`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<const M: usize, const V: usize>(
        conv: &Conv,
        ip: *const f32,
        rs: usize,
        ob: usize,
        orow: &mut [f32],
        x0: usize,
        accumulate: bool,
    ) {
        let (cin, cout, opad) = (conv.cin, conv.cout, conv.opad);
        let mut acc = [[_mm256_setzero_ps(); V]; M];
        let wbase = conv.w.as_ptr().add(ob);
        for t in 0..9 {
            let (ky, kx) = (t / 3, t % 3);
            let ipt = ip.add(ky * rs + kx * cin);
            let wt = wbase.add(t * cin * opad);
            for i in 0..cin {
                let wp = wt.add(i * opad);
                let mut wv = [_mm256_setzero_ps(); V];
                for (v, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm256_loadu_ps(wp.add(8 * v));
                }
                for (p, acc) in acc.iter_mut().enumerate() {
                    let a = _mm256_broadcast_ss(&*ipt.add(p * cin + i));
                    for v in 0..V {
                        acc[v] = _mm256_fmadd_ps(wv[v], a, acc[v]);
                    }
                }
            }
        }
        for (p, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                let o0 = ob + 8 * v;
                let val = _mm256_add_ps(acc, _mm256_loadu_ps(conv.b.as_ptr().add(o0)));
                let dst = &mut orow[(x0 + p) * cout + o0..];
                if o0 + 8 <= cout {
                    let d = dst.as_mut_ptr();
                    let val = if accumulate {
                        _mm256_add_ps(_mm256_loadu_ps(d), val)
                    } else {
                        val
                    };
                    _mm256_storeu_ps(d, val);
                } else {
                    let mut tmp = [0f32; 8];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), val);
                    for (d, &t) in dst[..cout - o0].iter_mut().zip(&tmp) {
                        *d = if accumulate { *d + t } else { t };
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Conv;
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Pixels per register tile (8 pixels x 2 vectors of 16 = 16 of the 32 registers).
    const MR: usize = 8;

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn conv(
        conv: &Conv,
        pad: &[f32],
        h: usize,
        w: usize,
        rows: Range<usize>,
        out: &mut [f32],
        accumulate: bool,
    ) {
        let (cin, cout, opad) = (conv.cin, conv.cout, conv.opad);
        let rs = (w + 2) * cin;
        for (ri, r) in rows.enumerate() {
            let (b, y) = (r / h, r % h);
            let row_in = pad.as_ptr().add(b * (h + 2) * rs + y * rs);
            let orow = &mut out[ri * w * cout..][..w * cout];
            let mut ob = 0;
            while ob < opad {
                // Blocks of 32 channels, then 16, then a last one of 8 (opad is a multiple of 8).
                let left = opad - ob;
                let two = left >= 32;
                let span = if two { 32 } else { left.min(16) };
                let mut x0 = 0;
                while x0 < w {
                    let mr = (w - x0).min(MR);
                    let ip = row_in.add(x0 * cin);
                    macro_rules! go {
                        ($m:literal) => {
                            if two {
                                tile::<$m, 2>(conv, ip, rs, ob, span, orow, x0, accumulate)
                            } else {
                                tile::<$m, 1>(conv, ip, rs, ob, span, orow, x0, accumulate)
                            }
                        };
                    }
                    match mr {
                        8 => go!(8),
                        7 => go!(7),
                        6 => go!(6),
                        5 => go!(5),
                        4 => go!(4),
                        3 => go!(3),
                        2 => go!(2),
                        _ => go!(1),
                    }
                    x0 += mr;
                }
                ob += span;
            }
        }
    }

    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// `M` pixels from column `x0`, output channels `ob .. ob + span` (`span` = 16*V, or 8 for
    /// a last half vector, loaded with a mask; masked-off lanes are never read or written).
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const M: usize, const V: usize>(
        conv: &Conv,
        ip: *const f32,
        rs: usize,
        ob: usize,
        span: usize,
        orow: &mut [f32],
        x0: usize,
        accumulate: bool,
    ) {
        let (cin, cout, opad) = (conv.cin, conv.cout, conv.opad);
        let wmask: [__mmask16; V] = std::array::from_fn(|v| lanes(span - 16 * v));
        let mut acc = [[_mm512_setzero_ps(); V]; M];
        let wbase = conv.w.as_ptr().add(ob);
        for t in 0..9 {
            let (ky, kx) = (t / 3, t % 3);
            let ipt = ip.add(ky * rs + kx * cin);
            let wt = wbase.add(t * cin * opad);
            for i in 0..cin {
                let wp = wt.add(i * opad);
                let mut wv = [_mm512_setzero_ps(); V];
                for (v, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_maskz_loadu_ps(wmask[v], wp.add(16 * v));
                }
                for (p, acc) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*ipt.add(p * cin + i));
                    for v in 0..V {
                        acc[v] = _mm512_fmadd_ps(wv[v], a, acc[v]);
                    }
                }
            }
        }
        for (p, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                let o0 = ob + 16 * v;
                if o0 >= cout {
                    continue;
                }
                let m = lanes(cout - o0) & wmask[v];
                let val = _mm512_add_ps(
                    acc,
                    _mm512_maskz_loadu_ps(wmask[v], conv.b.as_ptr().add(o0)),
                );
                let d = orow.as_mut_ptr().add((x0 + p) * cout + o0);
                let val = if accumulate {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), val)
                } else {
                    val
                };
                _mm512_mask_storeu_ps(d, m, val);
            }
        }
    }
}
