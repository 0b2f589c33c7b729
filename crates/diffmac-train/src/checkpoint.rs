//! Checkpoint folders: the contract between the trainer and the restorer's bundle converter.
//!
//! ```text
//! RUN_DIR/checkpoints/
//!   step-0005000/
//!     control.safetensors     AdaInControl, keys = module paths (diffmac_ldm::save_module)
//!     unet.safetensors        only when UNet parts train: the whole UNet, diffusers keys
//!     mib.safetensors         Stage II with the MIB: ManifoldBottleneck (save_module)
//!     optimizer.safetensors   AdamW moments m.<path>, v.<path> (f32) and `step`
//!     ema.safetensors         optional: moving average of the trained weights (full paths)
//!     state.json              TrainState: config, stage, step, RNG and data position
//!   latest                    one line: the name of the newest complete folder
//! ```
//!
//! The file names, [`UnetOrigin`] and the Stage II variant are `diffmac_io::checkpoint`'s,
//! and the fields of `state.json` a reader relies on are its `CheckpointState`
//! ([`TrainState::checkpoint_state`] is what a reader gets from a state written here).
//!
//! A folder is written under a temporary name (`.tmp-step-…`) and renamed into place when
//! complete; `latest` is then replaced atomically (temporary file + rename). A run killed at
//! any moment leaves `latest` naming a complete folder (or no `latest`). Only the newest
//! `keep_last` folders are kept; leftover temporary folders are removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, TensorData};
use diffmac_io::checkpoint::{CheckpointConfig, CheckpointStage2, CheckpointState};
use diffmac_io::{first_non_finite, save_safetensors};
use diffmac_ldm::loader::{KeyMap, export};
use diffmac_ldm::{load_module_file, module_tensors};
use serde::{Deserialize, Serialize};

use crate::config::{Stage, TrainConfig};
use crate::error::{Result, TrainError};
use crate::optimizer::AdamW;
use crate::trainable::Trainable;

// The folder's file names and the types the restorer reads are the checkpoint contract of
// `diffmac-io`, shared with the restorer (which does not depend on this crate).
pub use diffmac_io::checkpoint::{
    CONTROL_FILE, EMA_FILE, FORMAT_VERSION, LATEST_FILE, MIB_FILE, OPTIMIZER_FILE, STATE_FILE,
    UNET_FILE, UnetOrigin,
};

/// How the random streams continue after a checkpoint. Every draw is derived from the run
/// seed and a counter (micro-batch index, sample index), so the state is those numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    /// `derived`: `stream_rng(seed, key)` per micro-batch / sample.
    pub kind: String,
    /// The run seed.
    pub seed: u64,
    /// Micro-batches consumed (the next one's noise key is `noise/<this>`).
    pub micro_batches: u64,
}

/// Where the data stream stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPosition {
    /// Samples consumed (run-wide index of the next sample).
    pub samples: u64,
    /// Epoch of the next sample.
    pub epoch: u64,
    /// Position of the next sample within its epoch's order.
    pub index_in_epoch: usize,
    /// Images in the dataset.
    pub images: usize,
}

/// `state.json`: everything a run needs to continue, a superset of the contract's
/// [`CheckpointState`] (same field names and formats, so that the restorer reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The stage trained.
    pub stage: Stage,
    /// Optimiser steps done.
    pub step: usize,
    /// Whether `unet.safetensors` is in the folder (UNet parts train).
    pub unet_trained: bool,
    /// The UNet the run trained with (absent in checkpoints written before it was recorded).
    #[serde(default)]
    pub unet_origin: Option<UnetOrigin>,
    /// Whether `mib.safetensors` is in the folder.
    pub has_mib: bool,
    /// Whether `ema.safetensors` is in the folder.
    #[serde(default)]
    pub has_ema: bool,
    /// Precision the weights were trained in (files are written in it).
    pub dtype: String,
    /// Random streams.
    pub rng: RngState,
    /// Data stream.
    pub data: DataPosition,
    /// Loss of the last step.
    pub last_loss: Option<f64>,
    /// The full config of the run.
    pub config: TrainConfig,
}

impl TrainState {
    /// What a reader of the checkpoint contract (the restorer's merge) reads from this state
    /// once written: its stage, step, UNet origin, control and bottleneck settings and Stage II
    /// variant.
    pub fn checkpoint_state(&self) -> CheckpointState {
        CheckpointState {
            format_version: Some(self.format_version),
            stage: Some(self.stage.number()),
            step: Some(self.step),
            unet_origin: self.unet_origin.clone(),
            config: CheckpointConfig {
                control: Some(serde_json::to_value(&self.config.control).expect("plain data")),
                mib: Some(serde_json::to_value(&self.config.mib).expect("plain data")),
                stage2: CheckpointStage2 {
                    variant: self.config.stage2.variant,
                    stage1_checkpoint: self.config.stage2.stage1_checkpoint.clone(),
                },
            },
        }
    }
}

/// The checkpoints folder of a run.
pub fn checkpoints_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

/// The folder name of `step`.
pub fn step_name(step: usize) -> String {
    format!("step-{step:07}")
}

/// Writes a complete checkpoint of `model` and `optimizer` for `state`, updates `latest`
/// and prunes to `keep_last`. Returns the folder.
///
/// # Errors
/// I/O errors naming the file.
pub fn write_checkpoint<B: burn::tensor::backend::AutodiffBackend>(
    run_dir: &Path,
    state: &TrainState,
    model: &Trainable<B>,
    unet_keys: &KeyMap,
    optimizer: &AdamW<B::InnerBackend>,
    ema: Option<&crate::ema::Ema<B::InnerBackend>>,
    keep_last: usize,
) -> Result<PathBuf> {
    let dir = checkpoints_dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(TrainError::io(&dir))?;
    let name = step_name(state.step);
    let tmp = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(TrainError::io(&tmp))?;
    // A checkpoint is only ever a good state: weights holding NaN or infinity are refused
    // (and the previous checkpoint stays `latest`).
    let finite = |tensors: BTreeMap<String, TensorData>, file: &str| -> Result<_> {
        match tensors
            .iter()
            .find_map(|(k, t)| Some((k, first_non_finite(t)?)))
        {
            None => Ok(tensors),
            Some((key, index)) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(TrainError::Stopped(format!(
                    "after step {}, {file} tensor `{key}` holds a non-finite value at index \
                     {index}; no checkpoint is written for it. Lower the learning rate",
                    state.step
                )))
            }
        }
    };
    let control = finite(module_tensors(&model.control), CONTROL_FILE)?;
    let mib = match &model.mib {
        Some(mib) => Some(finite(module_tensors(mib), MIB_FILE)?),
        None => None,
    };
    let unet = if state.unet_trained {
        Some(finite(export(&model.unet, unet_keys)?, UNET_FILE)?)
    } else {
        None
    };
    save_safetensors(tmp.join(CONTROL_FILE), &control)?;
    if let Some(mib) = &mib {
        save_safetensors(tmp.join(MIB_FILE), mib)?;
    }
    if let Some(unet) = &unet {
        save_safetensors(tmp.join(UNET_FILE), unet)?;
    }
    optimizer.save(&tmp.join(OPTIMIZER_FILE))?;
    if let Some(ema) = ema {
        ema.save(&tmp.join(EMA_FILE))?;
    }
    let json = serde_json::to_vec_pretty(state).expect("plain data");
    let state_path = tmp.join(STATE_FILE);
    std::fs::write(&state_path, json).map_err(TrainError::io(&state_path))?;
    let target = dir.join(&name);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(TrainError::io(&target))?;
    }
    std::fs::rename(&tmp, &target).map_err(TrainError::io(&target))?;
    diffmac_io::write_atomically(&dir.join(LATEST_FILE), format!("{name}\n").as_bytes(), true)?;
    prune(&dir, keep_last, &name)?;
    Ok(target)
}

/// Step folders in `dir`, oldest first.
fn step_folders(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(TrainError::io(dir))? {
        let entry = entry.map_err(TrainError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<usize>().ok())
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn prune(dir: &Path, keep_last: usize, latest: &str) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(TrainError::io(dir))? {
        let entry = entry.map_err(TrainError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-step-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    if keep_last == 0 {
        return Ok(());
    }
    let folders = step_folders(dir)?;
    let excess = folders.len().saturating_sub(keep_last);
    for (_, path) in folders.into_iter().take(excess) {
        if path.file_name().is_some_and(|n| n != latest) {
            std::fs::remove_dir_all(&path).map_err(TrainError::io(&path))?;
        }
    }
    Ok(())
}

/// The folder `latest` names, if any.
///
/// # Errors
/// A `latest` that names a missing folder or one without `state.json`.
pub fn latest_checkpoint(run_dir: &Path) -> Result<Option<PathBuf>> {
    let dir = checkpoints_dir(run_dir);
    let pointer = dir.join(LATEST_FILE);
    let name = match std::fs::read_to_string(&pointer) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io(&pointer)(e)),
    };
    let folder = dir.join(&name);
    if name.is_empty() || name.contains('/') || !folder.join(STATE_FILE).is_file() {
        return Err(TrainError::checkpoint(
            &pointer,
            format!("`latest` names `{name}`, which is not a complete checkpoint folder"),
        ));
    }
    Ok(Some(folder))
}

/// Reads `state.json` of a checkpoint folder.
///
/// # Errors
/// Missing or invalid file, or a newer format.
pub fn read_state(folder: &Path) -> Result<TrainState> {
    let path = folder.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
    let state: TrainState = serde_json::from_str(&text).map_err(|source| TrainError::Json {
        path: path.clone(),
        source,
    })?;
    if state.format_version != FORMAT_VERSION {
        return Err(TrainError::checkpoint(
            &path,
            format!(
                "format version {}, this build reads {FORMAT_VERSION}",
                state.format_version
            ),
        ));
    }
    Ok(state)
}

/// Loads `control.safetensors` (and `mib.safetensors` when the model has a bottleneck) of
/// `folder` into `model`, keeping parameter ids and `require_grad`.
///
/// # Errors
/// Missing files, keys or shape mismatches, naming the file and key.
pub fn load_weights<B: Backend>(
    folder: &Path,
    mut model: Trainable<B>,
    dtype: FloatDType,
) -> Result<Trainable<B>> {
    model.control = load_module_file(model.control, folder.join(CONTROL_FILE), dtype)?;
    if let Some(mib) = model.mib.take() {
        let path = folder.join(MIB_FILE);
        if !path.is_file() {
            return Err(TrainError::checkpoint(
                folder,
                "no mib.safetensors in the folder",
            ));
        }
        model.mib = Some(load_module_file(mib, path, dtype)?);
    }
    Ok(model)
}

/// Whether a module has any parameter that requires gradients.
pub fn has_trainable<B: Backend, M: Module<B>>(module: &M) -> bool {
    crate::optimizer::trainable_parameter_count(module) > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Stage2Variant;

    /// A Stage II state with every field of the contract set to something other than its
    /// default.
    fn stage2_state() -> TrainState {
        let mut config = TrainConfig::tiny(Stage::Two);
        config.stage2.variant = Stage2Variant::NoStage1;
        config.stage2.stage1_checkpoint = Some("runs/one".into());
        config.mib.identity_dim = 32;
        TrainState {
            format_version: FORMAT_VERSION,
            stage: Stage::Two,
            step: 9,
            unet_trained: false,
            unet_origin: Some(UnetOrigin::Stage1 {
                file: "runs/one/checkpoints/step-0000003/unet.safetensors".into(),
                sha256: "00ff".into(),
            }),
            has_mib: true,
            has_ema: false,
            dtype: "F32".into(),
            rng: RngState {
                kind: "derived".into(),
                seed: 3,
                micro_batches: 9,
            },
            data: DataPosition {
                samples: 18,
                epoch: 6,
                index_in_epoch: 0,
                images: 3,
            },
            last_loss: Some(0.25),
            config,
        }
    }

    /// The contract reads what the trainer writes: a field renamed or re-typed on either side
    /// fails here.
    #[test]
    fn a_written_state_reads_through_the_checkpoint_contract() {
        for state in [stage2_state(), {
            let mut s = stage2_state();
            s.stage = Stage::One;
            s.config.stage2 = Default::default();
            s.unet_origin = Some(UnetOrigin::Own);
            s
        }] {
            let written = serde_json::to_vec_pretty(&state).unwrap();
            let read: CheckpointState = serde_json::from_slice(&written).unwrap();
            assert_eq!(read, state.checkpoint_state());
            let back: TrainState = serde_json::from_slice(&written).unwrap();
            assert_eq!(back, state);
        }
        let view = stage2_state().checkpoint_state();
        assert_eq!(view.stage, Some(2));
        assert_eq!(view.step, Some(9));
        assert_eq!(view.config.stage2.variant, Stage2Variant::NoStage1);
        assert_eq!(view.config.mib.unwrap()["identity_dim"], 32);
    }

    /// The shared types write what this crate wrote before they moved to `diffmac-io`.
    #[test]
    fn shared_fields_keep_their_format() {
        let value = serde_json::to_value(stage2_state()).unwrap();
        assert_eq!(
            value["unet_origin"],
            serde_json::json!({
                "kind": "stage1",
                "file": "runs/one/checkpoints/step-0000003/unet.safetensors",
                "sha256": "00ff"
            })
        );
        assert_eq!(value["config"]["stage2"]["variant"], "no_stage1");
        assert_eq!(value["stage"], 2);
        // A state written before `unet_origin` was recorded still reads.
        let mut old = value.clone();
        old.as_object_mut().unwrap().remove("unet_origin");
        let state: TrainState = serde_json::from_value(old).unwrap();
        assert_eq!(state.unet_origin, None);
    }
}
