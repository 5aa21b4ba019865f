//! Pillow's `convert('L')` on one RGB sample, `(19595 R + 38470 G + 7471 B + 0x8000) >> 16`:
//! how the grey evaluation set (photos-eval in grey) is defined. Shared by the examples that
//! convert photos to grey, so that they measure the same images.

pub fn pillow_grey(p: &[u8]) -> u8 {
    ((19595 * p[0] as u32 + 38470 * p[1] as u32 + 7471 * p[2] as u32 + 0x8000) >> 16) as u8
}
