//! Before the first step: where the run starts (fresh, or the checkpoint it resumes), the run
//! folder's `config.json`, the device's default dtype, and the models — frozen ones in one
//! [`FrozenModels`], trained ones with their optimiser and moving average in [`TrainedModels`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::FloatDType;
use burn::tensor::backend::AutodiffBackend;
use diffmac_io::stream_seed;
use diffmac_ldm::loader::KeyMap;
use diffmac_ldm::{ControlConfig, load_module_file};
use diffmac_mib::{InjectionKind, ManifoldBottleneck, QcStats};

use super::TrainOptions;
use crate::checkpoint::{
    CONTROL_FILE, EMA_FILE, OPTIMIZER_FILE, STATE_FILE, TrainState, UNET_FILE, UnetOrigin,
    latest_checkpoint, load_weights, read_state,
};
use crate::config::{Precision, Stage, Stage2Variant, TrainConfig};
use crate::dataset::Dataset;
use crate::ema::Ema;
use crate::error::{Result, TrainError};
use crate::models::{
    FrozenModels, IdentityModel, load_context, load_unet, load_vae, model_configs, noise_schedule,
    seeded,
};
use crate::optimizer::{AdamW, trainable_parameter_count};
use crate::trainable::Trainable;

/// The checkpoint a run continues.
pub(super) struct Resumed {
    /// Its folder.
    pub folder: PathBuf,
    /// Its `state.json`.
    pub state: TrainState,
}

/// Where a run starts: the config it runs with (the checkpoint's when resuming, with the
/// given `steps`) and the checkpoint it continues, if any.
pub(super) struct RunStart {
    /// The validated config of the run.
    pub config: TrainConfig,
    /// The checkpoint resumed (`None` for a fresh run).
    pub resumed: Option<Resumed>,
}

impl RunStart {
    /// Resolves `options.resume` against the run folder (a fresh run refuses a folder that
    /// holds checkpoints), resolves a Stage I run folder or `latest` to its checkpoint, and
    /// checks that a resumed run has as many peers (`world`) as it started with.
    pub fn resolve(config: TrainConfig, options: &TrainOptions, world: usize) -> Result<Self> {
        let run_dir = options.run_dir.as_path();
        let latest = latest_checkpoint(run_dir)?;
        if !options.resume && latest.is_some() {
            return Err(TrainError::RunFolder {
                path: run_dir.to_path_buf(),
                message: "already holds a run with checkpoints; pass --resume to continue it \
                          or choose another folder"
                    .into(),
            });
        }
        let start = match latest.filter(|_| options.resume) {
            Some(folder) => {
                let state = read_state(&folder)?;
                let mut c = state.config.clone();
                c.steps = Some(config.total_steps());
                if c != config {
                    tracing::warn!(
                        "resuming with the config stored in {} (only `steps` is taken from the \
                         given config)",
                        folder.display()
                    );
                }
                Self {
                    config: c,
                    resumed: Some(Resumed { folder, state }),
                }
            }
            None => {
                // A Stage I run folder or its `latest` names the checkpoint to start from.
                let mut config = config;
                if let Some(p) = &config.stage2.stage1_checkpoint {
                    config.stage2.stage1_checkpoint =
                        Some(diffmac_io::resolve_latest(p, STATE_FILE)?);
                }
                Self {
                    config,
                    resumed: None,
                }
            }
        };
        start.config.validate()?;
        if let Some(r) = &start.resumed {
            start.check_resumed(&r.state, world)?;
        }
        Ok(start)
    }

    /// Logs a run that is already done, and refuses one resumed on another number of peers
    /// (its micro-batch stream would differ).
    fn check_resumed(&self, state: &TrainState, world: usize) -> Result<()> {
        let config = &self.config;
        if state.step >= config.total_steps() {
            tracing::info!(
                "the run is already at step {} of {}",
                state.step,
                config.total_steps()
            );
        }
        let expected = (state.step * config.optimizer.accumulation * world) as u64;
        if state.rng.micro_batches != expected {
            return Err(TrainError::Config(format!(
                "the checkpoint was written after {} micro-batches at step {}, this run would \
                 take {expected} ({} per step on each of {world} device(s)); resume on as many \
                 devices as the run started with",
                state.rng.micro_batches, state.step, config.optimizer.accumulation
            )));
        }
        Ok(())
    }

    /// Steps already done (0 for a fresh run).
    pub fn step(&self) -> usize {
        self.resumed.as_ref().map_or(0, |r| r.state.step)
    }
}

/// Writes `RUN_DIR/config.json` (creating the folder): the config the run really uses.
pub(super) fn write_run_config(run_dir: &Path, config: &TrainConfig) -> Result<()> {
    std::fs::create_dir_all(run_dir).map_err(TrainError::io(run_dir))?;
    let config_json = serde_json::to_vec_pretty(config).expect("plain data");
    diffmac_io::write_atomically(&run_dir.join("config.json"), &config_json, true)?;
    Ok(())
}

/// Fixes the device's default float dtype to the run's precision before the first tensor
/// (the dtype pitfall of Burn 0.21); f32 runs leave it.
pub(super) fn set_default_dtype<AB: AutodiffBackend>(device: &AB::Device, config: &TrainConfig) {
    if config.precision != Precision::F32
        && let Err(e) = burn::tensor::set_default_dtypes::<AB>(
            device,
            config.precision.dtype(),
            burn::tensor::IntDType::I64,
        )
    {
        tracing::debug!("default dtype already set on the device: {e:?}");
    }
}

/// Whether the run trains Stage II with the bottleneck (every Stage II variant but 2AdaIN).
pub(super) fn uses_mib(config: &TrainConfig) -> bool {
    config.stage == Stage::Two && config.stage2.variant != Stage2Variant::TwoAdain
}

/// The Stage I checkpoint folder a Stage II run reads (`None` for Stage I and "w/o Stage I").
pub(super) fn stage1_dir(config: &TrainConfig) -> Option<PathBuf> {
    (config.stage == Stage::Two && config.stage2.variant != Stage2Variant::NoStage1)
        .then(|| config.stage2.stage1_checkpoint.clone())
        .flatten()
}

/// Stage I's UNet file, where Stage I trained UNet parts.
pub(super) fn stage1_unet(config: &TrainConfig) -> Option<PathBuf> {
    stage1_dir(config)
        .map(|d| d.join(UNET_FILE))
        .filter(|p| p.is_file())
}

/// What the checkpoints record of the run's UNet.
pub(super) struct UnetRecord {
    /// Its diffusers keys (its checkpoint file is written with them).
    pub keys: KeyMap,
    /// Whether UNet parts train (`unet.safetensors` is written).
    pub trained: bool,
    /// The UNet the run trains with.
    pub origin: UnetOrigin,
}

/// The trained side of a run: the modules, the optimiser, the moving average, and what the
/// checkpoints record of the UNet.
pub(super) struct TrainedModels<AB: AutodiffBackend> {
    /// Control, bottleneck and UNet.
    pub model: Trainable<AB>,
    /// AdamW with its moments.
    pub optimizer: AdamW<AB::InnerBackend>,
    /// The moving average, when `optimizer.ema_decay` asks for one.
    pub ema: Option<Ema<AB::InnerBackend>>,
    /// The UNet's keys and origin.
    pub unet: UnetRecord,
}

/// What assembling a peer's models reads: the run's start, its folder and device.
pub(super) struct Setup<'a, AB: AutodiffBackend> {
    /// The config and the checkpoint resumed.
    pub start: &'a RunStart,
    /// The run folder.
    pub run_dir: &'a Path,
    /// Whether this peer writes the run folder (rank 0).
    pub lead: bool,
    /// The peer's device.
    pub device: &'a AB::Device,
    /// The run's float dtype.
    pub dtype: FloatDType,
    /// The training images.
    pub dataset: Arc<Dataset>,
}

impl<'a, AB: AutodiffBackend> Setup<'a, AB> {
    /// Opens the run's dataset.
    pub fn new(
        start: &'a RunStart,
        run_dir: &'a Path,
        lead: bool,
        device: &'a AB::Device,
    ) -> Result<Self> {
        let config = &start.config;
        Ok(Self {
            dataset: Arc::new(Dataset::open(&config.data, config.seed)?),
            start,
            run_dir,
            lead,
            device,
            dtype: config.precision.dtype(),
        })
    }

    fn config(&self) -> &'a TrainConfig {
        &self.start.config
    }

    /// The inner backend's device (the same device).
    pub fn inner_device(&self) -> burn::tensor::Device<AB::InnerBackend> {
        self.device.clone()
    }

    /// The VAE, the "" context, the noise schedule and `F_ID` where Stage II injects identity.
    pub fn frozen_models(&self) -> Result<FrozenModels<AB::InnerBackend>> {
        let config = self.config();
        let (seed, dtype, device) = (config.seed, self.dtype, &self.inner_device());
        // Before any weights: a base model that predicts v (SD 2.x-768) is refused here.
        let schedule = noise_schedule(&config.model.source)?;
        let vae = load_vae(&config.model.source, seed, device, dtype)?;
        let (unet_config, _) = model_configs(&config.model.source)?;
        let context = load_context(
            &config.model,
            unet_config.cross_attention_dim,
            seed,
            device,
            dtype,
        )?;
        let identity = if uses_mib(config) && config.mib.injection == InjectionKind::Identity {
            let id = IdentityModel::load(&config.model.identity, seed, device)?;
            if id.dim() != config.mib.identity_dim {
                return Err(TrainError::Config(format!(
                    "the identity encoder gives {}-D embeddings, mib.identity_dim is {}",
                    id.dim(),
                    config.mib.identity_dim
                )));
            }
            Some(id)
        } else {
            None
        };
        Ok(FrozenModels {
            vae,
            context,
            schedule,
            identity,
        })
    }

    /// The trained modules — the checkpoint's when resuming; else the UNet of Stage I (or the
    /// base model) and Stage I's control for Stage II, a fresh control otherwise — with the
    /// optimiser and moving average (the checkpoint's when resuming).
    pub fn trained_models(
        &self,
        frozen: &FrozenModels<AB::InnerBackend>,
    ) -> Result<TrainedModels<AB>> {
        let config = self.config();
        let (seed, dtype, device) = (config.seed, self.dtype, self.device);
        let resumed = self.start.resumed.as_ref();
        let stage1_unet = stage1_unet(config);
        // The UNet: the checkpoint's when resuming a run that trains it, else Stage I's, else
        // the base.
        let unet_weights = match resumed {
            Some(r) if r.state.unet_trained => Some(r.folder.join(UNET_FILE)),
            _ => stage1_unet.clone(),
        };
        let loaded = load_unet::<AB>(
            &config.model.source,
            unet_weights.as_deref(),
            seed,
            device,
            dtype,
        )?;
        let unet = config.control.trainable.apply(loaded.unet);
        let unet_trained = trainable_parameter_count(&unet) > 0;
        let unet_origin = match &stage1_unet {
            _ if unet_trained => UnetOrigin::Own,
            Some(file) => UnetOrigin::Stage1 {
                file: file.canonicalize().unwrap_or_else(|_| file.clone()),
                sha256: diffmac_io::sha256_file(file)?,
            },
            None => UnetOrigin::Base,
        };
        let (_, vae_config) = model_configs(&config.model.source)?;
        let control_config = ControlConfig {
            encoder_channels: unet.encoder_input_channels(),
            latent_channels: vae_config.latent_channels,
            ..config.control.clone()
        };
        let mut control = seeded::<AB, _>(device, stream_seed(seed, b"control"), || {
            control_config.init::<AB>(device)
        });
        control = diffmac_ldm::cast_module(control, dtype);
        if resumed.is_none()
            && let Some(dir) = stage1_dir(config)
        {
            control = load_module_file(control, dir.join(CONTROL_FILE), dtype)?;
        }
        let mib = self.bottleneck(frozen)?;
        let mut model = Trainable { control, mib, unet };
        let mut optimizer = AdamW::new(config.optimizer.clone());
        let inner_device = self.inner_device();
        if let Some(r) = resumed {
            model = load_weights(&r.folder, model, dtype)?;
            optimizer = AdamW::load(
                config.optimizer.clone(),
                &r.folder.join(OPTIMIZER_FILE),
                &inner_device,
            )?;
        }
        let ema = match (config.optimizer.ema_decay, resumed) {
            (None, _) => None,
            (Some(d), Some(r)) if r.state.has_ema => {
                Some(Ema::load(d, &r.folder.join(EMA_FILE), &inner_device)?)
            }
            (Some(d), _) => Some(Ema::new(d)),
        };
        Ok(TrainedModels {
            model,
            optimizer,
            ema,
            unet: UnetRecord {
                keys: loaded.keys,
                trained: unet_trained,
                origin: unet_origin,
            },
        })
    }

    /// Stage II's bottleneck, built on the QC statistics of the run's first training faces
    /// (rank 0 saves them in the run folder); a resumed run's come from its checkpoint.
    fn bottleneck(
        &self,
        frozen: &FrozenModels<AB::InnerBackend>,
    ) -> Result<Option<ManifoldBottleneck<AB>>> {
        let config = self.config();
        if !uses_mib(config) {
            return Ok(None);
        }
        let stats = match &self.start.resumed {
            Some(_) => QcStats::placeholder(config.mib.channels),
            None => crate::qc_stats::qc_stats_for_run(
                config,
                &self.dataset,
                &frozen.vae,
                self.lead.then_some(self.run_dir),
                &self.inner_device(),
                self.dtype,
            )?,
        };
        let mib = seeded::<AB, _>(self.device, stream_seed(config.seed, b"mib"), || {
            config.mib.init::<AB>(&stats, self.device)
        })?;
        Ok(Some(diffmac_ldm::cast_module(mib, self.dtype)))
    }
}
