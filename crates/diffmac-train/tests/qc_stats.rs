//! `μ_QC`, `σ_QC` over a folder of images: exact per channel, with the real VAE code, and
//! errors that name the file.

use std::path::{Path, PathBuf};

use burn::tensor::{FloatDType, Tensor};
use diffmac_ldm::AutoencoderKL;
use diffmac_mib::{MibConfig, MibError};
use diffmac_train::{TrainError, qc_stats_from_folder, qc_stats_with};

type B = burn::backend::Flex;

fn dev() -> burn::tensor::Device<B> {
    Default::default()
}

fn solid(dir: &Path, name: &str, size: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(size, size, image::Rgb(rgb))
        .save(dir.join(name))
        .expect("write png");
}

/// Two solid images (4×4 and 2×2, different sizes on purpose) and a non-image file.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    solid(dir.path(), "a.png", 4, [255, 0, 0]);
    solid(dir.path(), "b.png", 2, [0, 255, 0]);
    std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
    dir
}

/// A stand-in encoder with a known output: `[x, −x, x₀, x₁]` (8 channels).
fn stand_in(x: Tensor<B, 4>) -> Tensor<B, 4> {
    Tensor::cat(vec![x.clone(), x.clone().neg(), x.narrow(1, 0, 2)], 1)
}

#[test]
fn statistics_are_exact_per_channel() {
    let dir = folder();
    let s = qc_stats_with(dir.path(), &dev(), stand_in).expect("stats");
    assert_eq!((s.channels(), s.count, s.images), (8, 20, 2));
    // Channel 0 (red): 16 values of 1 and 4 of −1 → mean 0.6, std 0.8.
    let expect = [
        (0.6, 0.8),
        (-0.6, 0.8),
        (-1.0, 0.0),
        (-0.6, 0.8),
        (0.6, 0.8),
        (1.0, 0.0),
        (0.6, 0.8),
        (-0.6, 0.8),
    ];
    for (ch, (m, sd)) in expect.iter().enumerate() {
        assert!((s.mean[ch] - m).abs() < 1e-6, "mean {ch}: {}", s.mean[ch]);
        assert!((s.std[ch] - sd).abs() < 1e-6, "std {ch}: {}", s.std[ch]);
    }
}

#[test]
fn empty_folders_and_broken_images_are_errors() {
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        qc_stats_with(empty.path(), &dev(), stand_in),
        Err(TrainError::Mib(MibError::Invalid(_)))
    ));
    std::fs::write(empty.path().join("broken.png"), "nope").expect("write");
    let err = qc_stats_with(empty.path(), &dev(), stand_in).expect_err("not an image");
    assert!(err.to_string().contains("broken.png"), "{err}");
}

/// With the real VAE code (tiny random-weight fixture), the statistics feed a bottleneck.
#[test]
fn statistics_of_the_vae_fixture_build_a_bottleneck() {
    let vae_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../diffmac-ldm/tests/fixtures/vae");
    let vae = AutoencoderKL::<B>::from_dir(vae_dir, &dev(), FloatDType::F32).expect("vae");
    let dir = tempfile::tempdir().expect("tempdir");
    solid(dir.path(), "a.png", 16, [200, 30, 90]);
    solid(dir.path(), "b.png", 16, [10, 220, 140]);
    let s = qc_stats_from_folder(&vae, dir.path(), &dev()).expect("stats");
    // 3 levels: a factor of 4, so 16×16 images give 4×4 moments.
    assert_eq!((s.channels(), s.count, s.images), (8, 32, 2));
    assert!(s.std.iter().all(|v| v.is_finite() && *v > 0.0));
    let mib = MibConfig::default().init::<B>(&s, &dev()).expect("init");
    assert_eq!(mib.channels(), 8);
}
