//! Building bundles from real weights: the base from a Stable Diffusion 2.1-base download
//! ([`convert_sd`]), then trained stages from `diffmac-train` checkpoints ([`merge_checkpoint`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType, Int, Tensor, TensorData};
use diffmac_id::IdentityEncoder;

use diffmac_io::checkpoint::{
    CONTROL_FILE, CheckpointState, MIB_FILE, STATE_FILE, Stage2Variant, UNET_FILE, UnetOrigin,
};
use diffmac_io::{SafetensorsFile, save_safetensors};
use diffmac_ldm::{
    AutoencoderKL, ClipTextConfig, ClipTextModel, ControlConfig, SdCheckpoint,
    UNet2DConditionModel, UNetConfig, VaeConfig, VarBuilder, load_module, sd2_empty_prompt_ids,
};
use diffmac_mib::{MibConfig, QcStats};
use serde::Deserialize;

use crate::bundle::config::{BASE_UNET_FILE, BundleConfig, BundleParts, CONFIG_FILE, MibFiles};
use crate::bundle::load::{CONTEXT_KEY, identity_dim_mismatch, identity_kind, load_identity};
use crate::bundle::random::{SD21_TEXT, SD21_UNET, SD21_VAE};
use crate::error::{RestoreError, Result};

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
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
    let vae_config: VaeConfig =
        serde_json::from_value(vae_json.clone()).map_err(|e| parse("vae", e))?;
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
    let qc_stats = options.qc_stats.clone().unwrap_or(QcStats {
        mean: vec![0.0; 2 * vae_config.latent_channels],
        std: vec![1.0; 2 * vae_config.latent_channels],
        count: 0,
        images: 0,
    });
    let mib = mib_config.init::<B>(&qc_stats, device)?;
    diffmac_ldm::save_module(&mib, output.join("mib.safetensors"))?;

    let mut config = BundleConfig::standard(BundleParts {
        unet_config: unet_json,
        vae_config: vae_json,
        // The UNet's latent side times the VAE's down-sampling (SD 2.1-base: 64 · 8 = 512).
        image_size: unet_config.sample_size.unwrap_or(64)
            << vae_config.block_out_channels.len().saturating_sub(1),
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

/// Copies `from` to `dir/name` atomically (temporary file, then rename).
fn copy_into(from: &Path, dir: &Path, name: &str) -> Result<()> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(io(&target))
}

/// The fields of the checkpoint contract in the `state.json` at `path` (see
/// [`diffmac_io::checkpoint::CheckpointState`]).
fn read_state_file(path: &Path) -> Result<CheckpointState> {
    let value = read_json(path)?;
    CheckpointState::deserialize(&value).map_err(|e| RestoreError::Bundle {
        path: path.to_path_buf(),
        message: format!("not a diffmac-train checkpoint state: {e}"),
    })
}

/// What [`merge_checkpoint`] reads of a `diffmac-train` checkpoint's `state.json`: the fields
/// of the checkpoint contract (stage, step, the UNet trained on, the control's and the
/// bottleneck's settings, the Stage II variant and its Stage I checkpoint). `checkpoint` is a
/// checkpoint folder or one a `latest` file names, as for the merge.
///
/// # Errors
/// No checkpoint folder there, or a missing, unreadable or invalid `state.json` (naming it).
pub fn read_checkpoint_state(checkpoint: &Path) -> Result<CheckpointState> {
    let folder = diffmac_io::resolve_latest(checkpoint, STATE_FILE)?;
    read_state_file(&folder.join(STATE_FILE))
}

/// The provenance key that says why a bundle's Stage II has no bottleneck.
const MIB_PROVENANCE: &str = "stage2_mib";

/// Merges a `diffmac-train` checkpoint folder (or the one its `latest` file names;
/// `control.safetensors`, and
/// `unet.safetensors` / `mib.safetensors` when the stage trained them) into the bundle in
/// `bundle_dir` as stage `stage` (read from the checkpoint's `state.json` when `None`). Every
/// file is checked against the bundle's architecture before anything is replaced.
///
/// The file names and the fields read from `state.json` are the checkpoint contract of
/// `diffmac_io::checkpoint`, which the trainer writes ([`read_checkpoint_state`] shows what
/// is read); a state whose contract fields do not read (an unknown Stage II variant, say) is
/// refused.
///
/// The bundle adopts the control's settings as trained (`config.control` of the checkpoint's
/// `state.json`: how it reads the manifold, its feature widths) with the bundle's own UNet and
/// VAE widths, so that it restores with what it was trained with.
///
/// A Stage II checkpoint whose run config says `stage2.variant: two_adain` has no bottleneck:
/// the bundle becomes a [`Stage2Variant::TwoAdain`] bundle, its own bottleneck (if any) is
/// dropped (file deleted, noted under `stage2_mib` in the provenance). Any other Stage II
/// checkpoint must bring `mib.safetensors`, whose trained settings (`config.mib` of the state)
/// the bundle adopts; a `no_stage1` one makes a [`Stage2Variant::NoStage1`] bundle.
///
/// # Errors
/// Missing or mis-shaped files (naming file and key), or a bundle without that stage.
pub fn merge_checkpoint<B: Backend>(
    bundle_dir: &Path,
    checkpoint: &Path,
    stage: Option<u8>,
    device: &Device<B>,
) -> Result<BundleConfig> {
    let mut config = BundleConfig::load(bundle_dir)?;
    let resolved = diffmac_io::resolve_latest(checkpoint, STATE_FILE)?;
    let checkpoint = resolved.as_path();
    if let Some(s) = stage.filter(|s| !(1..=2).contains(s)) {
        return Err(RestoreError::InvalidOption(format!(
            "stage {s}: DiffMAC has stages 1 and 2"
        )));
    }
    // The run's settings decide how the weights are used: a checkpoint without a readable
    // state is refused, never merged with assumed settings.
    let state_path = checkpoint.join(STATE_FILE);
    let state = read_state_file(&state_path)?;
    let stage = match stage.or(state.stage) {
        Some(s) => s,
        None => {
            return Err(RestoreError::Bundle {
                path: state_path,
                message: "no \"stage\": 1 or 2 in the checkpoint state (pass the stage explicitly)"
                    .into(),
            });
        }
    };
    let control_path = checkpoint.join(CONTROL_FILE);
    let unet_path = checkpoint.join(UNET_FILE);
    let mib_path = checkpoint.join(MIB_FILE);
    let files = if stage == 1 {
        &mut config.stage1
    } else {
        config.stage2.as_mut().ok_or_else(|| RestoreError::Bundle {
            path: bundle_dir.to_path_buf(),
            message: "the bundle has no Stage II to merge into".into(),
        })?
    };
    let control_config = trained_control_config(
        &files.control_config,
        state.config.control.as_ref(),
        &state_path,
    )?;
    load_module(
        control_config.init::<B>(device),
        &SafetensorsFile::open(&control_path)?,
        FloatDType::F32,
    )?;
    let unet_name = format!("unet_stage{stage}.safetensors");
    let has_unet = unet_path.exists();
    if has_unet {
        let unet_config = UNetConfig::from_json(&config.unet_config.to_string())?;
        let vb =
            VarBuilder::<B>::from_file(SafetensorsFile::open(&unet_path)?, device, FloatDType::F16);
        drop(UNet2DConditionModel::load(&unet_config, &vb)?);
        vb.finish()?;
    }
    let variant = state.config.stage2.variant;
    let two_adain = stage == 2 && variant == Stage2Variant::TwoAdain;
    // The checked bottleneck of a MIB-variant Stage II: its settings as trained and μ_QC, σ_QC.
    let mut mib = None;
    if stage == 2 && !two_adain {
        if !mib_path.is_file() {
            return Err(RestoreError::Bundle {
                path: mib_path,
                message: "missing: a Stage II checkpoint with the bottleneck carries it in this \
                          file (only a `stage2.variant: two_adain` run has none)"
                    .into(),
            });
        }
        // The bottleneck's settings as trained (e.g. its injection), when the state has them.
        let trained = state
            .config
            .mib
            .as_ref()
            .map(|in_state| {
                MibConfig::deserialize(in_state).map_err(|e| RestoreError::Bundle {
                    path: state_path.clone(),
                    message: format!("config.mib is not a bottleneck configuration: {e}"),
                })
            })
            .transpose()?;
        let trained = trained
            .or_else(|| config.mib.as_ref().map(|m| m.config.clone()))
            .ok_or_else(|| RestoreError::Bundle {
                path: state_path.clone(),
                message: "no bottleneck settings (config.mib) in the checkpoint state, and the \
                          bundle has none to assume (its Stage II is 2AdaIN)"
                    .into(),
            })?;
        // Any statistics of the right width: the file's own replace them.
        let stats = config
            .mib
            .as_ref()
            .map(|m| m.qc_stats.clone())
            .filter(|s| s.channels() == trained.channels)
            .unwrap_or_else(|| QcStats {
                mean: vec![0.0; trained.channels],
                std: vec![1.0; trained.channels],
                count: 0,
                images: 0,
            });
        if let Some(i) = &config.identity {
            let encoder = load_identity::<B>(bundle_dir, &i.kind, &i.file, device)?;
            if let Some(problem) = identity_dim_mismatch(
                &encoder,
                trained.identity_dim,
                "the checkpoint's mib.safetensors",
            ) {
                return Err(RestoreError::Bundle {
                    path: mib_path,
                    message: format!("cannot merge into {}: {problem}", bundle_dir.display()),
                });
            }
        }
        let fresh = trained.init::<B>(&stats, device)?;
        let loaded = load_module(fresh, &SafetensorsFile::open(&mib_path)?, FloatDType::F32)?;
        mib = Some((trained, loaded.qc_stats()));
    }

    // The UNet the stage was trained with: its own, or (kept frozen) the base's or Stage I's.
    let frozen_unet = if has_unet {
        None
    } else {
        Some(frozen_unet_file(
            bundle_dir,
            &config,
            stage,
            &state,
            &state_path,
        )?)
    };
    if has_unet {
        // Another stage may run on the file about to be replaced: keep it under its own name.
        let other = if stage == 1 {
            config.stage2.as_mut()
        } else {
            Some(&mut config.stage1)
        };
        if let Some(other) = other.filter(|o| o.unet == unet_name) {
            // A second name for the same file (a copy where links are not possible): the old
            // name stays valid until the new config is saved.
            let kept = format!("unet_stage{}.safetensors", 3 - stage);
            let (from, to) = (bundle_dir.join(&unet_name), bundle_dir.join(&kept));
            let _ = std::fs::remove_file(&to);
            std::fs::hard_link(&from, &to)
                .or_else(|_| std::fs::copy(&from, &to).map(drop))
                .map_err(io(&to))?;
            other.unet = kept;
        }
    }
    let control_name = format!("control_stage{stage}.safetensors");
    copy_into(&control_path, bundle_dir, &control_name)?;
    let files = if stage == 1 {
        &mut config.stage1
    } else {
        config.stage2.as_mut().expect("checked above")
    };
    files.control = control_name;
    files.control_config = control_config;
    files.trained = true;
    match frozen_unet {
        None => {
            copy_into(&unet_path, bundle_dir, &unet_name)?;
            files.unet = unet_name;
        }
        Some(FrozenUnet::InBundle(name)) => files.unet = name,
        Some(FrozenUnet::CopyFrom(source)) => {
            copy_into(&source, bundle_dir, &unet_name)?;
            files.unet = unet_name;
        }
    }
    let mut dropped = None;
    if let Some((trained, qc_stats)) = mib {
        copy_into(&mib_path, bundle_dir, "mib.safetensors")?;
        config.mib = Some(MibFiles {
            file: "mib.safetensors".into(),
            config: trained,
            qc_stats,
        });
        config.stage2_variant = variant;
        config.provenance.remove(MIB_PROVENANCE);
    } else if two_adain {
        // 2AdaIN trained without a bottleneck: restoring with the bundle's old one would feed
        // the control a manifold it never saw.
        dropped = config.mib.take();
        config.stage2_variant = Stage2Variant::TwoAdain;
        let note = match &dropped {
            Some(m) => format!("none: 2AdaIN Stage II (dropped the bundle's {})", m.file),
            None => "none: 2AdaIN Stage II".into(),
        };
        config.provenance.insert(MIB_PROVENANCE.into(), note);
    }
    // Both stages on one UNet (Stage II trained on Stage I's frozen one): keep one file.
    if let Some(s2) = config.stage2.as_mut()
        && s2.unet != config.stage1.unet
        && s2.unet != BASE_UNET_FILE
        && config.stage1.unet != BASE_UNET_FILE
        && diffmac_io::sha256_file(&bundle_dir.join(&s2.unet))?
            == diffmac_io::sha256_file(&bundle_dir.join(&config.stage1.unet))?
    {
        s2.unet = config.stage1.unet.clone();
    }
    config
        .provenance
        .insert(format!("stage{stage}"), checkpoint.display().to_string());
    config.save(bundle_dir)?;
    // Files no stage refers to any more; failing to delete one leaves a harmless stray file.
    let stale = dropped
        .map(|m| m.file)
        .into_iter()
        .chain((1..=2).map(|s| format!("unet_stage{s}.safetensors")));
    for file in stale {
        if !config.files().contains(&file.as_str()) {
            let _ = std::fs::remove_file(bundle_dir.join(&file));
        }
    }
    Ok(config)
}

/// Where the UNet of a checkpoint without its own `unet.safetensors` comes from.
enum FrozenUnet {
    /// A file the bundle already holds.
    InBundle(String),
    /// Stage I's UNet, to be copied into the bundle from its checkpoint.
    CopyFrom(PathBuf),
}

/// The UNet a checkpoint that kept the UNet frozen was trained with (its state's
/// `unet_origin`): the bundle's base UNet, or Stage I's — found in the bundle by its SHA-256
/// (the same Stage I merged before), else copied from the Stage I checkpoint if that still
/// holds it. Checkpoints written before `unet_origin` was recorded are read through their
/// `stage2.stage1_checkpoint`.
fn frozen_unet_file(
    bundle_dir: &Path,
    config: &BundleConfig,
    stage: u8,
    state: &CheckpointState,
    state_path: &Path,
) -> Result<FrozenUnet> {
    let bad = |message: String| RestoreError::Bundle {
        path: state_path.to_path_buf(),
        message,
    };
    let (file, sha256) = match &state.unet_origin {
        Some(UnetOrigin::Base) => return Ok(FrozenUnet::InBundle(BASE_UNET_FILE.into())),
        Some(UnetOrigin::Stage1 { file, sha256 }) => (file.clone(), Some(sha256.clone())),
        Some(UnetOrigin::Own) => {
            return Err(bad(format!(
                "`unet_origin` is `own` but the checkpoint has no {UNET_FILE}"
            )));
        }
        None => {
            // An older checkpoint: Stage II ran on its Stage I checkpoint's UNet, if it had one.
            let stage2 = &state.config.stage2;
            let stage1 = (stage == 2 && stage2.variant.follows_stage1())
                .then(|| stage2.stage1_checkpoint.clone())
                .flatten();
            match stage1 {
                None => return Ok(FrozenUnet::InBundle(BASE_UNET_FILE.into())),
                Some(dir) if dir.join(STATE_FILE).is_file() => {
                    let file = dir.join(UNET_FILE);
                    if !file.is_file() {
                        return Ok(FrozenUnet::InBundle(BASE_UNET_FILE.into()));
                    }
                    (file, None)
                }
                Some(dir) => {
                    return Err(bad(format!(
                        "this Stage II ran on the UNet of Stage I checkpoint {}, which is gone, \
                         so which UNet it needs cannot be told; restore that folder first",
                        dir.display()
                    )));
                }
            }
        }
    };
    let sha256 = match sha256 {
        Some(s) => s,
        None => diffmac_io::sha256_file(&file)?,
    };
    let candidates = [Some(&config.stage1), config.stage2.as_ref()];
    for name in candidates.into_iter().flatten().map(|s| &s.unet) {
        if diffmac_io::sha256_file(&bundle_dir.join(name))? == sha256 {
            return Ok(FrozenUnet::InBundle(name.clone()));
        }
    }
    if file.is_file() && diffmac_io::sha256_file(&file)? == sha256 {
        return Ok(FrozenUnet::CopyFrom(file));
    }
    Err(bad(format!(
        "this stage was trained on Stage I's UNet {} (SHA-256 {sha256}), which is neither in the \
         bundle nor at that path any more: merge that Stage I checkpoint first",
        file.display()
    )))
}

/// The control settings a checkpoint was trained with (`trained`: `config.control` of its
/// state, read from `state_path`), on the widths of the bundle's stage (`bundle`); `bundle`
/// itself when the state has none.
fn trained_control_config(
    bundle: &ControlConfig,
    trained: Option<&serde_json::Value>,
    state_path: &Path,
) -> Result<ControlConfig> {
    let Some(value) = trained else {
        return Ok(bundle.clone());
    };
    let trained = ControlConfig::deserialize(value).map_err(|e| RestoreError::Bundle {
        path: state_path.to_path_buf(),
        message: format!("config.control is not a control configuration: {e}"),
    })?;
    Ok(ControlConfig {
        latent_channels: bundle.latent_channels,
        encoder_channels: bundle.encoder_channels.clone(),
        ..trained
    })
}
