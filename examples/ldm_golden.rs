//! Runs one Stable Diffusion component on inputs from a safetensors file and writes its
//! outputs, so the port can be compared with diffusers / transformers on any weights:
//!
//! ```sh
//! cargo run --release --example ldm_golden -- --component unet|vae|text \
//!     --model-dir DIR --inputs IN.safetensors --output OUT.safetensors
//! ```
//!
//! DIR is a diffusers component folder (`config.json` + `diffusion_pytorch_model.safetensors`,
//! or `model.safetensors` for the text encoder). Tensor names:
//!
//! | component | inputs | outputs (f32) |
//! |---|---|---|
//! | `unet` | `sample` [B,4,H,W], `timestep` [B], `encoder_hidden_states` [B,L,C] (f32) | `out` |
//! | `vae` | `image` [B,3,H,W] in [-1,1] (f32) | `moments` (quant_conv output), `decoded` (decoder of the mean latent, not clamped) |
//! | `text` | `input_ids` [B,77] (i64) | `last_hidden_state`, `penultimate_hidden_state` (both after the final LayerNorm) |
//!
//! Any missing or extra input name, or a shape that does not fit the model, is an error:
//! one line on stderr, exit status 1.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData};
use clap::{Parser, ValueEnum};
use diffmac::backend::{DefaultBackend as B, default_device};

use diffmac::io::{SafetensorsFile, save_safetensors};
use diffmac::ldm::{AutoencoderKL, ClipTextModel, UNet2DConditionModel};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Component {
    /// `UNet2DConditionModel` (`unet/`).
    Unet,
    /// `AutoencoderKL` (`vae/`).
    Vae,
    /// `CLIPTextModel` (`text_encoder/`).
    Text,
}

/// Run an SD component on golden inputs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Which component DIR holds.
    #[arg(long, value_enum)]
    component: Component,
    /// The component folder.
    #[arg(long)]
    model_dir: PathBuf,
    /// Input tensors.
    #[arg(long)]
    inputs: PathBuf,
    /// Where to write the output tensors.
    #[arg(long)]
    output: PathBuf,
}

/// Checks that the input file holds exactly `names`, with the given ranks.
fn check_names(file: &SafetensorsFile, names: &[(&str, usize)]) -> anyhow::Result<()> {
    for (name, rank) in names {
        let shape = file
            .shape(name)
            .with_context(|| format!("{}: missing input tensor `{name}`", file.path().display()))?;
        if shape.len() != *rank {
            bail!(
                "{}: `{name}` has shape {shape:?}, expected {rank} dimensions",
                file.path().display()
            );
        }
    }
    let extra: Vec<&str> = file
        .keys()
        .filter(|k| !names.iter().any(|(n, _)| n == k))
        .collect();
    if !extra.is_empty() {
        bail!(
            "{}: unexpected input tensor(s): {}",
            file.path().display(),
            extra.join(", ")
        );
    }
    Ok(())
}

fn f32_data<const D: usize>(t: Tensor<B, D>) -> TensorData {
    t.cast(DType::F32).into_data()
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let device = default_device();
    let dtype = FloatDType::F32;
    let inputs = SafetensorsFile::open(&args.inputs)?;
    let mut out = BTreeMap::new();
    match args.component {
        Component::Unet => {
            check_names(
                &inputs,
                &[("sample", 4), ("timestep", 1), ("encoder_hidden_states", 3)],
            )?;
            let unet = UNet2DConditionModel::<B>::from_dir(&args.model_dir, &device, dtype)?;
            let sample: Tensor<B, 4> = inputs.float_tensor("sample", &device, dtype)?;
            let t: Tensor<B, 1> = inputs.float_tensor("timestep", &device, dtype)?;
            let ctx: Tensor<B, 3> = inputs.float_tensor("encoder_hidden_states", &device, dtype)?;
            unet.check_inputs(sample.dims(), t.dims(), ctx.dims())?;
            out.insert("out".to_string(), f32_data(unet.forward(sample, t, ctx)));
        }
        Component::Vae => {
            check_names(&inputs, &[("image", 4)])?;
            let vae = AutoencoderKL::<B>::from_dir(&args.model_dir, &device, dtype)?;
            let image: Tensor<B, 4> = inputs.float_tensor("image", &device, dtype)?;
            let channels = vae.encoder.conv_in.weight.val().dims()[1];
            if image.dims()[1] != channels {
                bail!(
                    "`image` has {} channels, the VAE takes {channels}",
                    image.dims()[1]
                );
            }
            let moments = vae.moments(image);
            let mean = diffmac::ldm::DiagonalGaussian::from_moments(moments.clone()).mean;
            out.insert("decoded".to_string(), f32_data(vae.decode(mean)));
            out.insert("moments".to_string(), f32_data(moments));
        }
        Component::Text => {
            check_names(&inputs, &[("input_ids", 2)])?;
            let clip = ClipTextModel::<B>::from_dir(&args.model_dir, &device, dtype)?;
            let data = inputs.data("input_ids")?;
            if data.dtype != DType::I64 {
                bail!("`input_ids` must be int64, found {:?}", data.dtype);
            }
            let ids: Tensor<B, 2, Int> = Tensor::from_data(data, (&device, DType::I64));
            let h = clip.forward(ids)?;
            out.insert(
                "last_hidden_state".to_string(),
                f32_data(h.last_hidden_state),
            );
            out.insert(
                "penultimate_hidden_state".to_string(),
                f32_data(h.penultimate_hidden_state),
            );
        }
    }
    save_safetensors(&args.output, &out)?;
    for (name, data) in &out {
        println!("{name}: {:?}", data.shape.to_vec());
    }
    Ok(())
}
