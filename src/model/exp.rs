//! bsar's own exponential (spec/model.md §4.3), in f32 for coding time and in f64 for building
//! the logistic table once.
//!
//! Why not `f32::exp`: platform maths libraries differ in the last bit between systems and
//! versions, and the encoder and decoder must agree on every bit. Every step here is an
//! IEEE-754 basic operation (multiply, fused multiply-add, round-to-integer, comparison) that a
//! CPU and a CUDA GPU compute identically.

/// Inputs below this are raised to it (also where NaN goes): `exp(-87)` is still a normal f32.
pub const EXP_MIN: f32 = -87.0;
/// Inputs above this are lowered to it: `exp(88)` is still finite.
pub const EXP_MAX: f32 = 88.0;

const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B); // 0x1.715476p+0
const LN2_HI: f32 = f32::from_bits(0x3F31_7200); // 0x1.62e4p-1 (low mantissa bits zero)
const LN2_LO: f32 = f32::from_bits(0x35BF_BE8E); // 0x1.7f7d1cp-20
/// 1/n! rounded to f32, for n = 2..=7 (Taylor polynomial of degree 7).
const C: [f32; 6] = [
    f32::from_bits(0x3F00_0000), // 0x1p-1
    f32::from_bits(0x3E2A_AAAB), // 0x1.555556p-3
    f32::from_bits(0x3D2A_AAAB), // 0x1.555556p-5
    f32::from_bits(0x3C08_8889), // 0x1.111112p-7
    f32::from_bits(0x3AB6_0B61), // 0x1.6c16c2p-10
    f32::from_bits(0x3950_0D01), // 0x1.a01a02p-13
];

/// bsar exp in f32. Exactly the operation sequence of spec §4.3; results are within 2 ulp of
/// the true exponential over `[EXP_MIN, EXP_MAX]` and always finite, positive and normal.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // The comparisons are written so that NaN fails the first test and becomes EXP_MIN.
    let x = if x >= EXP_MIN { x } else { EXP_MIN };
    let x = if x <= EXP_MAX { x } else { EXP_MAX };
    let kf = (x * LOG2E).round_ties_even(); // in -126..=127
    let r = (-kf).mul_add(LN2_HI, x);
    let r = (-kf).mul_add(LN2_LO, r);
    let mut p = C[5];
    p = p.mul_add(r, C[4]);
    p = p.mul_add(r, C[3]);
    p = p.mul_add(r, C[2]);
    p = p.mul_add(r, C[1]);
    p = p.mul_add(r, C[0]);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // 2^k built from its bit pattern: an exact scaling, the product is never subnormal.
    let k = kf as i32;
    p * f32::from_bits(((k + 127) as u32) << 23)
}

/// `elu(v) = v` for `v > 0`, else `exp(v) - 1` (NaN takes the second branch, giving -1 + exp(-87)).
#[inline(always)]
pub fn elu_f32(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        exp_f32(v) - 1.0
    }
}

const LOG2E_64: f64 = f64::from_bits(0x3FF7_1547_652B_82FE);
const LN2_HI_64: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO_64: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
/// 1/n! rounded to f64, for n = 2..=13.
const D: [u64; 12] = [
    0x3FE0_0000_0000_0000,
    0x3FC5_5555_5555_5555,
    0x3FA5_5555_5555_5555,
    0x3F81_1111_1111_1111,
    0x3F56_C16C_16C1_6C17,
    0x3F2A_01A0_1A01_A01A,
    0x3EFA_01A0_1A01_A01A,
    0x3EC7_1DE3_A556_C734,
    0x3E92_7E4F_B778_9F5C,
    0x3E5A_E645_67F5_44E4,
    0x3E21_EED8_EFF8_D898,
    0x3DE6_1246_13A8_6D09,
];

/// bsar exp in f64, used only to build the logistic table (spec §4.5). Defined for
/// `x` in `[-700, 700]` (the table needs `[-16, 0]`); the caller guarantees the range.
pub fn exp_f64(x: f64) -> f64 {
    debug_assert!((-700.0..=700.0).contains(&x));
    let kf = (x * LOG2E_64).round_ties_even();
    let r = (-kf).mul_add(LN2_HI_64, x);
    let r = (-kf).mul_add(LN2_LO_64, r);
    let mut p = f64::from_bits(D[11]);
    for &d in D[..11].iter().rev() {
        p = p.mul_add(r, f64::from_bits(d));
    }
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let k = kf as i64;
    p * f64::from_bits(((k + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_close_to_the_true_exponential() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let got = exp_f32(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.0123;
        }
        assert!(
            worst < 3.0 * f32::EPSILON as f64,
            "worst relative error {worst}"
        );
    }

    #[test]
    fn exp_f32_edges_are_defined() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::NAN), exp_f32(EXP_MIN));
        assert_eq!(exp_f32(f32::NEG_INFINITY), exp_f32(EXP_MIN));
        assert_eq!(exp_f32(f32::INFINITY), exp_f32(EXP_MAX));
        assert!(exp_f32(EXP_MIN).is_normal() && exp_f32(EXP_MAX).is_finite());
        assert_eq!(elu_f32(f32::NAN), exp_f32(EXP_MIN) - 1.0);
    }

    #[test]
    fn exp_f64_is_close_to_the_true_exponential() {
        for i in 0..=16000 {
            let x = -(i as f64) / 1000.0;
            let (got, want) = (exp_f64(x), x.exp());
            assert!(((got - want) / want).abs() < 4.0 * f64::EPSILON, "x={x}");
        }
    }
}
