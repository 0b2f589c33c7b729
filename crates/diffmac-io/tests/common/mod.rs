//! Shared helpers of the integration tests.
#![allow(dead_code)]

use image::{Rgb, Rgb32FImage};

/// A deterministic test image: smooth gradients plus a fine checker texture, so both low- and
/// high-frequency content is present.
pub fn textured(width: u32, height: u32) -> Rgb32FImage {
    Rgb32FImage::from_fn(width, height, |x, y| {
        let checker = if (x / 2 + y / 2) % 2 == 0 {
            0.15
        } else {
            -0.15
        };
        let fx = x as f32 / width as f32;
        let fy = y as f32 / height as f32;
        Rgb([
            (0.5 + 0.3 * fx + checker).clamp(0.0, 1.0),
            (0.4 + 0.3 * fy + checker).clamp(0.0, 1.0),
            (0.3 + 0.2 * (fx + fy) - checker).clamp(0.0, 1.0),
        ])
    })
}

/// Largest absolute difference of two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
