//! `AutoencoderKL` against diffusers (fixture written by
//! `scripts/reference/ldm_reference.py`).

mod common;

use burn::tensor::{DType, FloatDType};
use common::{Io, TOL, assert_close, device, fixture};
use diffmac_ldm::{AutoencoderKL, VaeConfig};

#[test]
fn vae_matches_diffusers() {
    let vae = AutoencoderKL::<common::B>::from_dir(fixture("vae"), &device(), FloatDType::F32)
        .expect("load vae");
    assert_eq!(vae.scaling_factor, 0.18215);
    let io = Io::open("vae");
    let moments = vae.moments(io.float("image"));
    assert_eq!(moments.dims(), [1, 8, 8, 8]);
    assert_close(
        "vae moments (quant_conv output)",
        moments.clone(),
        io.float("moments"),
        TOL,
    );
    let post = diffmac_ldm::DiagonalGaussian::from_moments(moments);
    assert_close("vae mean", post.mean.clone(), io.float("mean"), TOL);
    assert_close("vae std", post.std.clone(), io.float("std"), TOL);
    let z = post.sample(io.float("noise"));
    assert_close(
        "vae latent sample",
        z.clone(),
        io.float("latent_sample"),
        TOL,
    );
    assert_close(
        "vae decoded (mean)",
        vae.decode(post.mean),
        io.float("decoded"),
        TOL,
    );
    assert_close(
        "vae decoded (sample)",
        vae.decode(z),
        io.float("decoded_sample"),
        TOL,
    );
}

/// Weights from an f32 file end up in the precision asked for, and so does the output.
#[test]
fn vae_runs_in_f16_from_an_f32_file() {
    let vae = AutoencoderKL::<common::B>::from_dir(fixture("vae"), &device(), FloatDType::F16)
        .expect("load vae");
    assert_eq!(vae.encoder.conv_in.weight.val().dtype(), DType::F16);
    let io = Io::open("vae");
    let moments = vae.moments(io.float_as("image", FloatDType::F16));
    assert_eq!(moments.dtype(), DType::F16);
    // Half precision: held to a loose bound, only to show the path computes the same thing.
    assert_close(
        "vae moments in f16",
        moments.cast(DType::F32),
        io.float("moments"),
        2e-2,
    );
}

#[test]
fn sd21_base_vae_parameter_count() {
    let c = VaeConfig::from_file(fixture("sd21_base/vae/config.json")).expect("config");
    assert_eq!(c.scaling_factor, 0.18215);
    let n = AutoencoderKL::<common::B>::parameter_count(&c, &device()).expect("count");
    assert_eq!(n, 83_653_863);
}

/// The shape-only count equals the parameters of a really loaded model.
#[test]
fn shape_count_equals_loaded_parameters() {
    use burn::module::Module;
    let c = VaeConfig::from_file(fixture("vae/config.json")).expect("config");
    let vae = AutoencoderKL::<common::B>::from_dir(fixture("vae"), &device(), FloatDType::F32)
        .expect("load vae");
    let counted = AutoencoderKL::<common::B>::parameter_count(&c, &device()).expect("count");
    assert_eq!(vae.num_params(), counted);
    // diffusers' own count for this config (scripts/reference/ldm_reference.py).
    assert_eq!(counted, 326_231);
}
