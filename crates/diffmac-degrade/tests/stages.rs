//! Each stage of eq. 14 does what it should, alone and in the whole pipeline.

mod common;

use common::{high_frequency_energy, max_abs_diff, textured};
use diffmac_degrade::blur::{blur, blur_separable};
use diffmac_degrade::fft_blur::blur_fft;
use diffmac_degrade::jpeg::jpeg_round_trip;
use diffmac_degrade::kernel::Kernel2d;
use diffmac_degrade::noise::add_gaussian_noise;
use diffmac_degrade::{
    BlurParams, DegradationParams, DownsampleParams, Interpolation, degrade, quantize_8bit,
};
use diffmac_io::stream_rng;
use image::{Rgb, Rgb32FImage};

#[test]
fn blur_lowers_high_frequency_energy_and_keeps_the_mean() {
    let image = textured(96, 80);
    let mut rng = stream_rng(1, b"blur");
    let params = DegradationParams {
        blur: Some(BlurParams::isotropic(41, 3.0)),
        ..Default::default()
    };
    let out = degrade(&image, &params, &mut rng).unwrap();
    let (before, after) = (high_frequency_energy(&image), high_frequency_energy(&out));
    assert!(
        after < 0.05 * before,
        "high-frequency energy {before} -> {after}"
    );
    let mean = |im: &Rgb32FImage| im.iter().map(|&v| f64::from(v)).sum::<f64>() / im.len() as f64;
    assert!((mean(&image) - mean(&out)).abs() < 0.01);
}

#[test]
fn stronger_blur_removes_more_detail() {
    let image = textured(64, 64);
    let energy = |sigma| {
        high_frequency_energy(&blur(
            &image,
            &Kernel2d::gaussian(&BlurParams::isotropic(41, sigma)),
        ))
    };
    assert!(energy(1.0) > energy(3.0) && energy(3.0) > energy(10.0));
}

/// Direct correlation with mirrored borders, in f64: the definition both fast paths must meet.
fn dense_correlation(image: &Rgb32FImage, kernel: &Kernel2d) -> Vec<f32> {
    let (w, h) = (image.width() as isize, image.height() as isize);
    let r = (kernel.size / 2) as isize;
    let mirror = |i: isize, n: isize| {
        if n == 1 {
            return 0;
        }
        let p = 2 * (n - 1);
        let m = i.rem_euclid(p);
        if m >= n { p - m } else { m }
    };
    let mut dense = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f64; 3];
            for ky in 0..kernel.size as isize {
                for kx in 0..kernel.size as isize {
                    let wgt = kernel.at(ky as usize, kx as usize);
                    let px =
                        image.get_pixel(mirror(x + kx - r, w) as u32, mirror(y + ky - r, h) as u32);
                    for c in 0..3 {
                        acc[c] += wgt * f64::from(px[c]);
                    }
                }
            }
            dense.extend(acc.map(|v| v as f32));
        }
    }
    dense
}

#[test]
fn both_blur_paths_equal_dense_correlation() {
    let cases = [
        (
            textured(48, 40),
            BlurParams {
                kernel_size: 41,
                sigma_x: 7.3,
                sigma_y: 1.4,
                rotation: 0.9,
            },
        ),
        (textured(48, 40), BlurParams::isotropic(41, 2.2)),
        // Kernel far wider than the image: the mirrored border repeats.
        (
            textured(9, 6),
            BlurParams {
                kernel_size: 41,
                sigma_x: 4.0,
                sigma_y: 9.0,
                rotation: -1.3,
            },
        ),
        (textured(9, 6), BlurParams::isotropic(31, 5.0)),
    ];
    for (image, params) in cases {
        let kernel = Kernel2d::gaussian(&params);
        let dense = dense_correlation(&image, &kernel);
        let fft = blur_fft(&image, &kernel);
        assert!(max_abs_diff(fft.as_raw(), &dense) < 1e-5, "fft {params:?}");
        if let Some(separable) = kernel.separable() {
            let fast = blur_separable(&image, &separable);
            assert!(
                max_abs_diff(fast.as_raw(), &dense) < 1e-5,
                "separable {params:?}"
            );
        }
        assert!(
            max_abs_diff(blur(&image, &kernel).as_raw(), &dense) < 1e-5,
            "{params:?}"
        );
    }
}

#[test]
fn isotropic_and_axis_aligned_kernels_are_separable_rotated_ones_not() {
    for sigma in [1.0, 4.5, 15.0] {
        let kernel = Kernel2d::gaussian(&BlurParams::isotropic(41, sigma));
        assert!(kernel.separable().is_some(), "sigma {sigma}");
        let sum: f64 = kernel.weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
        assert_eq!(
            kernel.at(20, 20),
            kernel.weights.iter().copied().fold(0.0, f64::max)
        );
    }
    let aligned = BlurParams {
        kernel_size: 41,
        sigma_x: 6.0,
        sigma_y: 2.0,
        rotation: 0.0,
    };
    assert!(Kernel2d::gaussian(&aligned).separable().is_some());
    let rotated = BlurParams {
        rotation: 0.5,
        ..aligned
    };
    assert!(Kernel2d::gaussian(&rotated).separable().is_none());
}

#[test]
fn downsampling_returns_the_input_size_and_loses_detail() {
    let image = textured(100, 76);
    for (scale, filter) in [
        (0.8, Interpolation::Bilinear),
        (3.3, Interpolation::Bilinear),
        (8.0, Interpolation::Bicubic),
    ] {
        let params = DegradationParams {
            downsample: Some(DownsampleParams {
                scale,
                interpolation: filter,
            }),
            ..Default::default()
        };
        let out = degrade(&image, &params, &mut stream_rng(0, b"down")).unwrap();
        assert_eq!(out.dimensions(), (100, 76), "scale {scale}");
        if scale > 2.0 {
            assert!(high_frequency_energy(&out) < 0.5 * high_frequency_energy(&image));
        }
    }
}

#[test]
fn extreme_downsampling_of_a_tiny_image_still_works() {
    let image = textured(5, 3);
    let params = DegradationParams {
        blur: Some(BlurParams::isotropic(41, 15.0)),
        downsample: Some(DownsampleParams {
            scale: 64.0,
            interpolation: Interpolation::Bicubic,
        }),
        noise_sigma: Some(20.0),
        jpeg_quality: Some(60),
    };
    let out = degrade(&image, &params, &mut stream_rng(0, b"tiny")).unwrap();
    assert_eq!(out.dimensions(), (5, 3));
}

#[test]
fn noise_standard_deviation_matches_sigma() {
    for sigma in [5.0, 12.5, 20.0] {
        let mut image = Rgb32FImage::from_pixel(256, 256, Rgb([0.5, 0.5, 0.5]));
        add_gaussian_noise(&mut image, sigma, &mut stream_rng(3, b"noise"));
        let values: Vec<f64> = image.iter().map(|&v| f64::from(v) - 0.5).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let std =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        let expected = sigma / 255.0;
        assert!(
            (std - expected).abs() < 0.02 * expected,
            "sigma {sigma}: std {std} vs {expected}"
        );
        assert!(mean.abs() < 0.002, "noise mean {mean}");
    }
}

#[test]
fn noise_is_independent_per_channel() {
    let mut image = Rgb32FImage::from_pixel(64, 64, Rgb([0.5, 0.5, 0.5]));
    add_gaussian_noise(&mut image, 10.0, &mut stream_rng(4, b"channels"));
    let differing = image
        .pixels()
        .filter(|p| p[0] != p[1] || p[1] != p[2])
        .count();
    assert!(differing > 64 * 64 * 9 / 10);
}

#[test]
fn noise_is_clipped_to_the_unit_range() {
    let mut image = Rgb32FImage::from_pixel(32, 32, Rgb([0.0, 1.0, 0.5]));
    add_gaussian_noise(&mut image, 20.0, &mut stream_rng(5, b"clip"));
    assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn jpeg_output_decodes_differs_and_gets_worse_with_lower_quality() {
    let image = textured(64, 64);
    let error = |q| {
        let out = jpeg_round_trip(&image, q).unwrap();
        assert_eq!(out.dimensions(), (64, 64));
        image
            .iter()
            .zip(out.iter())
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
    };
    let (e95, e60, e10) = (error(95), error(60), error(10));
    assert!(e95 > 0.0, "JPEG is lossy");
    assert!(e95 < e60 && e60 < e10, "errors {e95} {e60} {e10}");
}

#[test]
fn stages_that_are_off_leave_an_8_bit_image_untouched() {
    let image = textured(40, 40);
    let mut eight_bit = image.clone();
    quantize_8bit(&mut eight_bit);
    assert_ne!(eight_bit, image);
    for input in [&image, &eight_bit] {
        let out = degrade(
            input,
            &DegradationParams::default(),
            &mut stream_rng(0, b""),
        )
        .unwrap();
        assert_eq!(out, eight_bit);
    }
}

#[test]
fn the_lq_is_rounded_to_8_bits_after_the_last_resize() {
    let params = DegradationParams {
        blur: Some(BlurParams::isotropic(41, 2.0)),
        downsample: Some(DownsampleParams {
            scale: 3.3,
            interpolation: Interpolation::Bicubic,
        }),
        noise_sigma: Some(10.0),
        jpeg_quality: Some(70),
    };
    let out = degrade(&textured(64, 48), &params, &mut stream_rng(2, b"q")).unwrap();
    for &v in out.iter() {
        let level = v * 255.0;
        assert!((0.0..=255.0).contains(&level), "{v}");
        assert!(
            (level - level.round()).abs() < 1e-3,
            "{v} is between 8-bit levels"
        );
    }
    // Ties go to the even level, as torch.round does.
    let mut ties = Rgb32FImage::from_pixel(1, 1, Rgb([0.5 / 255.0, 1.5 / 255.0, 2.5 / 255.0]));
    quantize_8bit(&mut ties);
    assert_eq!(
        ties.get_pixel(0, 0).0.map(|v| (v * 255.0).round()),
        [0.0, 2.0, 2.0]
    );
}

#[test]
fn eight_bit_images_go_through_the_same_pipeline() {
    use diffmac_degrade::degrade_rgb8;
    let hq32 = textured(64, 48);
    let hq8 = image::DynamicImage::ImageRgb32F(hq32).to_rgb8();
    let params = DegradationParams {
        blur: Some(BlurParams::isotropic(41, 2.0)),
        downsample: Some(DownsampleParams {
            scale: 2.0,
            interpolation: Interpolation::Bilinear,
        }),
        noise_sigma: None,
        jpeg_quality: Some(80),
    };
    let lq8 = degrade_rgb8(&hq8, &params, &mut stream_rng(0, b"")).unwrap();
    assert_eq!(lq8.dimensions(), (64, 48));
    assert_ne!(lq8, hq8);
    // Same result as the f32 path up to the 8-bit rounding of the input.
    let hq_from8 = image::DynamicImage::ImageRgb8(hq8).to_rgb32f();
    let lq32 = degrade(&hq_from8, &params, &mut stream_rng(0, b"")).unwrap();
    assert_eq!(lq8, image::DynamicImage::ImageRgb32F(lq32).to_rgb8());
}
