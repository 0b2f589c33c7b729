//! Throughput of the eq. 14 degradation on 512×512 faces, one thread.
//!
//! `cargo bench --bench degrade`. The comparison with an OpenCV implementation of the same
//! pipeline is `scripts/bench_degrade_opencv.py`; figures are in `docs/benchmarks.md`.

use diffmac::degrade::blur::blur;
use diffmac::degrade::jpeg::jpeg_round_trip;
use diffmac::degrade::kernel::Kernel2d;
use diffmac::degrade::{BlurParams, DegradationConfig, DegradationParams, degrade};
use diffmac::io::stream_rng;
use divan::counter::ItemsCount;
use image::{DynamicImage, Rgb32FImage};

/// How many parameter draws the pipeline bench cycles through (same as the OpenCV script).
const DRAWS: usize = 32;

fn main() {
    divan::main();
}

/// The astronaut sample face, a real 512×512 photo.
fn face() -> Rgb32FImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/faces/astronaut.png");
    image::open(path).expect("sample face present").to_rgb32f()
}

fn as_rgb32f(image: image::RgbImage) -> Rgb32FImage {
    DynamicImage::ImageRgb8(image).to_rgb32f()
}

/// The whole pipeline with parameters drawn from the paper's defaults: images per second.
#[divan::bench(sample_count = 10)]
fn pipeline_paper_defaults(bencher: divan::Bencher<'_, '_>) {
    let hq = face();
    let config = DegradationConfig::default();
    let mut rng = stream_rng(0, b"bench");
    let draws: Vec<DegradationParams> = (0..DRAWS)
        .map(|_| DegradationParams::sample(&config, &mut rng))
        .collect();
    bencher.counter(ItemsCount::new(DRAWS)).bench_local(|| {
        for params in &draws {
            divan::black_box(degrade(&hq, params, &mut rng).expect("degrades"));
        }
    });
}

/// Blur alone with the largest isotropic kernel (σ = 15, 41×41).
#[divan::bench]
fn blur_isotropic_sigma15(bencher: divan::Bencher<'_, '_>) {
    let hq = face();
    let kernel = Kernel2d::gaussian(&BlurParams::isotropic(41, 15.0));
    bencher.bench_local(|| blur(&hq, &kernel));
}

/// Blur alone with a rotated anisotropic kernel (the FFT path).
#[divan::bench]
fn blur_anisotropic(bencher: divan::Bencher<'_, '_>) {
    let hq = face();
    let params = BlurParams {
        kernel_size: 41,
        sigma_x: 12.0,
        sigma_y: 2.0,
        rotation: 0.8,
    };
    let kernel = Kernel2d::gaussian(&params);
    bencher.bench_local(|| blur(&hq, &kernel));
}

/// The JPEG round trip alone at quality 75.
#[divan::bench]
fn jpeg_quality75(bencher: divan::Bencher<'_, '_>) {
    let hq = face();
    bencher.bench_local(|| jpeg_round_trip(&hq, 75).expect("codec works"));
}

/// Loading the 8-bit sample into f32 (part of every real batch).
#[divan::bench]
fn to_f32(bencher: divan::Bencher<'_, '_>) {
    let rgb8 = DynamicImage::ImageRgb32F(face()).to_rgb8();
    bencher.bench_local(|| as_rgb32f(rgb8.clone()));
}
