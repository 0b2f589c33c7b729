//! `config.json` of a model bundle: what every file of the folder holds and how to build the
//! modules that read it.

use std::collections::BTreeMap;
use std::path::Path;

use diffmac_ldm::{ControlConfig, UNetConfig, VaeConfig};
use diffmac_mib::{MibConfig, QcStats};
use diffmac_sampler::SchedulerConfig;
use serde::{Deserialize, Serialize};

use crate::error::{RestoreError, Result};

/// The `format` value of every bundle's `config.json`.
pub const BUNDLE_FORMAT: &str = "diffmac-bundle";
/// The version of the layout this crate writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// Name of the bundle's configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// The base model's UNet in a bundle, which a stage runs on unless it brings its own.
pub const BASE_UNET_FILE: &str = "unet.safetensors";

/// Files and settings of one diffusion stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageFiles {
    /// The stage's UNet, in diffusers key layout. Both stages may name the same file (the
    /// UNet is then loaded once and shared).
    pub unet: String,
    /// The stage's AdaIN control (module-path keys, see `diffmac_ldm::module_file`).
    pub control: String,
    /// The control's architecture.
    pub control_config: ControlConfig,
    /// Whether the control holds trained weights (false for a freshly converted base, whose
    /// zero convolutions leave SD unchanged, so the stage does not restore anything).
    pub trained: bool,
}

/// The manifold information bottleneck of Stage II.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MibFiles {
    /// Weights of the filter and the identity layers (module-path keys).
    pub file: String,
    /// The bottleneck's settings.
    pub config: MibConfig,
    /// `μ_QC`, `σ_QC` (Algorithm 1, line 17).
    pub qc_stats: QcStats,
}

/// What Stage II's control reads (the Stage II variants of the paper's Table 3): defined once,
/// in `diffmac_io::checkpoint`, with the names `diffmac-train` writes as `stage2.variant`.
pub use diffmac_io::checkpoint::Stage2Variant;

/// The identity encoder `F_ID`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFiles {
    /// Which network the file holds: `arcface_iresnet` (ArcFace, insightface key layout) or
    /// `dlib_resnet_v1` (dlib's ResNet, as `scripts/fetch_identity_weights.sh` converts it).
    pub kind: String,
    /// Its weights.
    pub file: String,
}

/// A bundle's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// Layout version, [`BUNDLE_VERSION`].
    pub format_version: u32,
    /// Side of the square faces the model restores (SD 2.1-base: 512). Aligned faces of
    /// another size are resized to it and back.
    pub image_size: usize,
    /// True for bundles with random weights (the `tiny` bundle): they exercise the code but
    /// produce no real restoration.
    pub random_weights: bool,
    /// The UNet's diffusers `config.json`, stored as that JSON object (read through
    /// [`UNetConfig::from_json`], so an unsupported UNet is refused when the bundle's config
    /// is read).
    #[serde(deserialize_with = "checked_unet_config")]
    pub unet_config: UNetConfig,
    /// The VAE's diffusers `config.json`, stored as that JSON object.
    pub vae_config: VaeConfig,
    /// The shared VAE's weights (diffusers key layout).
    pub vae: String,
    /// The noise schedule both stages were trained with (diffusers scheduler config).
    pub scheduler: SchedulerConfig,
    /// The empty prompt's text encoding, tensor `context` `[1, 77, D]`.
    pub context: String,
    /// Stage I.
    pub stage1: StageFiles,
    /// Stage II's diffusion; absent for a Stage I-only bundle.
    pub stage2: Option<StageFiles>,
    /// Which Stage II variant `stage2` is. Absent in `config.json` for the MIB variant (all
    /// bundles before 2AdaIN support), so older files read as before.
    #[serde(default, skip_serializing_if = "Stage2Variant::is_mib")]
    pub stage2_variant: Stage2Variant,
    /// Stage II's bottleneck: present with `stage2` for [`Stage2Variant::Mib`] and
    /// [`Stage2Variant::NoStage1`]; absent for
    /// [`Stage2Variant::TwoAdain`] ("2AdaIN": the Stage II control reads `E(X_D1)` directly) and
    /// for Stage I-only bundles.
    pub mib: Option<MibFiles>,
    /// The identity encoder; needed for identity injection.
    pub identity: Option<IdentityFiles>,
    /// Where the weights came from (free-form: source checkpoints, training runs, dates).
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
}

/// Reads `unet_config` with [`UNetConfig::from_json`]'s checks (plain serde would accept a
/// UNet this port does not model).
fn checked_unet_config<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<UNetConfig, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    UNetConfig::from_json(&value.to_string())
        .map_err(|e| serde::de::Error::custom(format!("unet_config: {e}")))
}

/// Stable Diffusion 2.1's training schedule as a diffusers scheduler config.
pub fn sd21_scheduler() -> SchedulerConfig {
    diffmac_ldm::scheduler::sd21_base_scheduler()
}

/// The architecture-level content of a new bundle (see [`BundleConfig::standard`]).
#[derive(Debug, Clone)]
pub struct BundleParts {
    /// The UNet's diffusers config.
    pub unet_config: UNetConfig,
    /// The VAE's diffusers config.
    pub vae_config: VaeConfig,
    /// Side of the faces.
    pub image_size: usize,
    /// Architecture of both controls.
    pub control_config: ControlConfig,
    /// The bottleneck's settings.
    pub mib_config: MibConfig,
    /// `μ_QC`, `σ_QC`.
    pub qc_stats: QcStats,
    /// Kind of the identity encoder, if the bundle has one.
    pub identity_kind: Option<String>,
    /// Whether the weights are random.
    pub random_weights: bool,
    /// Where the weights came from.
    pub provenance: BTreeMap<String, String>,
}

impl BundleConfig {
    /// A two-stage bundle with the standard file names (see the module docs of
    /// [`crate::bundle`]), SD 2.1's schedule, one shared UNet and untrained controls.
    pub fn standard(parts: BundleParts) -> Self {
        let stage = |control: &str| StageFiles {
            unet: BASE_UNET_FILE.into(),
            control: control.into(),
            control_config: parts.control_config.clone(),
            trained: false,
        };
        Self {
            format: BUNDLE_FORMAT.into(),
            format_version: BUNDLE_VERSION,
            image_size: parts.image_size,
            random_weights: parts.random_weights,
            unet_config: parts.unet_config,
            vae_config: parts.vae_config,
            vae: "vae.safetensors".into(),
            scheduler: sd21_scheduler(),
            context: "context.safetensors".into(),
            stage1: stage("control_stage1.safetensors"),
            stage2: Some(stage("control_stage2.safetensors")),
            stage2_variant: Stage2Variant::Mib,
            mib: Some(MibFiles {
                file: "mib.safetensors".into(),
                config: parts.mib_config,
                qc_stats: parts.qc_stats,
            }),
            identity: parts.identity_kind.map(|kind| IdentityFiles {
                kind,
                file: "identity.safetensors".into(),
            }),
            provenance: parts.provenance,
        }
    }

    /// Reads and checks `config.json` in `dir`.
    ///
    /// # Errors
    /// [`RestoreError::Io`] or [`RestoreError::Bundle`] naming the file and the problem.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| RestoreError::Io {
            path: path.clone(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|e| RestoreError::Bundle {
            path: path.clone(),
            message: format!("not a valid bundle config: {e}"),
        })?;
        config.check(&path)?;
        Ok(config)
    }

    /// Writes the config into `dir`, atomically.
    ///
    /// # Errors
    /// [`RestoreError::Io`].
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(CONFIG_FILE);
        let json = serde_json::to_string_pretty(self).expect("plain values serialise");
        diffmac_io::write_atomically(&path, json.as_bytes(), true)?;
        Ok(())
    }

    /// Consistency checks that need no weights.
    fn check(&self, path: &Path) -> Result<()> {
        let bad = |message: String| {
            Err(RestoreError::Bundle {
                path: path.to_path_buf(),
                message,
            })
        };
        if self.format != BUNDLE_FORMAT {
            return bad(format!(
                "format is {:?}, expected {BUNDLE_FORMAT:?}",
                self.format
            ));
        }
        if self.format_version != BUNDLE_VERSION {
            return bad(format!(
                "layout version {} is not supported (this build reads {BUNDLE_VERSION})",
                self.format_version
            ));
        }
        diffmac_ldm::scheduler::check_epsilon(&self.scheduler, path)?;
        if self.image_size == 0 || self.image_size > 4096 {
            return bad(format!("image_size {} is out of range", self.image_size));
        }
        let variant = self.stage2_variant;
        match (&self.stage2, variant.has_bottleneck(), &self.mib) {
            (Some(_), true, Some(_)) | (Some(_), false, None) => {}
            (None, _, None) if variant == Stage2Variant::Mib => {}
            (Some(_), true, None) => {
                return bad(
                    "stage2 needs its bottleneck, but mib is missing (a Stage II without \
                     one says \"stage2_variant\": \"two_adain\")"
                        .into(),
                );
            }
            (Some(_), false, Some(_)) => {
                return bad("a two_adain Stage II has no bottleneck, but mib is given".into());
            }
            (None, _, _) => {
                return bad("mib and stage2_variant describe Stage II, which is missing".into());
            }
        }
        for name in self.files() {
            if name.is_empty() || Path::new(name).components().count() != 1 || name.starts_with('.')
            {
                return bad(format!(
                    "file name {name:?} must be a plain name inside the bundle"
                ));
            }
        }
        Ok(())
    }

    /// Every file the bundle refers to (once each).
    pub fn files(&self) -> Vec<&str> {
        let mut files = vec![
            self.vae.as_str(),
            self.context.as_str(),
            self.stage1.unet.as_str(),
            self.stage1.control.as_str(),
        ];
        if let Some(s) = &self.stage2 {
            files.extend([s.unet.as_str(), s.control.as_str()]);
        }
        if let Some(m) = &self.mib {
            files.push(m.file.as_str());
        }
        if let Some(i) = &self.identity {
            files.push(i.file.as_str());
        }
        files.sort_unstable();
        files.dedup();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::random::{SD21_UNET, SD21_VAE};
    use serde_json::Value;

    fn sd21_config() -> BundleConfig {
        BundleConfig::standard(BundleParts {
            unet_config: UNetConfig::from_json(SD21_UNET).unwrap(),
            vae_config: serde_json::from_str(SD21_VAE).unwrap(),
            image_size: 512,
            control_config: ControlConfig::default(),
            mib_config: MibConfig::default(),
            qc_stats: QcStats::placeholder(8),
            identity_kind: Some("arcface_iresnet".into()),
            random_weights: false,
            provenance: BTreeMap::new(),
        })
    }

    /// A `config.json` as bundles held it before the configs were typed: the diffusers
    /// configs verbatim, with their bookkeeping keys and without the defaulted fields.
    fn verbatim_json() -> Value {
        let mut json = serde_json::to_value(sd21_config()).unwrap();
        json["unet_config"] = serde_json::from_str(SD21_UNET).unwrap();
        json["vae_config"] = serde_json::from_str(SD21_VAE).unwrap();
        json
    }

    #[test]
    fn a_verbatim_config_json_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let text = serde_json::to_string_pretty(&verbatim_json()).unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        let loaded = BundleConfig::load(dir.path()).unwrap();
        assert_eq!(loaded, sd21_config());
        assert_eq!(loaded.unet_config.cross_attention_dim, 1024);
        assert_eq!(loaded.vae_config.latent_channels, 4);
    }

    #[test]
    fn config_json_round_trips_and_keeps_every_diffusers_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = sd21_config();
        config.save(dir.path()).unwrap();
        assert_eq!(BundleConfig::load(dir.path()).unwrap(), config);
        // The written configs are the diffusers objects: every key of the verbatim file is
        // there with its value (numbers compared as numbers), the defaults made explicit.
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap())
                .unwrap();
        let verbatim = verbatim_json();
        for section in ["unet_config", "vae_config"] {
            for (key, value) in verbatim[section].as_object().unwrap() {
                let got = &written[section][key];
                let same = match (value.as_f64(), got.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => value == got,
                };
                assert!(same, "{section}.{key}: {value} became {got}");
            }
        }
    }

    #[test]
    fn an_unsupported_unet_is_refused_when_the_config_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut json = verbatim_json();
        json["unet_config"]["act_fn"] = Value::from("gelu");
        std::fs::write(dir.path().join(CONFIG_FILE), json.to_string()).unwrap();
        let err = BundleConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(CONFIG_FILE), "{err}");
        assert!(
            err.contains("unet_config") && err.contains("act_fn"),
            "{err}"
        );
    }
}
