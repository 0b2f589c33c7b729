//! The checkpoint contract between the trainer and the restorer: the files of a checkpoint
//! folder, the Stage II variants, the UNet a checkpoint was trained on, and the part of its
//! `state.json` that a reader of checkpoints (the restorer's merge) relies on.
//!
//! `diffmac-train` writes checkpoints and `diffmac-restore` merges them into bundles; neither
//! depends on the other, so the names and types they must agree on live here, once.
//!
//! ```text
//! checkpoints/
//!   step-0005000/
//!     control.safetensors     CONTROL_FILE    the AdaIN control
//!     unet.safetensors        UNET_FILE       only when UNet parts trained
//!     mib.safetensors         MIB_FILE        Stage II with the bottleneck
//!     optimizer.safetensors   OPTIMIZER_FILE  the optimiser's moments
//!     ema.safetensors         EMA_FILE        optional moving average
//!     state.json              STATE_FILE      the trainer's state; CheckpointState reads it
//!   latest                    LATEST_FILE     the name of the newest complete folder
//! ```
//!
//! ```
//! use diffmac_io::checkpoint::{CheckpointState, Stage2Variant, UnetOrigin};
//!
//! let text = r#"{"stage": 2, "step": 40, "unet_origin": {"kind": "base"},
//!               "config": {"stage2": {"variant": "two_adain"}}}"#;
//! let state: CheckpointState = serde_json::from_str(text).unwrap();
//! assert_eq!(state.stage, Some(2));
//! assert_eq!(state.unet_origin, Some(UnetOrigin::Base));
//! assert_eq!(state.config.stage2.variant, Stage2Variant::TwoAdain);
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

pub use crate::latest::LATEST_FILE;

/// Version of the folder layout and of `state.json`, so that a reader can refuse a newer one.
pub const FORMAT_VERSION: u32 = 1;
/// The AdaIN control's weights (module paths as keys), in every checkpoint.
pub const CONTROL_FILE: &str = "control.safetensors";
/// The whole UNet (diffusers keys), present only when UNet parts trained.
pub const UNET_FILE: &str = "unet.safetensors";
/// The bottleneck's weights, present for a Stage II that has one.
pub const MIB_FILE: &str = "mib.safetensors";
/// The moving average of the trained weights, present when the run keeps one.
pub const EMA_FILE: &str = "ema.safetensors";
/// The optimiser's state, for resuming a run.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The trainer's state: stage, step, the UNet trained on and the run's full settings. Its
/// presence marks a complete checkpoint folder.
pub const STATE_FILE: &str = "state.json";

/// The Stage II variants of the paper's Table 3: what a Stage II run trained
/// (`config.stage2.variant` of its `state.json`) and so what a bundle's Stage II restores with
/// (`stage2_variant` of a bundle's `config.json`). One definition, so that the trainer's and
/// the restorer's names cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage2Variant {
    /// DiffMAC: the bottleneck's `Z = MIB(E(X_D1), injection)` (injection and β from the
    /// bottleneck's settings); a bundle needs its `mib`.
    #[default]
    Mib,
    /// "no1": no Stage I; the bottleneck reads `E(X_LQ)` (and the identity of `X_LQ`); the
    /// paper pairs it with noise injection. A bundle needs its `mib`; its Stage I only serves
    /// restores asked for Stage I alone.
    NoStage1,
    /// "2AdaIN": a second Stage I on `X_D1`, no bottleneck (loss `L_ldm` only): the control
    /// reads `E(X_D1)` directly and nothing (identity or noise) is injected. A bundle has no
    /// `mib`.
    TwoAdain,
}

impl Stage2Variant {
    /// True for [`Stage2Variant::Mib`] (lets files of that variant omit the field, so they stay
    /// byte-for-byte what earlier versions wrote and read).
    pub fn is_mib(&self) -> bool {
        *self == Self::Mib
    }

    /// Whether this Stage II has a bottleneck (every variant but 2AdaIN).
    pub fn has_bottleneck(self) -> bool {
        self != Self::TwoAdain
    }

    /// Whether Stage II restores the output of Stage I (every variant but "no1").
    pub fn follows_stage1(self) -> bool {
        self != Self::NoStage1
    }
}

/// Which UNet weights a checkpoint's control (and bottleneck) were trained with: what the
/// restorer must run them on. A Stage II that keeps the UNet frozen runs on Stage I's UNet
/// when Stage I trained one, and its checkpoint does not copy those weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnetOrigin {
    /// The checkpoint's own [`UNET_FILE`] (UNet parts were trained).
    Own,
    /// The base model's UNet (the run's `config.model.source`).
    Base,
    /// A Stage I checkpoint's [`UNET_FILE`], frozen in this run.
    Stage1 {
        /// The file, as the run found it.
        file: PathBuf,
        /// Its SHA-256, which identifies it wherever it is copied (a merged bundle).
        sha256: String,
    },
}

/// The fields of a checkpoint's `state.json` that decide how its weights are used: what the
/// restorer's merge reads. The trainer's full state holds more (random streams, data
/// position, optimiser settings), which readers ignore.
///
/// Every field may be absent: checkpoints written before a field was recorded, and
/// hand-written states, still read (with the defaults documented per field).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointState {
    /// The layout version the checkpoint was written with ([`FORMAT_VERSION`] for this build);
    /// `None` in hand-written states. A reader refuses any other version rather than guess
    /// what a newer layout means.
    pub format_version: Option<u32>,
    /// The stage trained, 1 or 2; `None` when absent or not a stage (a reader that is told
    /// the stage does not need it). Read from a number, or leniently from text such as
    /// `"2"` or `"stage2"`.
    #[serde(deserialize_with = "stage_number")]
    pub stage: Option<u8>,
    /// Optimiser steps done.
    pub step: Option<usize>,
    /// The UNet the run trained with; `None` in checkpoints written before it was recorded
    /// (their UNet follows from `config.stage2.stage1_checkpoint`).
    pub unet_origin: Option<UnetOrigin>,
    /// The run's settings, as far as a reader needs them.
    pub config: CheckpointConfig,
}

/// The part of the run's settings (`config` of `state.json`) that a checkpoint's reader needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointConfig {
    /// The AdaIN control's settings as trained (`diffmac_ldm::ControlConfig` as JSON, left to
    /// the model crates to read, as this crate knows no model); `None` when absent.
    pub control: Option<serde_json::Value>,
    /// The bottleneck's settings as trained (`diffmac_mib::MibConfig` as JSON); `None` when
    /// absent.
    pub mib: Option<serde_json::Value>,
    /// The Stage II settings.
    pub stage2: CheckpointStage2,
}

/// The Stage II settings (`config.stage2` of `state.json`) that a checkpoint's reader needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointStage2 {
    /// Which variant trained ([`Stage2Variant::Mib`] when absent).
    pub variant: Stage2Variant,
    /// The Stage I checkpoint the run started from, as the run was given it.
    pub stage1_checkpoint: Option<PathBuf>,
}

/// `stage` of a state: 1 or 2 from a number or a text like `"2"` / `"stage2"`, else `None`.
fn stage_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let stage = value.as_u64().or_else(|| {
        value
            .as_str()
            .and_then(|t| t.trim_start_matches("stage").trim().parse().ok())
    });
    Ok(stage.filter(|s| *s == 1 || *s == 2).map(|s| s as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `state.json` as the trainer writes it (format 1), every field present.
    const WRITTEN: &str = r#"{
  "format_version": 1,
  "stage": 2,
  "step": 7,
  "unet_trained": false,
  "unet_origin": {
    "kind": "stage1",
    "file": "run1/checkpoints/step-0000003/unet.safetensors",
    "sha256": "ab12"
  },
  "has_mib": true,
  "has_ema": false,
  "dtype": "F32",
  "rng": {"kind": "derived", "seed": 4, "micro_batches": 7},
  "data": {"samples": 14, "epoch": 4, "index_in_epoch": 2, "images": 3},
  "last_loss": 0.5,
  "config": {
    "stage": 2,
    "seed": 4,
    "control": {"input": "mean", "eps": 1e-6},
    "mib": {"identity_dim": 32, "injection": "noise"},
    "stage2": {
      "stage1_checkpoint": "run1",
      "variant": "no_stage1",
      "x_d1": "cache",
      "cache_dir": null,
      "sampler_steps": 2,
      "qc_stats": null,
      "qc_stats_images": 1000
    }
  }
}"#;

    #[test]
    fn a_written_state_reads_with_every_field_of_the_contract() {
        let state: CheckpointState = serde_json::from_str(WRITTEN).unwrap();
        assert_eq!(state.format_version, Some(FORMAT_VERSION));
        assert_eq!(state.stage, Some(2));
        assert_eq!(state.step, Some(7));
        assert_eq!(
            state.unet_origin,
            Some(UnetOrigin::Stage1 {
                file: "run1/checkpoints/step-0000003/unet.safetensors".into(),
                sha256: "ab12".into(),
            })
        );
        assert_eq!(state.config.stage2.variant, Stage2Variant::NoStage1);
        assert_eq!(state.config.stage2.stage1_checkpoint, Some("run1".into()));
        assert_eq!(
            state.config.control,
            Some(serde_json::json!({"input": "mean", "eps": 1e-6}))
        );
        assert_eq!(
            state.config.mib,
            Some(serde_json::json!({"identity_dim": 32, "injection": "noise"}))
        );
        // What the contract writes reads back the same.
        let again: CheckpointState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(again, state);
    }

    #[test]
    fn older_and_partial_states_read_with_defaults() {
        let state: CheckpointState = serde_json::from_str(r#"{"stage": 1, "step": 10}"#).unwrap();
        assert_eq!(
            state,
            CheckpointState {
                stage: Some(1),
                step: Some(10),
                ..CheckpointState::default()
            }
        );
        let state: CheckpointState = serde_json::from_str("{}").unwrap();
        assert_eq!(state.stage, None);
        assert_eq!(state.config.stage2.variant, Stage2Variant::Mib);
        assert!(state.config.control.is_none() && state.config.mib.is_none());
        // Null settings are absent settings.
        let state: CheckpointState =
            serde_json::from_str(r#"{"config": {"control": null, "mib": null}}"#).unwrap();
        assert!(state.config.control.is_none() && state.config.mib.is_none());
    }

    #[test]
    fn the_stage_is_read_leniently_and_only_as_one_or_two() {
        for (text, want) in [
            ("2", Some(2)),
            ("\"stage1\"", Some(1)),
            ("\"2\"", Some(2)),
            ("3", None),
            ("\"two\"", None),
            ("null", None),
            ("[1]", None),
        ] {
            let state: CheckpointState =
                serde_json::from_str(&format!("{{\"stage\": {text}}}")).unwrap();
            assert_eq!(state.stage, want, "{text}");
        }
    }

    #[test]
    fn variants_and_origins_keep_their_names_on_disk() {
        for (v, name) in [
            (Stage2Variant::Mib, "mib"),
            (Stage2Variant::NoStage1, "no_stage1"),
            (Stage2Variant::TwoAdain, "two_adain"),
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), name);
        }
        assert_eq!(
            serde_json::to_value(UnetOrigin::Own).unwrap(),
            serde_json::json!({"kind": "own"})
        );
        assert_eq!(
            serde_json::to_value(UnetOrigin::Base).unwrap(),
            serde_json::json!({"kind": "base"})
        );
        // A variant this build does not know is refused, not read as another.
        let err = serde_json::from_str::<CheckpointState>(
            r#"{"config": {"stage2": {"variant": "three_adain"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("three_adain"), "{err}");
    }
}
