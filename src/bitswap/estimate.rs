//! What an image costs in a chunk, estimated without running a network: the predictive code's
//! integer cost over its patches. Under the default policy (`Policy::Cheapest`) the encoder codes
//! a patch by bits-back only when that costs less, so the estimate bounds the image's cost from
//! above (its mode symbols aside). Used to attribute a chunk's coded bytes to its images, which
//! the writer compares with storing each file as bytes.

use super::patches::{self, Grid};
use super::predictive::Intervals;
use super::Planes;
use crate::ans::Q16;

/// The predictive code's cost of `img` in 1/65536 bits, coded in `patch x patch` patches at
/// pixel precision `precision`.
pub fn predictive_cost(img: &Planes, patch: usize, precision: u32) -> Q16 {
    let g = Grid {
        width: img.width,
        height: img.height,
        patch,
    };
    let mut buf = vec![0u8; patch * patch * img.channels];
    (0..g.count())
        .map(|k| {
            let pos = g.pos(k);
            patches::extract(&img.samples, &g, img.channels, &pos, &mut buf);
            Intervals::of(&buf, patch, img.channels, &pos, precision).cost()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_costs_more_than_a_gradient() {
        let (w, h) = (45, 37);
        let smooth: Vec<u8> = (0..w * h)
            .map(|i| ((i % w) * 3 + (i / w) * 2) as u8)
            .collect();
        let mut s = 12345u32;
        let noise: Vec<u8> = (0..w * h)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (s >> 16) as u8
            })
            .collect();
        let planes = |samples: Vec<u8>| Planes {
            width: w,
            height: h,
            channels: 1,
            samples,
            model: 0,
        };
        let a = predictive_cost(&planes(smooth), 32, 16);
        let b = predictive_cost(&planes(noise), 32, 16);
        let flat = predictive_cost(&planes(vec![77; w * h]), 32, 16);
        // Noise costs about 8 bits a sample or more; a gradient less, a flat image nearly nothing.
        let samples = (w * h) as u64;
        assert!(a < b && b > (samples * 7) << 16, "{a} {b}");
        assert!(flat < samples << 16, "{flat}");
    }
}
