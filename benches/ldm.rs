//! One UNet step and one VAE encode / decode on the build's backend (`flex` CPU by default,
//! `--features cuda` for NVIDIA GPUs), with random weights.
//!
//! ```sh
//! cargo bench --bench ldm                                   # tiny test configs, f32
//! LDM_BENCH=sd21 LDM_BENCH_DTYPE=bf16 cargo bench --bench ldm --features cuda
//! ```
//!
//! `LDM_BENCH=sd21` uses the SD 2.1-base configs (1×4×64×64 latent, 77×1024 context,
//! 512² image); anything else the tiny parity-test configs (1×4×16×16 latent, 32² image).
//! `LDM_BENCH_DTYPE` is `f32` (default), `f16` or `bf16`; the benchmark asserts that the
//! output really has that dtype. `LDM_BENCH_CONFIG_DIR` points at another folder holding
//! `unet/config.json` and `vae/config.json` (used with `LDM_BENCH=sd21`, e.g. when the binary
//! runs away from this checkout). Figures are in `docs/ldm.md`.

use std::path::PathBuf;

use burn::tensor::{DType, Distribution, FloatDType, Tensor};
use diffmac::backend::{DefaultBackend as B, default_device};
use diffmac::ldm::{AutoencoderKL, UNet2DConditionModel, UNetConfig, VaeConfig, VarBuilder};

fn main() {
    divan::main();
}

struct Setup {
    dir: PathBuf,
    unet_dir: &'static str,
    latent: [usize; 4],
    context: [usize; 3],
    image: [usize; 4],
    vae_latent: [usize; 4],
}

fn setup() -> Setup {
    let fixtures =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/diffmac-ldm/tests/fixtures");
    if std::env::var("LDM_BENCH").as_deref() == Ok("sd21") {
        let dir = std::env::var_os("LDM_BENCH_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| fixtures.join("sd21_base"));
        Setup {
            dir,
            unet_dir: "unet",
            latent: [1, 4, 64, 64],
            context: [1, 77, 1024],
            image: [1, 3, 512, 512],
            vae_latent: [1, 4, 64, 64],
        }
    } else {
        Setup {
            dir: fixtures,
            unet_dir: "unet_linear",
            latent: [1, 4, 16, 16],
            context: [1, 7, 24],
            image: [1, 3, 32, 32],
            vae_latent: [1, 4, 8, 8],
        }
    }
}

fn dtype() -> FloatDType {
    match std::env::var("LDM_BENCH_DTYPE").as_deref() {
        Ok("f16") => FloatDType::F16,
        Ok("bf16") => FloatDType::BF16,
        _ => FloatDType::F32,
    }
}

fn input<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    let dt: DType = dtype().into();
    Tensor::random(
        shape,
        Distribution::Normal(0.0, 1.0),
        (&default_device(), dt),
    )
}

/// One UNet evaluation (what one sampling step costs).
#[divan::bench(sample_count = 5)]
fn unet_step(bencher: divan::Bencher<'_, '_>) {
    let s = setup();
    let config = UNetConfig::from_file(s.dir.join(s.unet_dir).join("config.json")).expect("config");
    let device = default_device();
    let unet = UNet2DConditionModel::<B>::load(&config, &VarBuilder::random(&device, dtype()))
        .expect("build");
    let (x, c) = (input(s.latent), input(s.context));
    let t = Tensor::<B, 1>::from_data([500.0f32], (&device, DType::F32));
    bencher.bench_local(|| {
        let out = unet.forward(x.clone(), t.clone(), c.clone());
        assert_eq!(out.dtype(), DType::from(dtype()));
        out.into_data()
    });
}

fn vae() -> AutoencoderKL<B> {
    let s = setup();
    let config = VaeConfig::from_file(s.dir.join("vae").join("config.json")).expect("config");
    AutoencoderKL::<B>::load(&config, &VarBuilder::random(&default_device(), dtype()))
        .expect("build")
}

/// Encoder + quant_conv of one image.
#[divan::bench(sample_count = 5)]
fn vae_encode(bencher: divan::Bencher<'_, '_>) {
    let vae = vae();
    let image = input(setup().image);
    bencher.bench_local(|| vae.moments(image.clone()).into_data());
}

/// post_quant_conv + decoder of one latent.
#[divan::bench(sample_count = 5)]
fn vae_decode(bencher: divan::Bencher<'_, '_>) {
    let vae = vae();
    let latent = input(setup().vae_latent);
    bencher.bench_local(|| vae.decode(latent.clone()).into_data());
}
