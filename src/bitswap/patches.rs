//! Cutting images of any size into the model's square patches, and putting them back.
//!
//! An image of `width x height` is covered by `ceil(height / P) x ceil(width / P)` patches in
//! raster order. A patch that overhangs the right or bottom edge is padded by edge replication:
//! padded sample `(y, x)` copies the real sample `(min(y, real_h - 1), min(x, real_w - 1))` of the
//! same patch. The padding is never coded; the decoder rebuilds it from the patch's real samples,
//! which it knows exactly when bits-back needs the padded patch (to push `z1` with `q(z1|x)`).

/// The patch grid of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub patch: usize,
}

/// One patch's place in its image and how much of it is real (not padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchPos {
    pub top: usize,
    pub left: usize,
    pub real_h: usize,
    pub real_w: usize,
}

impl Grid {
    pub fn rows(&self) -> usize {
        self.height.div_ceil(self.patch)
    }

    pub fn cols(&self) -> usize {
        self.width.div_ceil(self.patch)
    }

    pub fn count(&self) -> usize {
        self.rows() * self.cols()
    }

    /// The `index`-th patch in raster order.
    pub fn pos(&self, index: usize) -> PatchPos {
        let (row, col) = (index / self.cols(), index % self.cols());
        let (top, left) = (row * self.patch, col * self.patch);
        PatchPos {
            top,
            left,
            real_h: (self.height - top).min(self.patch),
            real_w: (self.width - left).min(self.patch),
        }
    }
}

/// Copies patch `pos` out of an interleaved `channels`-sample image into a `P x P x channels`
/// buffer, replicating edges into the padding.
pub fn extract(image: &[u8], grid: &Grid, channels: usize, pos: &PatchPos, out: &mut [u8]) {
    let p = grid.patch;
    debug_assert_eq!(out.len(), p * p * channels);
    for y in 0..p {
        let src_y = pos.top + y.min(pos.real_h - 1);
        for x in 0..p {
            let src_x = pos.left + x.min(pos.real_w - 1);
            let src = (src_y * grid.width + src_x) * channels;
            let dst = (y * p + x) * channels;
            out[dst..dst + channels].copy_from_slice(&image[src..src + channels]);
        }
    }
}

/// Writes the real samples of a `P x P x channels` patch back into the image.
pub fn insert(image: &mut [u8], grid: &Grid, channels: usize, pos: &PatchPos, patch: &[u8]) {
    let p = grid.patch;
    for y in 0..pos.real_h {
        let dst = ((pos.top + y) * grid.width + pos.left) * channels;
        let src = y * p * channels;
        let n = pos.real_w * channels;
        image[dst..dst + n].copy_from_slice(&patch[src..src + n]);
    }
}

/// Rebuilds the padding of a patch whose real samples are in place (the decoder's view of
/// [`extract`]).
pub fn pad(patch: &mut [u8], p: usize, channels: usize, pos: &PatchPos) {
    for y in 0..p {
        let src_y = y.min(pos.real_h - 1);
        for x in 0..p {
            if y < pos.real_h && x < pos.real_w {
                continue;
            }
            let src_x = x.min(pos.real_w - 1);
            let src = (src_y * p + src_x) * channels;
            let dst = (y * p + x) * channels;
            patch.copy_within(src..src + channels, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_pixel_once() {
        for &(w, h, p) in &[
            (1, 1, 32),
            (33, 31, 32),
            (64, 64, 32),
            (28, 28, 28),
            (100, 7, 8),
        ] {
            let g = Grid {
                width: w,
                height: h,
                patch: p,
            };
            let mut seen = vec![0u8; w * h];
            for i in 0..g.count() {
                let pos = g.pos(i);
                assert!(pos.real_h >= 1 && pos.real_w >= 1);
                for y in 0..pos.real_h {
                    for x in 0..pos.real_w {
                        seen[(pos.top + y) * w + pos.left + x] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{w}x{h} P={p}");
        }
    }

    #[test]
    fn extract_insert_pad_round_trip() {
        let (w, h, p, c) = (45, 19, 16, 3);
        let image: Vec<u8> = (0..w * h * c).map(|i| (i * 7 % 251) as u8).collect();
        let g = Grid {
            width: w,
            height: h,
            patch: p,
        };
        let mut back = vec![0u8; image.len()];
        for i in 0..g.count() {
            let pos = g.pos(i);
            let mut patch = vec![0u8; p * p * c];
            extract(&image, &g, c, &pos, &mut patch);
            // The decoder only knows the real samples; padding must come back identical.
            let mut rebuilt = vec![0u8; p * p * c];
            for y in 0..pos.real_h {
                let s = y * p * c;
                rebuilt[s..s + pos.real_w * c].copy_from_slice(&patch[s..s + pos.real_w * c]);
            }
            pad(&mut rebuilt, p, c, &pos);
            assert_eq!(rebuilt, patch);
            insert(&mut back, &g, c, &pos, &patch);
        }
        assert_eq!(back, image);
    }
}
