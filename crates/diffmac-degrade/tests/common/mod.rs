//! Shared helpers of the integration tests.
#![allow(dead_code)]

use image::{Rgb, Rgb32FImage};

/// A deterministic test face stand-in: smooth gradients plus a fine checker texture, so both
/// low- and high-frequency content is present.
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

/// Mean squared difference between horizontally and vertically adjacent pixels: a measure of
/// high-frequency energy.
pub fn high_frequency_energy(image: &Rgb32FImage) -> f64 {
    let (w, h) = image.dimensions();
    let mut sum = 0.0;
    let mut count = 0usize;
    for y in 0..h {
        for x in 0..w {
            let p = image.get_pixel(x, y);
            for (nx, ny) in [(x + 1, y), (x, y + 1)] {
                if nx < w && ny < h {
                    let q = image.get_pixel(nx, ny);
                    for c in 0..3 {
                        sum += f64::from(p[c] - q[c]).powi(2);
                        count += 1;
                    }
                }
            }
        }
    }
    sum / count as f64
}

/// Largest absolute difference of two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
