//! Training settings: a serde tree with the paper's values (§4.1.1) as defaults, two presets
//! ([`TrainConfig::paper`], [`TrainConfig::tiny`]) and JSON files that change only the fields
//! they name (merged over a preset; unknown fields are errors).

use std::path::{Path, PathBuf};

use diffmac_degrade::DegradationConfig;
use diffmac_ldm::{ControlConfig, TrainableParts};
use diffmac_mib::{InjectionKind, MibConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Which of DiffMAC's two fine-tuning stages a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Stage {
    /// Stage I (Algorithm 1 lines 2–9): AdaIN control on the LQ manifold, `L_ldm¹`.
    #[default]
    One,
    /// Stage II (lines 13–29): MIB on the Stage I result, eq. 13.
    Two,
}

impl Stage {
    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// The paper's iteration count: 200k for Stage I, 10k for Stage II.
    pub fn paper_steps(self) -> usize {
        match self {
            Self::One => 200_000,
            Self::Two => 10_000,
        }
    }
}

impl TryFrom<u8> for Stage {
    type Error = String;
    fn try_from(v: u8) -> std::result::Result<Self, String> {
        match v {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            _ => Err(format!("stage must be 1 or 2, got {v}")),
        }
    }
}

impl From<Stage> for u8 {
    fn from(s: Stage) -> u8 {
        s.number()
    }
}

/// Working precision of the models' weights and activations (`"precision"` of the run
/// config): the one `diffmac_io::Precision` that the tools' `--precision` flags also parse.
pub use diffmac_io::Precision;

/// Where the Stable Diffusion UNet and VAE come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSource {
    /// A diffusers folder with `unet/` and `vae/` (and `text_encoder/` for the "" context).
    Diffusers {
        /// The folder (e.g. a download of `stabilityai/stable-diffusion-2-1-base`).
        dir: PathBuf,
    },
    /// Random weights (seeded by the run seed) for configs read from diffusers
    /// `config.json` files; without files, the tiny test configs bundled with this crate
    /// (3 levels, 16–32 channels, VAE factor 4). For tests and speed measurements.
    Random {
        /// A UNet `config.json`; `None`: the tiny one.
        #[serde(default)]
        unet_config: Option<PathBuf>,
        /// A VAE `config.json`; `None`: the tiny one.
        #[serde(default)]
        vae_config: Option<PathBuf>,
    },
}

/// Where the text context of the empty prompt `c = ""` comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContextSource {
    /// Computed once with the CLIP text encoder in the model folder's `text_encoder/`.
    TextEncoder,
    /// A safetensors file holding a `[1, 77, C]` tensor named `context`.
    File {
        /// The file.
        path: PathBuf,
    },
    /// A seeded standard-normal `[1, 77, C]` tensor (tests with random models).
    Random,
}

/// The identity encoder `F_ID` of Stage II (Algorithm 1 line 18).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IdentitySource {
    /// An ArcFace IResNet converted to safetensors (`scripts/reference/iresnet_convert.py`) or
    /// insightface's `.pth` (512-D, the paper's `F_ID`).
    Iresnet {
        /// The weights file.
        weights: PathBuf,
    },
    /// dlib's face-recognition ResNet (`scripts/fetch_identity_weights.sh`; 128-D), the
    /// identity network the package registries ship.
    Dlib {
        /// The weights file.
        weights: PathBuf,
    },
    /// A fixed random projection of the pooled face to `dim` values, seeded by the run seed:
    /// a stand-in for tests (no identity information).
    Random {
        /// Embedding width.
        dim: usize,
    },
}

/// The models a run uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// UNet and VAE.
    pub source: ModelSource,
    /// The "" context.
    pub context: ContextSource,
    /// `F_ID` (Stage II with identity injection only).
    pub identity: IdentitySource,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            source: ModelSource::Diffusers {
                dir: PathBuf::from("models/sd21-base"),
            },
            context: ContextSource::TextEncoder,
            identity: IdentitySource::Iresnet {
                weights: PathBuf::from("models/arcface_iresnet100.safetensors"),
            },
        }
    }
}

/// The training images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Folder of HQ faces, searched recursively (FFHQ in the paper).
    pub hq_dir: PathBuf,
    /// Optional folder of given LQ faces with the same relative paths as `hq_dir`; when
    /// set, LQ faces are read instead of made by eq. 14.
    pub lq_dir: Option<PathBuf>,
    /// Side of the square training image (paper: 512).
    pub size: u32,
    /// Smallest side of the random square crop as a fraction of the image's shorter side
    /// (1.0: the largest square, at a random offset along the longer side).
    pub crop_min_scale: f64,
    /// Probability of a horizontal flip.
    pub flip_probability: f64,
    /// The degradation of eq. 14 (paper ranges by default).
    pub degradation: DegradationConfig,
    /// Batches prepared ahead of the training step by the loader thread.
    pub prefetch: usize,
    /// Images with more pixels are skipped (reported once).
    pub max_pixels: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            hq_dir: PathBuf::from("data/ffhq"),
            lq_dir: None,
            size: 512,
            crop_min_scale: 1.0,
            flip_probability: 0.5,
            degradation: DegradationConfig::default(),
            prefetch: 4,
            max_pixels: diffmac_io::DEFAULT_MAX_PIXELS,
        }
    }
}

/// AdamW with PyTorch's semantics and defaults written out (Burn's defaults differ:
/// ε 1e-5, weight decay 1e-4), plus warm-up, clipping and accumulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Learning rate (paper: 1e-4).
    pub lr: f64,
    /// β₁ (PyTorch: 0.9).
    pub beta1: f64,
    /// β₂ (PyTorch: 0.999).
    pub beta2: f64,
    /// ε added to √v̂ (PyTorch: 1e-8).
    pub eps: f64,
    /// Decoupled weight decay (PyTorch's AdamW: 1e-2).
    pub weight_decay: f64,
    /// Linear warm-up from 0 to `lr` over this many steps (0: none; the paper gives none).
    pub warmup_steps: usize,
    /// Clip the global gradient L2 norm to this value (`None`: no clipping).
    pub grad_clip_norm: Option<f64>,
    /// Micro-batches of `batch_size` whose gradients are averaged per optimiser step.
    pub accumulation: usize,
    /// Keep an exponential moving average of the trained weights with this decay (e.g.
    /// 0.9999), saved as `ema.safetensors` in checkpoints (`None`: no EMA, the paper's
    /// setting as far as it says).
    pub ema_decay: Option<f64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
            warmup_steps: 0,
            grad_clip_norm: None,
            accumulation: 1,
            ema_decay: None,
        }
    }
}

impl OptimizerConfig {
    /// The learning rate of optimiser step `step` (1-based) after warm-up.
    pub fn lr_at(&self, step: usize) -> f64 {
        if self.warmup_steps == 0 || step >= self.warmup_steps {
            self.lr
        } else {
            self.lr * step as f64 / self.warmup_steps as f64
        }
    }
}

/// How Stage II gets `X_D1`, the Stage I result on the LQ face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XD1Mode {
    /// Sampled once per training image (with its epoch-0 LQ face, no flip) into a cache
    /// folder, then reused; flips are applied to the cached image.
    #[default]
    Cache,
    /// Sampled for every training sample (one full Stage I run per sample and step).
    OnTheFly,
}

/// The Stage II variants of the paper's Table 3 (`stage2.variant`): defined once, in
/// `diffmac_io::checkpoint`, because the restorer reads them from checkpoints.
pub use diffmac_io::checkpoint::Stage2Variant;

/// Stage II settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stage2Config {
    /// The Stage I checkpoint folder Stage II starts from (its control, and its UNet when
    /// Stage I trained it); not needed for [`Stage2Variant::NoStage1`].
    pub stage1_checkpoint: Option<PathBuf>,
    /// Which variant trains.
    pub variant: Stage2Variant,
    /// Cached or on-the-fly `X_D1`.
    pub x_d1: XD1Mode,
    /// Cache folder (default: `RUN_DIR/x_d1_cache`).
    pub cache_dir: Option<PathBuf>,
    /// Spaced DDPM steps of the Stage I sampling (paper: 50).
    pub sampler_steps: usize,
    /// `qc_stats.json` with `μ_QC`, `σ_QC`; `None`: computed from up to `qc_stats_images`
    /// training HQ faces at the start and written to `RUN_DIR/qc_stats.json`.
    pub qc_stats: Option<PathBuf>,
    /// Images for the statistics when they are computed.
    pub qc_stats_images: usize,
}

impl Default for Stage2Config {
    fn default() -> Self {
        Self {
            stage1_checkpoint: None,
            variant: Stage2Variant::Mib,
            x_d1: XD1Mode::Cache,
            cache_dir: None,
            sampler_steps: 50,
            qc_stats: None,
            qc_stats_images: 1000,
        }
    }
}

/// Checkpoint cadence and retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Write a checkpoint every this many steps (and always at the end).
    pub every: usize,
    /// Keep only the newest this many checkpoints (0: keep all).
    pub keep_last: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every: 5000,
            keep_last: 3,
        }
    }
}

/// Metrics and validation cadence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Append a line to `metrics.jsonl` every this many steps.
    pub log_every: usize,
    /// Write a validation sheet every this many steps (0: never).
    pub validate_every: usize,
    /// Rows of the sheet (the first training images, epoch-0 LQ).
    pub validation_images: usize,
    /// The training timestep of the one-step x̂₀ (eq. 5) shown on the sheet.
    pub validation_timestep: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            log_every: 50,
            validate_every: 2000,
            validation_images: 2,
            validation_timestep: 500,
        }
    }
}

/// Everything a training run needs. JSON files may give only the fields they change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The stage this run trains.
    pub stage: Stage,
    /// Models.
    pub model: ModelConfig,
    /// Data.
    pub data: DataConfig,
    /// Images per micro-batch (paper: 2).
    pub batch_size: usize,
    /// Optimiser steps; `None`: the paper's (200k Stage I, 10k Stage II).
    pub steps: Option<usize>,
    /// Run seed: data order, crops, degradations, timesteps, noise, fresh weights.
    pub seed: u64,
    /// Working precision.
    pub precision: Precision,
    /// The AdaIN control (`encoder_channels` is taken from the UNet) and which UNet parts train.
    pub control: ControlConfig,
    /// The bottleneck, its injection (Table 3: identity / noise / none) and β = `lambda_info`.
    pub mib: MibConfig,
    /// Stage II settings.
    pub stage2: Stage2Config,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Checkpoints.
    pub checkpoint: CheckpointConfig,
    /// Metrics and validation.
    pub logging: LoggingConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::paper(Stage::One)
    }
}

/// The named starting points of a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// [`TrainConfig::paper`].
    #[default]
    Paper,
    /// [`TrainConfig::tiny`].
    Tiny,
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "paper" => Ok(Self::Paper),
            "tiny" => Ok(Self::Tiny),
            _ => Err(format!("unknown preset `{s}` (paper, tiny)")),
        }
    }
}

impl TrainConfig {
    /// The paper's settings (§4.1.1) for `stage`: 512², batch 2, AdamW lr 1e-4 (β 0.9/0.999,
    /// ε 1e-8, weight decay 1e-2), 200k / 10k steps, λ_rec 1, λ_info 0.001, SD 2.1-base.
    pub fn paper(stage: Stage) -> Self {
        Self {
            stage,
            model: ModelConfig::default(),
            data: DataConfig::default(),
            batch_size: 2,
            steps: None,
            seed: 0,
            precision: Precision::F32,
            control: ControlConfig::default(),
            mib: MibConfig::default(),
            stage2: Stage2Config::default(),
            optimizer: OptimizerConfig::default(),
            checkpoint: CheckpointConfig::default(),
            logging: LoggingConfig::default(),
        }
    }

    /// A configuration that trains on the CPU in seconds: the tiny random UNet and VAE,
    /// 32 px images, 20 steps, identity width 32 (the tiny bundle's), 4 sampler steps, lr 1e-3, the whole
    /// (tiny) UNet training so that the loss visibly falls.
    pub fn tiny(stage: Stage) -> Self {
        let mut c = Self::paper(stage);
        c.model = ModelConfig {
            source: ModelSource::Random {
                unet_config: None,
                vae_config: None,
            },
            context: ContextSource::Random,
            identity: IdentitySource::Random { dim: 32 },
        };
        c.data.size = 32;
        c.data.prefetch = 2;
        c.steps = Some(20);
        c.control.trainable = TrainableParts::ControlAndUNet;
        c.mib.identity_dim = 32;
        c.stage2.sampler_steps = 4;
        c.stage2.qc_stats_images = 8;
        c.optimizer.lr = 1e-3;
        c.checkpoint = CheckpointConfig {
            every: 10,
            keep_last: 2,
        };
        c.logging = LoggingConfig {
            log_every: 1,
            validate_every: 10,
            validation_images: 2,
            validation_timestep: 500,
        };
        c
    }

    /// The preset for `stage`.
    pub fn preset(preset: Preset, stage: Stage) -> Self {
        match preset {
            Preset::Paper => Self::paper(stage),
            Preset::Tiny => Self::tiny(stage),
        }
    }

    /// `preset` with the fields of the JSON file at `path` merged over it (objects merge
    /// key by key, everything else replaces), then validated. A `"stage"` in the file picks
    /// the preset's stage.
    ///
    /// # Errors
    /// [`TrainError::Io`], [`TrainError::Json`] (also for unknown fields) naming the file,
    /// [`TrainError::Config`] for invalid values.
    pub fn from_json_file(path: &Path, preset: Preset) -> Result<Self> {
        let config = Self::merge_json_file(path, preset)?;
        config.validate()?;
        Ok(config)
    }

    /// [`TrainConfig::from_json_file`] without the final validation, for callers that change
    /// fields (command-line flags) before validating.
    ///
    /// # Errors
    /// [`TrainError::Io`], [`TrainError::Json`] naming the file.
    pub fn merge_json_file(path: &Path, preset: Preset) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        Self::merge_json_str(&text, preset).map_err(|e| match e {
            TrainError::Json { source, .. } => TrainError::Json {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// [`TrainConfig::from_json_file`] on a string.
    ///
    /// # Errors
    /// As [`TrainConfig::from_json_file`], with `<string>` as the path.
    pub fn from_json_str(text: &str, preset: Preset) -> Result<Self> {
        let config = Self::merge_json_str(text, preset)?;
        config.validate()?;
        Ok(config)
    }

    /// [`TrainConfig::from_json_str`] without the final validation.
    ///
    /// # Errors
    /// [`TrainError::Json`] with `<string>` as the path.
    pub fn merge_json_str(text: &str, preset: Preset) -> Result<Self> {
        let json_err = |source| TrainError::Json {
            path: PathBuf::from("<string>"),
            source,
        };
        let overlay: serde_json::Value = serde_json::from_str(text).map_err(json_err)?;
        let stage = match overlay.get("stage") {
            Some(v) => serde_json::from_value::<Stage>(v.clone()).map_err(json_err)?,
            None => Stage::One,
        };
        let mut base = serde_json::to_value(Self::preset(preset, stage)).map_err(json_err)?;
        merge(&mut base, overlay);
        serde_json::from_value(base).map_err(json_err)
    }

    /// Optimiser steps of this run.
    pub fn total_steps(&self) -> usize {
        self.steps.unwrap_or_else(|| self.stage.paper_steps())
    }

    /// Checks ranges and combinations.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if self.total_steps() == 0 {
            return bad("steps must be at least 1".into());
        }
        if self.data.size == 0 || !self.data.size.is_multiple_of(8) {
            return bad(format!(
                "data.size must be a positive multiple of 8, got {}",
                self.data.size
            ));
        }
        if !(self.data.crop_min_scale > 0.0 && self.data.crop_min_scale <= 1.0) {
            return bad(format!(
                "data.crop_min_scale must be in (0, 1], got {}",
                self.data.crop_min_scale
            ));
        }
        if !(0.0..=1.0).contains(&self.data.flip_probability) {
            return bad(format!(
                "data.flip_probability must be in [0, 1], got {}",
                self.data.flip_probability
            ));
        }
        self.data
            .degradation
            .validate()
            .map_err(|e| TrainError::Config(format!("data.degradation: {e}")))?;
        let o = &self.optimizer;
        if !(o.lr > 0.0 && o.lr.is_finite()) {
            return bad(format!("optimizer.lr must be positive, got {}", o.lr));
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            return bad("optimizer.beta1 and beta2 must be in [0, 1)".into());
        }
        if o.eps.is_nan() || o.eps <= 0.0 || o.weight_decay.is_nan() || o.weight_decay < 0.0 {
            return bad("optimizer.eps must be positive and weight_decay non-negative".into());
        }
        if o.accumulation == 0 {
            return bad("optimizer.accumulation must be at least 1".into());
        }
        if let Some(c) = o.grad_clip_norm
            && (c.is_nan() || c <= 0.0)
        {
            return bad(format!(
                "optimizer.grad_clip_norm must be positive, got {c}"
            ));
        }
        if let Some(d) = o.ema_decay
            && !(0.0..1.0).contains(&d)
        {
            return bad(format!("optimizer.ema_decay must be in [0, 1), got {d}"));
        }
        if self.checkpoint.every == 0 || self.logging.log_every == 0 {
            return bad("checkpoint.every and logging.log_every must be at least 1".into());
        }
        if self.logging.validation_timestep >= 1000 {
            return bad("logging.validation_timestep must be below 1000".into());
        }
        if self.stage == Stage::Two {
            let s2 = &self.stage2;
            if s2.sampler_steps == 0 || s2.sampler_steps > 1000 {
                return bad("stage2.sampler_steps must be in 1..=1000".into());
            }
            if s2.variant != Stage2Variant::NoStage1 && s2.stage1_checkpoint.is_none() {
                return bad(
                    "stage 2 needs stage2.stage1_checkpoint (a Stage I checkpoint folder) \
                     unless stage2.variant is no_stage1"
                        .into(),
                );
            }
            if s2.variant == Stage2Variant::Mib || s2.variant == Stage2Variant::NoStage1 {
                if self.mib.injection == InjectionKind::Identity
                    && let IdentitySource::Random { dim } = self.model.identity
                    && dim != self.mib.identity_dim
                {
                    return bad(format!(
                        "model.identity.dim {dim} differs from mib.identity_dim {}",
                        self.mib.identity_dim
                    ));
                }
                if self.mib.channels != 2 * self.control.latent_channels {
                    return bad(format!(
                        "mib.channels {} must be twice control.latent_channels {}",
                        self.mib.channels, self.control.latent_channels
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Merges `overlay` into `base`: objects key by key (recursively), anything else replaces.
fn merge(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    // Tagged enums (`kind`) are replaced whole when the kind changes.
                    Some(slot) if slot.is_object() && v.is_object() && same_kind(slot, &v) => {
                        merge(slot, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn same_kind(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.get("kind"), b.get("kind")) {
        (Some(x), Some(y)) => x == y,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_defaults_are_the_papers() {
        let c = TrainConfig::paper(Stage::One);
        assert_eq!(c.data.size, 512);
        assert_eq!(c.batch_size, 2);
        assert_eq!(c.total_steps(), 200_000);
        assert_eq!(TrainConfig::paper(Stage::Two).total_steps(), 10_000);
        assert_eq!(c.optimizer.lr, 1e-4);
        assert_eq!((c.optimizer.beta1, c.optimizer.beta2), (0.9, 0.999));
        assert_eq!(c.optimizer.eps, 1e-8);
        assert_eq!(c.optimizer.weight_decay, 1e-2);
        assert_eq!(c.mib.lambda_rec, 1.0);
        assert_eq!(c.mib.lambda_info, 0.001);
        assert_eq!(c.mib.min_std, 0.01);
        c.validate().unwrap();
        TrainConfig::tiny(Stage::One).validate().unwrap();
    }

    #[test]
    fn json_changes_only_what_it_names_and_refuses_unknown_fields() {
        let c = TrainConfig::from_json_str(
            r#"{"stage": 2, "optimizer": {"lr": 0.5}, "stage2": {"variant": "no_stage1"},
                "mib": {"injection": "noise", "lambda_info": 0.1}}"#,
            Preset::Tiny,
        )
        .unwrap();
        assert_eq!(c.stage, Stage::Two);
        assert_eq!(c.optimizer.lr, 0.5);
        assert_eq!(c.optimizer.eps, 1e-8);
        assert_eq!(c.data.size, 32, "tiny preset kept");
        assert_eq!(c.mib.injection, InjectionKind::Noise);
        assert_eq!(c.total_steps(), 20);

        let err = TrainConfig::from_json_str(r#"{"optimizer": {"lr2": 1}}"#, Preset::Tiny)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `lr2`"), "{err}");
        let err = TrainConfig::from_json_str(r#"{"stage": 3}"#, Preset::Tiny)
            .unwrap_err()
            .to_string();
        assert!(err.contains("stage must be 1 or 2"), "{err}");
        let err = TrainConfig::from_json_str(r#"{"stage": 2}"#, Preset::Paper)
            .unwrap_err()
            .to_string();
        assert!(err.contains("stage1_checkpoint"), "{err}");
        let c = TrainConfig::from_json_str(
            r#"{"model": {"source": {"kind": "diffusers", "dir": "x"}}}"#,
            Preset::Tiny,
        )
        .unwrap();
        assert_eq!(
            c.model.source,
            ModelSource::Diffusers {
                dir: PathBuf::from("x")
            }
        );
    }

    #[test]
    fn shipped_config_files_are_the_presets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/train");
        let read =
            |name: &str| TrainConfig::from_json_file(&dir.join(name), Preset::Paper).unwrap();
        assert_eq!(read("paper-stage1.json"), TrainConfig::paper(Stage::One));
        let mut two = TrainConfig::paper(Stage::Two);
        two.stage2.stage1_checkpoint = Some("runs/stage1/checkpoints/step-0200000".into());
        assert_eq!(read("paper-stage2.json"), two);
        let mut tiny = TrainConfig::tiny(Stage::One);
        tiny.data.hq_dir = "examples/faces".into();
        assert_eq!(read("tiny.json"), tiny);
        let speed = read("sd21-random-bf16-speed.json");
        assert_eq!(speed.precision, Precision::Bf16);
        assert_eq!((speed.data.size, speed.batch_size), (512, 2));
        assert_eq!(speed.control.trainable, TrainableParts::ControlAndUNet);
        let cpu = read("sd21-random-f32-cpu.json");
        assert_eq!(cpu.precision, Precision::F32);
        assert_eq!((cpu.data.size, cpu.batch_size), (512, 2));
        assert_eq!(cpu.control.trainable, TrainableParts::Control);
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = TrainConfig::tiny(Stage::Two);
        let text = serde_json::to_string(&c).unwrap();
        let back: TrainConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn warmup_ramps_linearly() {
        let o = OptimizerConfig {
            warmup_steps: 4,
            ..OptimizerConfig::default()
        };
        assert_eq!(o.lr_at(1), 0.25e-4);
        assert_eq!(o.lr_at(4), 1e-4);
        assert_eq!(OptimizerConfig::default().lr_at(1), 1e-4);
    }
}
