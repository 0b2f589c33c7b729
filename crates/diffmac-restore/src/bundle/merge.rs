//! Merging a `diffmac-train` checkpoint into a bundle ([`merge_checkpoint`]): every file is
//! checked against the bundle's architecture first, then the stage's files are replaced and
//! `config.json` is rewritten.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType};
use diffmac_io::SafetensorsFile;
use diffmac_io::checkpoint::{
    CONTROL_FILE, CheckpointState, FORMAT_VERSION, MIB_FILE, STATE_FILE, Stage2Variant, UNET_FILE,
    UnetOrigin,
};
use diffmac_ldm::{ControlConfig, UNet2DConditionModel, VarBuilder, load_module};
use diffmac_mib::{MibConfig, QcStats};
use serde::Deserialize;

use crate::bundle::config::{BASE_UNET_FILE, BundleConfig, MibFiles, StageFiles};
use crate::bundle::convert::{io, read_json};
use crate::bundle::load::{identity_dim_mismatch, load_identity};
use crate::error::{RestoreError, Result};

/// Copies `from` to `dir/name` atomically (temporary file, then rename).
fn copy_into(from: &Path, dir: &Path, name: &str) -> Result<()> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(io(&target))
}

/// The fields of the checkpoint contract in the `state.json` at `path` (see
/// [`diffmac_io::checkpoint::CheckpointState`]); a state of another layout version than
/// [`FORMAT_VERSION`] is refused.
fn read_state_file(path: &Path) -> Result<CheckpointState> {
    let value = read_json(path)?;
    let state = CheckpointState::deserialize(&value).map_err(|e| RestoreError::Bundle {
        path: path.to_path_buf(),
        message: format!("not a diffmac-train checkpoint state: {e}"),
    })?;
    check_format_version(&state, path)?;
    Ok(state)
}

/// Refuses a state written with a checkpoint layout this build does not know (a newer
/// trainer's, say): its fields may not mean what this build reads them as. A state without
/// `format_version` (hand-written) is read as the current layout.
fn check_format_version(state: &CheckpointState, path: &Path) -> Result<()> {
    match state.format_version {
        Some(version) if version != FORMAT_VERSION => Err(RestoreError::Bundle {
            path: path.to_path_buf(),
            message: format!(
                "checkpoint format_version {version} is not supported (this build reads \
                 {FORMAT_VERSION}): merge it with the diffmac version that wrote it"
            ),
        }),
        _ => Ok(()),
    }
}

/// What [`merge_checkpoint`] reads of a `diffmac-train` checkpoint's `state.json`: the fields
/// of the checkpoint contract (stage, step, the UNet trained on, the control's and the
/// bottleneck's settings, the Stage II variant and its Stage I checkpoint). `checkpoint` is a
/// checkpoint folder or one a `latest` file names, as for the merge.
///
/// # Errors
/// No checkpoint folder there, or a missing, unreadable or invalid `state.json`, or one of an
/// unknown `format_version` (naming it).
pub fn read_checkpoint_state(checkpoint: &Path) -> Result<CheckpointState> {
    let folder = diffmac_io::resolve_latest(checkpoint, STATE_FILE)?;
    read_state_file(&folder.join(STATE_FILE))
}

/// The provenance key that says why a bundle's Stage II has no bottleneck.
const MIB_PROVENANCE: &str = "stage2_mib";

/// A resolved checkpoint folder: its `state.json` as read and the paths of its weight files.
struct Checkpoint {
    /// The folder (after following `latest`).
    dir: PathBuf,
    /// Its `state.json`, for messages.
    state_path: PathBuf,
    /// The contract fields of `state.json`.
    state: CheckpointState,
    /// The stage merged, 1 or 2.
    stage: u8,
    /// `control.safetensors`.
    control: PathBuf,
    /// `unet.safetensors` (present only when the stage trained UNet parts).
    unet: PathBuf,
    /// `mib.safetensors` (a Stage II with a bottleneck).
    mib: PathBuf,
}

impl Checkpoint {
    /// Follows `latest`, reads `state.json` and settles the stage: `stage` if given (1 or 2),
    /// else the state's.
    fn open(checkpoint: &Path, stage: Option<u8>) -> Result<Self> {
        let dir = diffmac_io::resolve_latest(checkpoint, STATE_FILE)?;
        if let Some(s) = stage.filter(|s| !(1..=2).contains(s)) {
            return Err(RestoreError::InvalidOption(format!(
                "stage {s}: DiffMAC has stages 1 and 2"
            )));
        }
        // The run's settings decide how the weights are used: a checkpoint without a readable
        // state is refused, never merged with assumed settings.
        let state_path = dir.join(STATE_FILE);
        let state = read_state_file(&state_path)?;
        let Some(stage) = stage.or(state.stage) else {
            return Err(RestoreError::Bundle {
                path: state_path,
                message: "no \"stage\": 1 or 2 in the checkpoint state (pass the stage explicitly)"
                    .into(),
            });
        };
        Ok(Self {
            control: dir.join(CONTROL_FILE),
            unet: dir.join(UNET_FILE),
            mib: dir.join(MIB_FILE),
            dir,
            state_path,
            state,
            stage,
        })
    }

    /// Whether this is a 2AdaIN Stage II (no bottleneck).
    fn two_adain(&self) -> bool {
        self.stage == 2 && self.state.config.stage2.variant == Stage2Variant::TwoAdain
    }

    /// An error about `state.json`.
    fn bad_state(&self, message: impl Into<String>) -> RestoreError {
        RestoreError::Bundle {
            path: self.state_path.clone(),
            message: message.into(),
        }
    }
}

/// The bundle's files of `stage` (1 or 2).
fn stage_files<'a>(
    config: &'a mut BundleConfig,
    stage: u8,
    bundle_dir: &Path,
) -> Result<&'a mut StageFiles> {
    if stage == 1 {
        Ok(&mut config.stage1)
    } else {
        config.stage2.as_mut().ok_or_else(|| RestoreError::Bundle {
            path: bundle_dir.to_path_buf(),
            message: "the bundle has no Stage II to merge into".into(),
        })
    }
}

/// Merges a `diffmac-train` checkpoint folder (or the one its `latest` file names;
/// `control.safetensors`, and
/// `unet.safetensors` / `mib.safetensors` when the stage trained them) into the bundle in
/// `bundle_dir` as stage `stage` (read from the checkpoint's `state.json` when `None`). Every
/// file is checked against the bundle's architecture before anything is replaced.
///
/// The file names and the fields read from `state.json` are the checkpoint contract of
/// `diffmac_io::checkpoint`, which the trainer writes ([`read_checkpoint_state`] shows what
/// is read); a state whose contract fields do not read (an unknown Stage II variant, say), or
/// that was written with another `format_version`, is refused.
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
/// Missing or mis-shaped files (naming file and key), a bundle without that stage, or a
/// checkpoint state of an unknown `format_version` (naming the file).
pub fn merge_checkpoint<B: Backend>(
    bundle_dir: &Path,
    checkpoint: &Path,
    stage: Option<u8>,
    device: &Device<B>,
) -> Result<BundleConfig> {
    let mut config = BundleConfig::load(bundle_dir)?;
    let ckpt = Checkpoint::open(checkpoint, stage)?;
    let stage = ckpt.stage;

    // Checks: nothing in the bundle changes until every file fits.
    let control_config = check_control::<B>(&mut config, &ckpt, bundle_dir, device)?;
    let has_unet = ckpt.unet.exists();
    if has_unet {
        let vb =
            VarBuilder::<B>::from_file(SafetensorsFile::open(&ckpt.unet)?, device, FloatDType::F16);
        drop(UNet2DConditionModel::load(&config.unet_config, &vb)?);
        vb.finish()?;
    }
    let mib = if stage == 2 && !ckpt.two_adain() {
        Some(check_mib::<B>(&config, &ckpt, bundle_dir, device)?)
    } else {
        None
    };
    // The UNet the stage was trained with: its own, or (kept frozen) the base's or Stage I's.
    let frozen_unet = if has_unet {
        None
    } else {
        Some(frozen_unet_file(bundle_dir, &config, &ckpt)?)
    };

    // Changes.
    let unet_name = format!("unet_stage{stage}.safetensors");
    if has_unet {
        keep_other_stage_unet(bundle_dir, &mut config, stage, &unet_name)?;
    }
    install_stage(
        bundle_dir,
        &mut config,
        &ckpt,
        control_config,
        frozen_unet,
        unet_name,
    )?;
    let dropped = install_mib(bundle_dir, &mut config, &ckpt, mib)?;
    share_identical_unets(bundle_dir, &mut config)?;
    config
        .provenance
        .insert(format!("stage{stage}"), ckpt.dir.display().to_string());
    config.save(bundle_dir)?;
    remove_stale_files(bundle_dir, &config, dropped);
    Ok(config)
}

/// The control's settings as trained, after checking that `control.safetensors` loads into
/// them.
fn check_control<B: Backend>(
    config: &mut BundleConfig,
    ckpt: &Checkpoint,
    bundle_dir: &Path,
    device: &Device<B>,
) -> Result<ControlConfig> {
    let files = stage_files(config, ckpt.stage, bundle_dir)?;
    let control_config = trained_control_config(
        &files.control_config,
        ckpt.state.config.control.as_ref(),
        &ckpt.state_path,
    )?;
    load_module(
        control_config.init::<B>(device),
        &SafetensorsFile::open(&ckpt.control)?,
        FloatDType::F32,
    )?;
    Ok(control_config)
}

/// The checked bottleneck of a Stage II with one: its settings as trained and `μ_QC`,
/// `σ_QC` as the file holds them.
fn check_mib<B: Backend>(
    config: &BundleConfig,
    ckpt: &Checkpoint,
    bundle_dir: &Path,
    device: &Device<B>,
) -> Result<(MibConfig, QcStats)> {
    if !ckpt.mib.is_file() {
        return Err(RestoreError::Bundle {
            path: ckpt.mib.clone(),
            message: "missing: a Stage II checkpoint with the bottleneck carries it in this \
                      file (only a `stage2.variant: two_adain` run has none)"
                .into(),
        });
    }
    // The bottleneck's settings as trained (e.g. its injection), when the state has them.
    let trained = ckpt
        .state
        .config
        .mib
        .as_ref()
        .map(|in_state| {
            MibConfig::deserialize(in_state).map_err(|e| {
                ckpt.bad_state(format!("config.mib is not a bottleneck configuration: {e}"))
            })
        })
        .transpose()?;
    let trained = trained
        .or_else(|| config.mib.as_ref().map(|m| m.config.clone()))
        .ok_or_else(|| {
            ckpt.bad_state(
                "no bottleneck settings (config.mib) in the checkpoint state, and the \
                 bundle has none to assume (its Stage II is 2AdaIN)",
            )
        })?;
    // Any statistics of the right width: the file's own replace them.
    let stats = config
        .mib
        .as_ref()
        .map(|m| m.qc_stats.clone())
        .filter(|s| s.channels() == trained.channels)
        .unwrap_or_else(|| QcStats::placeholder(trained.channels));
    if let Some(i) = &config.identity {
        let encoder = load_identity::<B>(bundle_dir, &i.kind, &i.file, device)?;
        if let Some(problem) = identity_dim_mismatch(
            &encoder,
            trained.identity_dim,
            "the checkpoint's mib.safetensors",
        ) {
            return Err(RestoreError::Bundle {
                path: ckpt.mib.clone(),
                message: format!("cannot merge into {}: {problem}", bundle_dir.display()),
            });
        }
    }
    let fresh = trained.init::<B>(&stats, device)?;
    let loaded = load_module(fresh, &SafetensorsFile::open(&ckpt.mib)?, FloatDType::F32)?;
    Ok((trained, loaded.qc_stats()))
}

/// Before the stage's UNet file `unet_name` is replaced: if the other stage runs on it, keeps
/// it for that stage under the other stage's name.
fn keep_other_stage_unet(
    bundle_dir: &Path,
    config: &mut BundleConfig,
    stage: u8,
    unet_name: &str,
) -> Result<()> {
    let other = if stage == 1 {
        config.stage2.as_mut()
    } else {
        Some(&mut config.stage1)
    };
    if let Some(other) = other.filter(|o| o.unet == unet_name) {
        // A second name for the same file (a copy where links are not possible): the old
        // name stays valid until the new config is saved.
        let kept = format!("unet_stage{}.safetensors", 3 - stage);
        let (from, to) = (bundle_dir.join(unet_name), bundle_dir.join(&kept));
        let _ = std::fs::remove_file(&to);
        std::fs::hard_link(&from, &to)
            .or_else(|_| std::fs::copy(&from, &to).map(drop))
            .map_err(io(&to))?;
        other.unet = kept;
    }
    Ok(())
}

/// Copies the stage's control (and its own or Stage I's UNet) into the bundle and points the
/// stage at them.
fn install_stage(
    bundle_dir: &Path,
    config: &mut BundleConfig,
    ckpt: &Checkpoint,
    control_config: ControlConfig,
    frozen_unet: Option<FrozenUnet>,
    unet_name: String,
) -> Result<()> {
    let control_name = format!("control_stage{}.safetensors", ckpt.stage);
    copy_into(&ckpt.control, bundle_dir, &control_name)?;
    let files = stage_files(config, ckpt.stage, bundle_dir)?;
    files.control = control_name;
    files.control_config = control_config;
    files.trained = true;
    match frozen_unet {
        None => {
            copy_into(&ckpt.unet, bundle_dir, &unet_name)?;
            files.unet = unet_name;
        }
        Some(FrozenUnet::InBundle(name)) => files.unet = name,
        Some(FrozenUnet::CopyFrom(source)) => {
            copy_into(&source, bundle_dir, &unet_name)?;
            files.unet = unet_name;
        }
    }
    Ok(())
}

/// Installs Stage II's checked bottleneck `mib`, or, for a 2AdaIN Stage II, drops the
/// bundle's: returns the dropped one, whose file is then stale.
fn install_mib(
    bundle_dir: &Path,
    config: &mut BundleConfig,
    ckpt: &Checkpoint,
    mib: Option<(MibConfig, QcStats)>,
) -> Result<Option<MibFiles>> {
    let mut dropped = None;
    if let Some((trained, qc_stats)) = mib {
        copy_into(&ckpt.mib, bundle_dir, "mib.safetensors")?;
        config.mib = Some(MibFiles {
            file: "mib.safetensors".into(),
            config: trained,
            qc_stats,
        });
        config.stage2_variant = ckpt.state.config.stage2.variant;
        config.provenance.remove(MIB_PROVENANCE);
    } else if ckpt.two_adain() {
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
    Ok(dropped)
}

/// Both stages on one UNet (Stage II trained on Stage I's frozen one): keeps one file.
fn share_identical_unets(bundle_dir: &Path, config: &mut BundleConfig) -> Result<()> {
    if let Some(s2) = config.stage2.as_mut()
        && s2.unet != config.stage1.unet
        && s2.unet != BASE_UNET_FILE
        && config.stage1.unet != BASE_UNET_FILE
        && diffmac_io::sha256_file(&bundle_dir.join(&s2.unet))?
            == diffmac_io::sha256_file(&bundle_dir.join(&config.stage1.unet))?
    {
        s2.unet = config.stage1.unet.clone();
    }
    Ok(())
}

/// Deletes files no stage refers to any more (a dropped bottleneck, stage UNets); failing to
/// delete one leaves a harmless stray file.
fn remove_stale_files(bundle_dir: &Path, config: &BundleConfig, dropped: Option<MibFiles>) {
    let stale = dropped
        .map(|m| m.file)
        .into_iter()
        .chain((1..=2).map(|s| format!("unet_stage{s}.safetensors")));
    for file in stale {
        if !config.files().contains(&file.as_str()) {
            let _ = std::fs::remove_file(bundle_dir.join(&file));
        }
    }
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
    ckpt: &Checkpoint,
) -> Result<FrozenUnet> {
    let (stage, state) = (ckpt.stage, &ckpt.state);
    let bad = |message: String| ckpt.bad_state(message);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint_with_state(state: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), state).unwrap();
        dir
    }

    #[test]
    fn a_state_of_an_unknown_format_version_is_refused_naming_the_file() {
        let dir = checkpoint_with_state(r#"{"format_version": 99, "stage": 1}"#);
        let err = read_checkpoint_state(dir.path()).unwrap_err().to_string();
        assert!(err.contains(STATE_FILE), "{err}");
        assert!(err.contains("format_version 99"), "{err}");
        assert!(err.contains(&format!("reads {FORMAT_VERSION}")), "{err}");
        // Merge refuses it before reading any weights.
        let bundle = tempfile::tempdir().unwrap();
        crate::bundle::write_tiny_bundle::<burn::backend::Flex>(
            bundle.path(),
            1,
            false,
            &Default::default(),
        )
        .unwrap();
        let err = merge_checkpoint::<burn::backend::Flex>(
            bundle.path(),
            dir.path(),
            None,
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("format_version 99"), "{err}");
    }

    #[test]
    fn the_current_and_an_absent_format_version_read() {
        let current = format!(r#"{{"format_version": {FORMAT_VERSION}, "stage": 2}}"#);
        let state = read_checkpoint_state(checkpoint_with_state(&current).path()).unwrap();
        assert_eq!(state.format_version, Some(FORMAT_VERSION));
        let state = read_checkpoint_state(checkpoint_with_state(r#"{"stage": 1}"#).path()).unwrap();
        assert_eq!((state.format_version, state.stage), (None, Some(1)));
    }
}
