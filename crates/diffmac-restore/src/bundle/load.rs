//! Loading a bundle: every file is opened and checked against `config.json` up front, and all
//! problems are reported together, one line each, before any restoration starts.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType, Tensor};
use diffmac_id::{IdentityEncoder, IdentityNetwork, IdentityNetworkKind, load_identity_encoder};
use diffmac_io::SafetensorsFile;
use diffmac_ldm::{AdaInControl, AutoencoderKL, UNet2DConditionModel, VarBuilder, load_module};
use diffmac_mib::ManifoldBottleneck;
use diffmac_sampler::NoiseSchedule;

use crate::bundle::config::BundleConfig;
use crate::error::{RestoreError, Result};

/// Name of the tensor in the bundle's context file.
pub const CONTEXT_KEY: &str = "context";

/// The identity encoder kinds a bundle can name (see `diffmac_id::IdentityNetworkKind`).
pub const IDENTITY_KINDS: &[&str] = &["arcface_iresnet", "dlib_resnet_v1"];

/// One stage's modules.
pub struct StageModels<B: Backend> {
    /// The UNet (shared with the other stage when both name the same file).
    pub unet: UNet2DConditionModel<B>,
    /// The AdaIN control.
    pub control: AdaInControl<B>,
}

/// A loaded DiffMAC model: the shared VAE, both stages, the bottleneck, the identity encoder
/// and the empty prompt's context.
pub struct ModelBundle<B: Backend> {
    /// The folder it was loaded from.
    pub dir: PathBuf,
    /// Its `config.json`.
    pub config: BundleConfig,
    /// The shared, frozen VAE.
    pub vae: AutoencoderKL<B>,
    /// Stage I.
    pub stage1: StageModels<B>,
    /// Stage II, if the bundle has it.
    pub stage2: Option<StageModels<B>>,
    /// Stage II's bottleneck; `None` for a Stage I-only or a 2AdaIN bundle
    /// (`config.stage2_variant`).
    pub mib: Option<ManifoldBottleneck<B>>,
    /// `F_ID`.
    pub identity: Option<IdentityNetwork<B>>,
    /// The empty prompt's text encoding `[1, 77, D]`.
    pub context: Tensor<B, 3>,
    /// The training noise schedule.
    pub schedule: NoiseSchedule,
}

impl<B: Backend> std::fmt::Debug for ModelBundle<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBundle")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Collects every problem instead of stopping at the first.
struct Problems {
    dir: PathBuf,
    list: Vec<String>,
}

impl Problems {
    fn take<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.list.push(e.to_string());
                None
            }
        }
    }
}

impl<B: Backend> ModelBundle<B> {
    /// Loads the bundle in `dir` onto `device`, every weight converted to `dtype`.
    ///
    /// # Errors
    /// [`RestoreError::Bundle`] listing every problem found (missing or truncated files,
    /// missing or unexpected tensors, shape mismatches, non-float tensors, bad configs), one
    /// per line, each naming its file.
    pub fn load(dir: &Path, device: &Device<B>, dtype: FloatDType) -> Result<Self> {
        let config = BundleConfig::load(dir)?;
        let mut p = Problems {
            dir: dir.to_path_buf(),
            list: Vec::new(),
        };
        let schedule = p.take(
            config
                .scheduler
                .noise_schedule()
                .map_err(RestoreError::from),
        );
        // Every weight is checked for NaN and infinities: one would make every face NaN.
        let file = |name: &str| -> Result<SafetensorsFile> {
            let f = SafetensorsFile::open(dir.join(name))?;
            f.check_finite()?;
            Ok(f)
        };

        let vae = p.take(file(&config.vae)).and_then(|f| {
            p.take(load_diffusers(f, device, dtype, |vb| {
                AutoencoderKL::load(&config.vae_config, vb)
            }))
        });
        let mut unets: Vec<(String, UNet2DConditionModel<B>)> = Vec::new();
        let mut stage = |files: &crate::bundle::config::StageFiles,
                         p: &mut Problems|
         -> Option<StageModels<B>> {
            let uc = &config.unet_config;
            let unet = match unets.iter().find(|(n, _)| *n == files.unet) {
                Some((_, u)) => Some(u.clone()),
                None => {
                    let f = p.take(file(&files.unet))?;
                    let u = p.take(load_diffusers(f, device, dtype, |vb| {
                        UNet2DConditionModel::load(uc, vb)
                    }))?;
                    unets.push((files.unet.clone(), u.clone()));
                    Some(u)
                }
            };
            let control = p.take(file(&files.control)).and_then(|f| {
                let fresh = files.control_config.init::<B>(device);
                p.take(load_module(fresh, &f, dtype).map_err(RestoreError::from))
            });
            Some(StageModels {
                unet: unet?,
                control: control?,
            })
        };
        let stage1 = stage(&config.stage1, &mut p);
        let stage2 = config.stage2.as_ref().map(|s| stage(s, &mut p));
        let mib = config.mib.as_ref().map(|m| {
            let fresh = p.take(m.config.init::<B>(&m.qc_stats, device).map_err(Into::into))?;
            let f = p.take(file(&m.file))?;
            p.take(load_module(fresh, &f, dtype).map_err(RestoreError::from))
        });
        let identity = config
            .identity
            .as_ref()
            .map(|i| p.take(load_identity::<B>(dir, &i.kind, &i.file, device)));
        if let (Some(m), Some(i), Some(Some(encoder))) = (&config.mib, &config.identity, &identity)
            && let Some(problem) = identity_dim_mismatch(encoder, m.config.identity_dim, &m.file)
        {
            p.list
                .push(format!("{}: {problem}", dir.join(&i.file).display()));
        }
        let context = p.take(file(&config.context)).and_then(|f| {
            p.take(
                f.float_tensor::<B, 3>(CONTEXT_KEY, device, dtype)
                    .map_err(Into::into),
            )
        });
        if let Some(c) = &context {
            let uc = &config.unet_config;
            let [one, _, d] = c.dims();
            if one != 1 || d != uc.cross_attention_dim {
                p.list.push(format!(
                    "{}: context is {:?}, the UNet attends to [1, L, {}]",
                    dir.join(&config.context).display(),
                    c.dims(),
                    uc.cross_attention_dim
                ));
            }
        }
        if !p.list.is_empty() {
            return Err(RestoreError::Bundle {
                path: p.dir,
                message: format!(
                    "the model bundle has {} problem(s):\n  {}",
                    p.list.len(),
                    p.list.join("\n  ")
                ),
            });
        }
        let missing = || RestoreError::Bundle {
            path: dir.to_path_buf(),
            message: "incomplete bundle".into(),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            vae: vae.ok_or_else(missing)?,
            stage1: stage1.ok_or_else(missing)?,
            stage2: stage2.map(|s| s.ok_or_else(missing)).transpose()?,
            mib: mib.map(|m| m.ok_or_else(missing)).transpose()?,
            identity: identity.map(|i| i.ok_or_else(missing)).transpose()?,
            context: context.ok_or_else(missing)?,
            schedule: schedule.ok_or_else(missing)?,
            config,
        })
    }
}

/// Why `encoder` cannot feed a bottleneck (`mib_file`) trained on `identity_dim`-D
/// embeddings, if it cannot: Stage II's identity projections are trained on one embedding
/// width (ArcFace 512, dlib 128).
pub fn identity_dim_mismatch<B: Backend>(
    encoder: &IdentityNetwork<B>,
    identity_dim: usize,
    mib_file: &str,
) -> Option<String> {
    let dim = encoder.embedding_dim();
    (dim != identity_dim).then(|| {
        format!(
            "the identity encoder ({}) gives {dim}-D embeddings, but the bottleneck ({}) was \
             trained on {}-D ones: the bundle needs the identity network Stage II was trained \
             with (diffmac-convert sd --identity)",
            identity_kind(encoder),
            mib_file,
            identity_dim
        )
    })
}

/// Builds a module from a diffusers-layout file and checks that it used every tensor.
fn load_diffusers<B: Backend, M>(
    file: SafetensorsFile,
    device: &Device<B>,
    dtype: FloatDType,
    build: impl FnOnce(&VarBuilder<B>) -> diffmac_ldm::Result<M>,
) -> Result<M> {
    let vb = VarBuilder::from_file(file, device, dtype);
    let module = build(&vb)?;
    vb.finish()?;
    Ok(module)
}

/// Loads an identity encoder of `kind` (one of [`IDENTITY_KINDS`], or `auto` to tell it from
/// the file) from `dir/file`. It stays in f32 whatever the bundle's precision: its input is
/// cropped in f32 and its embedding cast to the model's dtype.
///
/// # Errors
/// The encoder's loading errors, naming the file.
pub fn load_identity<B: Backend>(
    dir: &Path,
    kind: &str,
    file: &str,
    device: &Device<B>,
) -> Result<IdentityNetwork<B>> {
    Ok(load_identity_encoder(kind, &dir.join(file), device)?)
}

/// The kind string of a loaded encoder, as a bundle stores it.
pub fn identity_kind<B: Backend>(encoder: &IdentityNetwork<B>) -> &'static str {
    let kind: IdentityNetworkKind = encoder.kind();
    kind.as_str()
}
