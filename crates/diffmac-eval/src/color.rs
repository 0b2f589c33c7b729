//! The luma channel that basicsr's `test_y_channel` and NIQE use: ITU-R BT.601 "studio swing"
//! Y of MATLAB's `rgb2ycbcr`, `Y = 16 + (65.481 R + 128.553 G + 24.966 B)` for R, G, B in
//! [0, 1], giving Y in [16, 235].
//!
//! basicsr (`metric_util.to_y_channel` → `color_util.bgr2ycbcr`) divides by 255 in `float32`,
//! forms the dot product in `float64`, casts back to `float32` and multiplies by 255 in
//! `float32`. [`y_channel`] repeats those roundings, so PSNR/SSIM/NIQE on Y match basicsr to
//! the last few bits rather than to ~1e-5.

use crate::image::Image255;

/// Y of one RGB pixel on the 0–255 scale, rounded the way basicsr rounds it.
pub fn y_of_rgb(r: f64, g: f64, b: f64) -> f64 {
    let unit = |v: f64| f64::from(v as f32 / 255.0_f32);
    let y = unit(b) * 24.966 + unit(g) * 128.553 + unit(r) * 65.481 + 16.0;
    let y = (y / 255.0) as f32;
    f64::from(y * 255.0_f32)
}

/// The Y channel of an RGB image as a one-channel image on the 0–255 scale. A one-channel
/// image is returned unchanged (basicsr does the same with grey inputs).
pub fn y_channel(image: &Image255) -> Image255 {
    if image.channels() != 3 {
        return image.clone();
    }
    let data = image
        .data()
        .chunks_exact(3)
        .map(|p| y_of_rgb(p[0], p[1], p[2]))
        .collect();
    Image255::new(image.width(), image.height(), 1, data)
        .expect("one value per pixel matches the size")
}
