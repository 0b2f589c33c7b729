//! The original single-file SD checkpoint layout: the tiny UNet (linear variant), VAE and
//! text encoder stored as `model.diffusion_model.*` / `first_stage_model.*` /
//! `cond_stage_model.model.*` (checked in Python against diffusers' own converters) load
//! into the same outputs as the diffusers folders.

mod common;

use std::collections::BTreeMap;

use burn::tensor::FloatDType;

use common::{B, Io, TOL, assert_close, device, fixture};
use diffmac_io::{SafetensorsFile, save_safetensors};
use diffmac_ldm::{
    AutoencoderKL, ClipTextConfig, ClipTextModel, LdmError, SdCheckpoint, UNet2DConditionModel,
    UNetConfig, VaeConfig, VarBuilder,
};

fn checkpoint() -> SdCheckpoint {
    SdCheckpoint::open(fixture("sd_single_file.safetensors")).expect("single file")
}

#[test]
fn unet_from_single_file_matches_diffusers() {
    let config = UNetConfig::from_file(fixture("unet_linear/config.json")).expect("config");
    let vb = VarBuilder::<B>::from_file(
        checkpoint().unet(&config).expect("unet part"),
        &device(),
        FloatDType::F32,
    );
    let unet = UNet2DConditionModel::load(&config, &vb).expect("load");
    vb.finish().expect("every UNet tensor used");
    let io = Io::open("unet_linear");
    let out = unet.forward(
        io.float("sample"),
        io.float("timestep"),
        io.float("encoder_hidden_states"),
    );
    assert_close("single-file unet out", out, io.float("out"), TOL);
}

#[test]
fn vae_from_single_file_matches_diffusers() {
    let config = VaeConfig::from_file(fixture("vae/config.json")).expect("config");
    let vb = VarBuilder::<B>::from_file(
        checkpoint().vae(&config).expect("vae part"),
        &device(),
        FloatDType::F32,
    );
    let vae = AutoencoderKL::load(&config, &vb).expect("load");
    vb.finish().expect("every VAE tensor used");
    let io = Io::open("vae");
    assert_close(
        "single-file vae moments",
        vae.moments(io.float("image")),
        io.float("moments"),
        TOL,
    );
    assert_close(
        "single-file vae decoded",
        vae.decode(io.float("mean")),
        io.float("decoded"),
        TOL,
    );
}

#[test]
fn text_encoder_from_single_file_matches_transformers() {
    let config = ClipTextConfig::from_file(fixture("text_encoder/config.json")).expect("config");
    let part = checkpoint().text_encoder(&config).expect("text part");
    let vb = VarBuilder::<B>::from_file(part, &device(), FloatDType::F32);
    let clip = ClipTextModel::load(&config, &vb).expect("load");
    vb.finish().expect("every text tensor used");
    let io = Io::open("text_encoder");
    let out = clip.forward(io.int("input_ids")).expect("forward");
    assert_close(
        "single-file text last_hidden_state",
        out.last_hidden_state,
        io.float("last_hidden_state"),
        TOL,
    );
}

#[test]
fn unknown_keys_in_a_single_file_are_named() {
    let file = SafetensorsFile::open(fixture("sd_single_file.safetensors")).expect("fixture");
    let mut tensors: BTreeMap<String, _> = file
        .keys()
        .map(|k| (k.to_string(), file.data(k).expect("tensor")))
        .collect();
    tensors.insert(
        "control_model.zero_conv.weight".into(),
        burn::tensor::TensorData::new(vec![0f32], [1]),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ckpt.safetensors");
    save_safetensors(&path, &tensors).expect("write");
    let err = SdCheckpoint::open(&path).expect_err("unknown key");
    assert!(matches!(err, LdmError::UnexpectedKeys { .. }));
    assert!(
        err.to_string().contains("control_model.zero_conv.weight"),
        "{err}"
    );

    tensors.remove("control_model.zero_conv.weight");
    tensors.insert(
        "model.diffusion_model.extra.weight".into(),
        burn::tensor::TensorData::new(vec![0f32], [1]),
    );
    save_safetensors(&path, &tensors).expect("write");
    let config = UNetConfig::from_file(fixture("unet_linear/config.json")).expect("config");
    let err = SdCheckpoint::open(&path)
        .expect("opens")
        .unet(&config)
        .expect_err("unmapped UNet key");
    assert!(
        err.to_string()
            .contains("model.diffusion_model.extra.weight"),
        "{err}"
    );
}
