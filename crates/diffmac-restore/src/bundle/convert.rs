//! Building bundles from real weights: the base from a Stable Diffusion 2.1-base download
//! ([`convert_sd`]); trained stages from `diffmac-train` checkpoints are merged in by
//! [`merge_checkpoint`] (in [`crate::bundle::merge`], re-exported here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType, Int, Tensor, TensorData};
use diffmac_id::IdentityEncoder;

use diffmac_io::{SafetensorsFile, save_safetensors};
use diffmac_ldm::{
    AutoencoderKL, ClipTextConfig, ClipTextModel, ControlConfig, SdCheckpoint,
    UNet2DConditionModel, UNetConfig, VaeConfig, VarBuilder, sd2_empty_prompt_ids,
};
use diffmac_mib::{MibConfig, QcStats};

use crate::bundle::config::{BundleConfig, BundleParts, CONFIG_FILE};
use crate::bundle::load::{CONTEXT_KEY, identity_kind, load_identity};
use crate::bundle::random::{SD21_TEXT, SD21_UNET, SD21_VAE};
use crate::error::{RestoreError, Result};

pub use crate::bundle::merge::{merge_checkpoint, read_checkpoint_state};

/// What [`convert_sd`] needs besides the SD weights.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Identity encoder kind (`arcface_iresnet`, `dlib_resnet_v1` or `auto`) and weights,
    /// copied into the bundle.
    pub identity: Option<(String, PathBuf)>,
    /// `μ_QC`, `σ_QC` (e.g. `diffmac_train::qc_stats_from_folder` on [`load_sd_vae`]'s VAE);
    /// without them the bundle holds (0, 1) placeholders, which a merged Stage II checkpoint
    /// replaces (its bottleneck carries the statistics it trained with).
    pub qc_stats: Option<QcStats>,
    /// Replace an existing bundle in the output folder.
    pub overwrite: bool,
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| RestoreError::Bundle {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })
}

/// The configs and weight files of SD 2.1-base, from a diffusers folder or a single file.
struct SdSource {
    /// UNet, VAE and text-encoder `config.json`s.
    configs: [serde_json::Value; 3],
    /// UNet, VAE and text-encoder weights, in diffusers layout.
    files: [SafetensorsFile; 3],
}

impl SdSource {
    fn open(sd: &Path) -> Result<Self> {
        if sd.is_dir() {
            let part = |c: &str, f: &str| -> Result<(serde_json::Value, SafetensorsFile)> {
                Ok((
                    read_json(&sd.join(c).join("config.json"))?,
                    SafetensorsFile::open(sd.join(c).join(f))?,
                ))
            };
            let (u, uf) = part("unet", "diffusion_pytorch_model.safetensors")?;
            let (v, vf) = part("vae", "diffusion_pytorch_model.safetensors")?;
            let (t, tf) = part("text_encoder", "model.safetensors")?;
            return Ok(Self {
                configs: [u, v, t],
                files: [uf, vf, tf],
            });
        }
        let checkpoint = SdCheckpoint::open(sd)?;
        let u: serde_json::Value = serde_json::from_str(SD21_UNET).expect("valid JSON");
        let v: serde_json::Value = serde_json::from_str(SD21_VAE).expect("valid JSON");
        let t: serde_json::Value = serde_json::from_str(SD21_TEXT).expect("valid JSON");
        let uf = checkpoint.unet(&UNetConfig::from_json(SD21_UNET)?)?;
        let vf =
            checkpoint.vae(&serde_json::from_value::<VaeConfig>(v.clone()).expect("SD VAE"))?;
        let tf = checkpoint.text_encoder(
            &serde_json::from_value::<ClipTextConfig>(t.clone()).expect("SD text config"),
        )?;
        Ok(Self {
            configs: [u, v, t],
            files: [uf, vf, tf],
        })
    }
}

/// The VAE of SD 2.1-base at `sd` (a diffusers folder or a single-file checkpoint), in f32:
/// for computing `μ_QC`, `σ_QC` before [`convert_sd`].
///
/// # Errors
/// Any loading error of the source, naming file and key.
pub fn load_sd_vae<B: Backend>(sd: &Path, device: &Device<B>) -> Result<AutoencoderKL<B>> {
    let (config, vae_file) = if sd.is_dir() {
        let json = read_json(&sd.join("vae/config.json"))?;
        let config: VaeConfig = serde_json::from_value(json).map_err(|e| RestoreError::Bundle {
            path: sd.join("vae/config.json"),
            message: format!("vae config: {e}"),
        })?;
        let file = SafetensorsFile::open(sd.join("vae/diffusion_pytorch_model.safetensors"))?;
        (config, file)
    } else {
        let config: VaeConfig = serde_json::from_str(SD21_VAE).expect("the SD 2.1 VAE config");
        let file = SdCheckpoint::open(sd)?.vae(&config)?;
        (config, file)
    };
    let vb = VarBuilder::<B>::from_file(vae_file, device, FloatDType::F32);
    let vae = AutoencoderKL::load(&config, &vb)?;
    vb.finish()?;
    Ok(vae)
}

/// Builds the base of a bundle in `output` from SD 2.1-base at `sd`: a diffusers folder
/// (`unet/`, `vae/`, `text_encoder/`) or a single-file checkpoint
/// (`v2-1_512-ema-pruned.safetensors`). Every component is loaded and checked; the UNet and
/// VAE weights are written in diffusers layout, the empty prompt's context is computed once,
/// and both controls start as zero convolutions (so the base restores nothing until trained
/// stages are merged: `config.json` says `trained: false`).
///
/// # Errors
/// Any loading error of the source (naming file and key), or of the output folder.
pub fn convert_sd<B: Backend>(
    sd: &Path,
    output: &Path,
    options: &ConvertOptions,
    device: &Device<B>,
) -> Result<BundleConfig> {
    if output.join(CONFIG_FILE).exists() && !options.overwrite {
        return Err(RestoreError::Bundle {
            path: output.join(CONFIG_FILE),
            message: "a bundle already exists here (use --overwrite to replace it)".into(),
        });
    }
    // Before any large file: refuse a v-prediction (SD 2.x-768) folder. A single-file
    // checkpoint carries no scheduler, so it is taken to be SD 2.1-base's.
    let scheduler = if sd.is_dir() {
        diffmac_ldm::scheduler::read_scheduler(sd)?
    } else {
        crate::bundle::config::sd21_scheduler()
    };
    let source = SdSource::open(sd)?;
    let [unet_json, vae_json, text_json] = source.configs;
    let [unet_file, vae_file, text_file] = source.files;
    let parse = |what: &str, e: serde_json::Error| RestoreError::Bundle {
        path: sd.to_path_buf(),
        message: format!("{what} config: {e}"),
    };
    let unet_config = UNetConfig::from_json(&unet_json.to_string())?;
    let vae_config: VaeConfig = serde_json::from_value(vae_json).map_err(|e| parse("vae", e))?;
    let text_config: ClipTextConfig =
        serde_json::from_value(text_json).map_err(|e| parse("text_encoder", e))?;

    // The identity network is checked first: a wrong path must not cost a UNet's worth of
    // reading.
    let identity = match &options.identity {
        Some((kind, path)) => Some(check_identity::<B>(kind, path, device)?),
        None => None,
    };
    std::fs::create_dir_all(output).map_err(io(output))?;
    // Check that the weights fit the configs before writing anything large; one model is held
    // at a time, and the weights are copied tensor by tensor at the end.
    let vb = VarBuilder::<B>::from_file(unet_file.clone(), device, FloatDType::F16);
    let unet = UNet2DConditionModel::load(&unet_config, &vb)?;
    vb.finish()?;
    let control_config = ControlConfig::for_unet(&unet);
    drop(unet);
    let vb = VarBuilder::<B>::from_file(vae_file.clone(), device, FloatDType::F32);
    drop(AutoencoderKL::load(&vae_config, &vb)?);
    vb.finish()?;

    let vb = VarBuilder::<B>::from_file(text_file, device, FloatDType::F32);
    let text = ClipTextModel::load(&text_config, &vb)?;
    vb.finish()?;
    let ids = Tensor::<B, 2, Int>::from_data(
        TensorData::new(sd2_empty_prompt_ids().to_vec(), [1, 77]),
        device,
    );
    let out = text.forward(ids)?;
    drop(text);
    // SD 2.x conditions on OpenCLIP's penultimate layer: a 24-layer encoder gives it as
    // `penultimate_hidden_state`, the diffusers folder (23 layers) as its last state.
    let context = if text_config.num_hidden_layers >= 24 {
        out.penultimate_hidden_state
    } else {
        out.last_hidden_state
    };

    let width = context.dims()[2];
    if width != unet_config.cross_attention_dim {
        return Err(RestoreError::Bundle {
            path: sd.to_path_buf(),
            message: format!(
                "the text encoder's width {width} does not fit the UNet's cross-attention \
                 width {}: the components are not from one model",
                unet_config.cross_attention_dim
            ),
        });
    }
    unet_file.save(output.join("unet.safetensors"))?;
    vae_file.save(output.join("vae.safetensors"))?;
    save_safetensors(
        output.join("context.safetensors"),
        &BTreeMap::from([(CONTEXT_KEY.to_string(), context.into_data())]),
    )?;
    for name in ["control_stage1.safetensors", "control_stage2.safetensors"] {
        diffmac_ldm::save_module(&control_config.init::<B>(device), output.join(name))?;
    }
    if let Some((_, path)) = &options.identity {
        let target = output.join("identity.safetensors");
        std::fs::copy(path, &target).map_err(io(&target))?;
    }
    let mib_config = MibConfig {
        identity_dim: identity.as_ref().map_or(512, |(_, d)| *d),
        ..MibConfig::default()
    };
    let qc_stats = options
        .qc_stats
        .clone()
        .unwrap_or(QcStats::placeholder(2 * vae_config.latent_channels));
    let mib = mib_config.init::<B>(&qc_stats, device)?;
    diffmac_ldm::save_module(&mib, output.join("mib.safetensors"))?;

    let mut config = BundleConfig::standard(BundleParts {
        // The UNet's latent side times the VAE's down-sampling (SD 2.1-base: 64 · 8 = 512).
        image_size: unet_config.sample_size.unwrap_or(64)
            << vae_config.block_out_channels.len().saturating_sub(1),
        unet_config,
        vae_config,
        control_config,
        mib_config,
        qc_stats,
        identity_kind: identity.map(|(kind, _)| kind),
        random_weights: false,
        provenance: BTreeMap::from([("base".into(), sd.display().to_string())]),
    });
    config.scheduler = scheduler;
    config.save(output)?;
    Ok(config)
}

/// Loads the identity network `kind` from `path`: its kind as the bundle names it, and its
/// embedding width.
fn check_identity<B: Backend>(
    kind: &str,
    path: &Path,
    device: &Device<B>,
) -> Result<(String, usize)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default();
    let encoder = load_identity::<B>(dir, kind, file, device)?;
    Ok((identity_kind(&encoder).to_string(), encoder.embedding_dim()))
}
