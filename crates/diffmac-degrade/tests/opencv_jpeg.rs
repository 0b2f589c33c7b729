//! The JPEG stage against OpenCV's `cv2.imencode` / `cv2.imdecode` round trip (libjpeg-turbo,
//! what basicsr runs), on fixtures written by `scripts/reference/jpeg_reference.py`.

use std::path::{Path, PathBuf};

use diffmac_degrade::jpeg::jpeg_round_trip;
use image::{DynamicImage, RgbImage};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rgb8(name: &str) -> RgbImage {
    image::open(fixture(name)).unwrap().to_rgb8()
}

/// PSNR in dB over every 8-bit value, as the reference script measures it.
fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse).log10()
}

fn ours(input: &RgbImage, quality: u8) -> RgbImage {
    let x = DynamicImage::ImageRgb8(input.clone()).to_rgb32f();
    DynamicImage::ImageRgb32F(jpeg_round_trip(&x, quality).unwrap()).to_rgb8()
}

#[test]
fn round_trip_matches_opencv_4_2_0_at_every_fixture_quality() {
    let input = rgb8("jpeg_input.png");
    for (quality, reference) in [(60, "jpeg_q60_opencv.png"), (90, "jpeg_q90_opencv.png")] {
        let reference = rgb8(reference);
        let p = psnr(&ours(&input, quality), &reference);
        eprintln!("q {quality}: {p:.2} dB from OpenCV");
        // A 4:4:4 encode lies 37.7 dB (q 60) / 40.2 dB (q 90) from OpenCV's output.
        assert!(p >= 44.0, "q {quality}: {p:.2} dB from OpenCV");
    }
}

#[test]
fn partial_edge_blocks_are_padded_as_libjpeg_pads_them() {
    let input = image::imageops::crop_imm(&rgb8("jpeg_input.png"), 14, 20, 101, 77).to_image();
    let p = psnr(&ours(&input, 60), &rgb8("jpeg_odd_q60_opencv.png"));
    eprintln!("101x77, q 60: {p:.2} dB from OpenCV");
    assert!(p >= 44.0, "{p:.2} dB from OpenCV");
}
