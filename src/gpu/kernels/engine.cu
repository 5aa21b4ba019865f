// The model engine's forward pass (spec/model.md 4.2-4.5), one thread per output value.
// NHWC layouts `[batch][y][x][channel]` on the g x g grid, as the Rust engine (src/model).
#include "portable.h"

// bsar exp (spec/model.md 4.3), operation for operation.
BSAR_FN float bsar_exp(float x) {
    const float EXP_MIN = -87.0f, EXP_MAX = 88.0f;
    x = (x >= EXP_MIN) ? x : EXP_MIN;  // NaN and -inf become EXP_MIN
    x = (x <= EXP_MAX) ? x : EXP_MAX;
    float kf = round_even(mul_rn(x, f32_from_bits(0x3FB8AA3Bu)));
    float r = fma_rn(-kf, f32_from_bits(0x3F317200u), x);
    r = fma_rn(-kf, f32_from_bits(0x35BFBE8Eu), r);
    float p = f32_from_bits(0x39500D01u);
    p = fma_rn(p, r, f32_from_bits(0x3AB60B61u));
    p = fma_rn(p, r, f32_from_bits(0x3C088889u));
    p = fma_rn(p, r, f32_from_bits(0x3D2AAAABu));
    p = fma_rn(p, r, f32_from_bits(0x3E2AAAABu));
    p = fma_rn(p, r, f32_from_bits(0x3F000000u));
    p = fma_rn(p, r, 1.0f);
    p = fma_rn(p, r, 1.0f);
    i32 k = (i32)kf;
    return mul_rn(p, f32_from_bits((u32)(k + 127) << 23));
}

// elu(v) = v if v > 0, else exp(v) - 1 (a NaN takes the second branch).
BSAR_FN float bsar_elu(float v) { return (v > 0.0f) ? v : sub_rn(bsar_exp(v), 1.0f); }

// 3x3 convolution, padding 1. Item i = ((b * g + y) * g + x) * cout + o. Weights
// w[((ky * 3 + kx) * cin + c) * cout + o], bias[o]. One fma chain per output over
// (ky, kx, c) ascending from +0.0; taps outside the grid read +0.0 and still take part; then
// `+ bias`, and with `accumulate` the residual add `out = out + (acc + bias)`.
BSAR_FN void conv3x3_one(u64 i, u32 nb, u32 g, u32 cin, u32 cout, const float *w,
                         const float *bias, const float *in, float *out, u32 accumulate) {
    u32 o = (u32)(i % cout);
    u64 px = i / cout;
    u32 x = (u32)(px % g);
    u32 y = (u32)((px / g) % g);
    u64 b = px / ((u64)g * g);
    float acc = 0.0f;
    for (u32 ky = 0; ky < 3; ky++) {
        for (u32 kx = 0; kx < 3; kx++) {
            i32 yy = (i32)y + (i32)ky - 1, xx = (i32)x + (i32)kx - 1;
            bool inside = yy >= 0 && yy < (i32)g && xx >= 0 && xx < (i32)g;
            const float *ip = in + ((b * g + (u64)(inside ? yy : 0)) * g + (u64)(inside ? xx : 0)) * cin;
            const float *wp = w + (u64)(ky * 3 + kx) * cin * cout + o;
            for (u32 c = 0; c < cin; c++) {
                float a = inside ? ip[c] : 0.0f;
                acc = fma_rn(wp[(u64)c * cout], a, acc);
            }
        }
    }
    float v = add_rn(acc, bias[o]);
    out[i] = accumulate ? add_rn(out[i], v) : v;
}
KERNEL_1D(conv3x3, (u64)nb * g * g * cout,
          (u32 nb, u32 g, u32 cin, u32 cout, const float *w, const float *bias, const float *in,
           float *out, u32 accumulate),
          (i, nb, g, cin, cout, w, bias, in, out, accumulate))

BSAR_FN void elu_one(u64 i, u64 n, const float *src, float *dst) { dst[i] = bsar_elu(src[i]); }
KERNEL_1D(elu, n, (u64 n, const float *src, float *dst), (i, n, src, dst))

// Logistic parameters (spec/model.md 4.4) from raw outputs [n][2 * cout]: item i = px * cout + c.
BSAR_FN void logistic_params_one(u64 i, u64 n, u32 cout, float min_ls, const float *raw,
                                 float *mu, float *ls, float *inv_s) {
    u64 px = i / cout;
    u32 c = (u32)(i % cout);
    mu[i] = raw[px * 2 * cout + c];
    float r = raw[px * 2 * cout + cout + c];
    float l = (r > min_ls) ? r : min_ls;  // a NaN becomes min_ls
    ls[i] = l;
    inv_s[i] = bsar_exp(-l);
}
KERNEL_1D(logistic_params, n * cout,
          (u64 n, u32 cout, float min_ls, const float *raw, float *mu, float *ls, float *inv_s),
          (i, n, cout, min_ls, raw, mu, ls, inv_s))

// Squeezed network input of the first net from 8-bit samples (spec/model.md 4.2): item i is
// one sample of `pixels` [nb][P][P][C]; s = k / 127.5 - 1 goes to its squeezed position.
BSAR_FN void squeeze_pixels_one(u64 i, u64 count, u32 p, u32 c, const unsigned char *pixels,
                                float *out) {
    u32 ch = (u32)(i % c);
    u64 yx = i / c;
    u32 x = (u32)(yx % p), y = (u32)((yx / p) % p);
    u64 b = yx / ((u64)p * p);
    u32 g = p / 2, c4 = 4 * c;
    u64 dst = b * p * p * c + ((u64)(y / 2) * g + x / 2) * c4 + ch * 4 + (y % 2) * 2 + (x % 2);
    out[dst] = sub_rn(div_rn((float)pixels[i], 127.5f), 1.0f);
}
KERNEL_1D(squeeze_pixels, count,
          (u64 count, u32 p, u32 c, const unsigned char *pixels, float *out),
          (i, count, p, c, pixels, out))

// G(e) of spec/model.md 4.5: the integer logistic CDF at edge e, in 0 .. 2^31.
BSAR_FN u64 integer_logistic(const u32 *table, float e, float mu, float inv_s) {
    float t = mul_rn(sub_rn(e, mu), inv_s);
    t = (t >= -16.0f) ? t : -16.0f;  // NaN becomes -16
    t = (t <= 16.0f) ? t : 16.0f;
    i32 u = (i32)mul_rn(t, 65536.0f);  // exact scaling, truncation toward zero
    u32 v = (u32)(u + 16 * 65536);
    u32 j = v >> 6, f = v & 63;
    u64 lo = table[j];
    if (f == 0) return lo;
    return lo + (((u64)(table[j + 1] - table[j]) * f) >> 6);
}

// Cumulative frequencies C(0..=nbins) at precision p of distribution d (spec/model.md 4.5):
// item i = d * (nbins + 1) + k, out[i] = C(k). `edges` are the nbins - 1 interior edges.
BSAR_FN void logistic_cdf_one(u64 i, u64 ndist, u32 nbins, const float *edges, const u32 *table,
                              const float *mu, const float *inv_s, u32 p, u32 *out) {
    u64 d = i / (nbins + 1);
    u32 k = (u32)(i % (nbins + 1));
    u32 c;
    if (k == 0) {
        c = 0;
    } else if (k >= nbins) {
        c = (u32)(1ull << p);
    } else {
        u64 spread = (1ull << p) - nbins;
        u64 gv = integer_logistic(table, edges[k - 1], mu[d], inv_s[d]);
        c = k + (u32)((gv * spread) >> 31);
    }
    out[i] = c;
}
KERNEL_1D(logistic_cdf, ndist * (nbins + 1),
          (u64 ndist, u32 nbins, const float *edges, const u32 *table, const float *mu,
           const float *inv_s, u32 p, u32 *out),
          (i, ndist, nbins, edges, table, mu, inv_s, p, out))
