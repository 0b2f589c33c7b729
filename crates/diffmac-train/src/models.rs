//! The frozen and trainable models of a run: VAE (frozen, on the inner backend), UNet (on the
//! autodiff backend, parts trainable per [`diffmac_ldm::TrainableParts`]), the "" context and
//! the identity encoder `F_ID`, built from [`ModelConfig`]; [`FrozenModels`] holds the frozen
//! ones together.
//!
//! Random weights (tiny tests, speed runs) are drawn from the backend's generator seeded with
//! the run seed while a process-wide lock is held, so that two runs with one seed build the
//! same models even when tests run in parallel threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Device, FloatDType, Int, Tensor, TensorData};
use diffmac_id::{IdentityEncoder, IdentityNetwork, IdentityNetworkKind, load_identity_encoder};
use diffmac_io::SafetensorsFile;
use diffmac_io::module_path::{PathMapper, map_with_paths};
use diffmac_ldm::loader::KeyMap;
use diffmac_ldm::{
    AutoencoderKL, ClipTextModel, UNet2DConditionModel, UNetConfig, VaeConfig, VarBuilder,
    sd2_empty_prompt_ids,
};
use diffmac_sampler::{NoiseRng, NoiseSchedule};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{ContextSource, IdentitySource, ModelConfig, ModelSource};
use crate::error::{Result, TrainError};

/// The tiny UNet config: the tiny model bundle's (3 levels, 16/32/32 channels, cross-attention
/// width 24), so that tiny training runs merge into a tiny bundle.
pub const TINY_UNET_CONFIG: &str = diffmac_ldm::tiny::TINY_UNET;
/// The tiny VAE config: the tiny model bundle's (3 levels, down-sampling factor 4).
pub const TINY_VAE_CONFIG: &str = diffmac_ldm::tiny::TINY_VAE;

static SEEDED: Mutex<()> = Mutex::new(());

/// Runs `f` with the backend generator of `device` seeded by `seed`, holding a process-wide
/// lock so that no other seeded construction interleaves.
pub fn seeded<B: Backend, T>(device: &Device<B>, seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    B::seed(device, seed);
    f()
}

/// The UNet config and VAE config of a model source.
///
/// # Errors
/// Config files that cannot be read or are not supported, naming the file.
pub fn model_configs(source: &ModelSource) -> Result<(UNetConfig, VaeConfig)> {
    Ok(match source {
        ModelSource::Diffusers { dir } => (
            UNetConfig::from_file(dir.join("unet/config.json"))?,
            VaeConfig::from_file(dir.join("vae/config.json"))?,
        ),
        ModelSource::Random {
            unet_config,
            vae_config,
        } => (
            match unet_config {
                Some(p) => UNetConfig::from_file(p)?,
                None => UNetConfig::from_json(TINY_UNET_CONFIG)?,
            },
            match vae_config {
                Some(p) => VaeConfig::from_file(p)?,
                None => vae_from_json(TINY_VAE_CONFIG)?,
            },
        ),
    })
}

/// The noise schedule the base model was trained with: a diffusers folder's
/// `scheduler/scheduler_config.json` (refused unless the model predicts ε, see
/// `diffmac_ldm::scheduler`), else SD 2.1's.
///
/// # Errors
/// An unreadable or unsupported scheduler config, or a v-prediction model, naming the file.
pub fn noise_schedule(source: &ModelSource) -> Result<NoiseSchedule> {
    Ok(match source {
        ModelSource::Diffusers { dir } => {
            diffmac_ldm::scheduler::read_scheduler(dir)?.noise_schedule()?
        }
        ModelSource::Random { .. } => NoiseSchedule::stable_diffusion(),
    })
}

fn vae_from_json(text: &str) -> Result<VaeConfig> {
    serde_json::from_str(text).map_err(|source| TrainError::Json {
        path: PathBuf::from("<tiny vae config>"),
        source,
    })
}

/// Loads the VAE (frozen: it never trains) on `device` in `dtype`.
///
/// # Errors
/// Loader errors naming the file and key.
pub fn load_vae<B: Backend>(
    source: &ModelSource,
    seed: u64,
    device: &Device<B>,
    dtype: FloatDType,
) -> Result<AutoencoderKL<B>> {
    let (_, vae_config) = model_configs(source)?;
    let vae = match source {
        ModelSource::Diffusers { dir } => AutoencoderKL::from_dir(dir.join("vae"), device, dtype)?,
        ModelSource::Random { .. } => {
            let vae = seeded::<B, _>(device, seed ^ 0x7661_6500, || {
                AutoencoderKL::load(&vae_config, &VarBuilder::random(device, dtype))
            })?;
            reinitialise(vae, diffmac_io::stream_seed(seed, b"vae"))
        }
    };
    Ok(burn::module::Module::no_grad(vae))
}

/// A UNet and the checkpoint keys of its parameters (for writing it back with
/// [`diffmac_ldm::loader::export`]).
#[derive(Debug)]
pub struct LoadedUNet<B: Backend> {
    /// The model (every parameter requires gradients; apply `TrainableParts`).
    pub unet: UNet2DConditionModel<B>,
    /// Its keys in the diffusers layout.
    pub keys: KeyMap,
    /// Its config.
    pub config: UNetConfig,
}

/// Loads the UNet from `weights` (a diffusers-layout safetensors file, e.g. a checkpoint's
/// `unet.safetensors`) when given, else from the model source.
///
/// # Errors
/// Loader errors naming the file and key.
pub fn load_unet<B: Backend>(
    source: &ModelSource,
    weights: Option<&Path>,
    seed: u64,
    device: &Device<B>,
    dtype: FloatDType,
) -> Result<LoadedUNet<B>> {
    let (config, _) = model_configs(source)?;
    let from_file = |path: PathBuf| -> Result<LoadedUNet<B>> {
        let vb = VarBuilder::from_file(SafetensorsFile::open(&path)?, device, dtype);
        let unet = UNet2DConditionModel::load(&config, &vb)?;
        vb.finish()?;
        Ok(LoadedUNet {
            unet: materialise(unet),
            keys: vb.key_map(),
            config: config.clone(),
        })
    };
    match (weights, source) {
        (Some(path), _) => from_file(path.to_path_buf()),
        (None, ModelSource::Diffusers { dir }) => {
            from_file(dir.join("unet/diffusion_pytorch_model.safetensors"))
        }
        (None, ModelSource::Random { .. }) => seeded::<B, _>(device, seed ^ 0x756e_6574, || {
            let vb = VarBuilder::random(device, dtype);
            let unet = UNet2DConditionModel::load(&config, &vb)?;
            Ok(LoadedUNet {
                unet: reinitialise(unet, diffmac_io::stream_seed(seed, b"unet")),
                keys: vb.key_map(),
                config: config.clone(),
            })
        }),
    }
}

/// The "" context `[1, 77, C]` (`C` = the UNet's cross-attention width).
///
/// # Errors
/// Text-encoder or file errors naming the file; a stored tensor of the wrong width.
pub fn load_context<B: Backend>(
    model: &ModelConfig,
    cross_attention_dim: usize,
    seed: u64,
    device: &Device<B>,
    dtype: FloatDType,
) -> Result<Tensor<B, 3>> {
    let context = match &model.context {
        ContextSource::Random => NoiseRng::new(diffmac_io::stream_seed(seed, b"context"))
            .gaussian([1, 77, cross_attention_dim], (device, DType::from(dtype))),
        ContextSource::File { path } => {
            SafetensorsFile::open(path)?.float_tensor::<B, 3>("context", device, dtype)?
        }
        ContextSource::TextEncoder => {
            let ModelSource::Diffusers { dir } = &model.source else {
                return Err(TrainError::Config(
                    "model.context text_encoder needs a diffusers model source; use a \
                     context file or random context with random models"
                        .into(),
                ));
            };
            let text = ClipTextModel::<B>::from_dir(dir.join("text_encoder"), device, dtype)?;
            let ids = Tensor::<B, 2, Int>::from_data(
                TensorData::new(sd2_empty_prompt_ids().to_vec(), [1, 77]),
                (device, DType::I64),
            );
            text.forward(ids)?.last_hidden_state
        }
    };
    let [one, _, c] = context.dims();
    if one != 1 || c != cross_attention_dim {
        return Err(TrainError::Config(format!(
            "the context is {:?}, the UNet needs [1, L, {cross_attention_dim}]",
            context.dims()
        )));
    }
    Ok(context)
}

/// Copies every float parameter into a fresh, contiguous tensor (the loader hands out
/// transposed views for linear weights). Trained parameters are contiguous after an
/// optimiser step; making loaded ones contiguous too keeps the kernels, and so the bits, of
/// a resumed run equal to an uninterrupted one.
pub fn materialise<B: Backend, M: burn::module::Module<B>>(module: M) -> M {
    struct Copy;
    impl<B: Backend> burn::module::ModuleMapper<B> for Copy {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<B, D>>,
        ) -> burn::module::Param<Tensor<B, D>> {
            let require_grad = param.is_require_grad();
            let (id, tensor, mapper) = param.consume();
            let t = Tensor::<B, D>::from_data(tensor.to_data(), (&tensor.device(), tensor.dtype()));
            let t = if require_grad { t.require_grad() } else { t };
            burn::module::Param::from_mapped_value(id, t, mapper)
        }
    }
    module.map(&mut Copy)
}

/// Replaces every float parameter of a randomly built model by PyTorch-like initial values
/// drawn on the host from `seed` and the parameter's path: norm scales 1, biases 0, weights
/// uniform in ±1/√fan_in (fan_in = `in·k·k` for `[out, in, k, k]` convolutions, `in` for
/// Burn's `[in, out]` linear weights). `VarBuilder::random`'s N(0, 0.02) everywhere would
/// zero the norm scales and starve a small model of signal.
pub fn reinitialise<B: Backend, M: burn::module::Module<B>>(module: M, seed: u64) -> M {
    struct Init {
        seed: u64,
    }
    impl<B: Backend> PathMapper<B> for Init {
        fn map_float<const D: usize>(
            &mut self,
            key: &str,
            param: burn::module::Param<Tensor<B, D>>,
        ) -> burn::module::Param<Tensor<B, D>> {
            let require_grad = param.is_require_grad();
            let (id, tensor, mapper) = param.consume();
            let dims = tensor.dims();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = if D == 1 {
                let one = key.ends_with("weight") || key.ends_with("gamma");
                vec![if one { 1.0 } else { 0.0 }; n]
            } else {
                let fan_in = if D == 2 {
                    dims[0]
                } else {
                    dims[1..].iter().product()
                };
                let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                let mut rng = diffmac_io::stream_rng(self.seed, key.as_bytes());
                (0..n)
                    .map(|_| rand::RngExt::random_range(&mut rng, -bound..bound))
                    .collect()
            };
            let t = Tensor::<B, D>::from_data(
                TensorData::new(values, dims),
                (&tensor.device(), tensor.dtype()),
            );
            let t = if require_grad { t.require_grad() } else { t };
            burn::module::Param::from_mapped_value(id, t, mapper)
        }
    }
    map_with_paths(module, &mut Init { seed })
}

/// The models a run keeps frozen, on the inner backend: what every loss, validation sheet
/// and `X_D1` sample reads besides the trained modules. One struct, so that those functions
/// take one argument for them.
#[derive(Debug)]
pub struct FrozenModels<B: Backend> {
    /// The VAE (`E` and `D`).
    pub vae: AutoencoderKL<B>,
    /// The "" context `[1, 77, C]`.
    pub context: Tensor<B, 3>,
    /// The training noise schedule.
    pub schedule: NoiseSchedule,
    /// `F_ID`, only where Stage II injects identity.
    pub identity: Option<IdentityModel<B>>,
}

/// `F_ID`: the identity encoder of Stage II (frozen).
#[derive(Debug)]
pub enum IdentityModel<B: Backend> {
    /// ArcFace IResNet or dlib's ResNet; faces are cropped from FFHQ alignment to its input
    /// first.
    Network(Box<IdentityNetwork<B>>),
    /// A fixed random projection (tests).
    Random(RandomIdentity<B>),
}

/// A fixed random projection of the face, average-pooled to 4×4, to `dim` values: a
/// stand-in for `F_ID` in tests. It carries no identity information.
#[derive(Debug, Clone)]
pub struct RandomIdentity<B: Backend> {
    projection: Tensor<B, 2>,
}

impl<B: Backend> RandomIdentity<B> {
    /// A projection `48 → dim` seeded by `seed`.
    pub fn new(dim: usize, seed: u64, device: &Device<B>) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let scale = 1.0 / (48f32).sqrt();
        let values: Vec<f32> = (0..48 * dim)
            .map(|_| {
                let x: f32 = StandardNormal.sample(&mut rng);
                x * scale
            })
            .collect();
        Self {
            projection: Tensor::from_data(TensorData::new(values, [48, dim]), device),
        }
    }
}

impl<B: Backend> IdentityEncoder<B> for RandomIdentity<B> {
    fn input_size(&self) -> usize {
        0
    }

    fn embedding_dim(&self) -> usize {
        self.projection.dims()[1]
    }

    fn embed(&self, faces: Tensor<B, 4>) -> Tensor<B, 2> {
        let n = faces.dims()[0];
        let dtype = faces.dtype();
        let pooled = burn::tensor::module::adaptive_avg_pool2d(faces, [4, 4]).reshape([n, 48]);
        pooled.matmul(self.projection.clone().cast(dtype))
    }
}

impl<B: Backend> IdentityModel<B> {
    /// Loads or builds `F_ID`.
    ///
    /// # Errors
    /// An unreadable or invalid weights file, naming it.
    pub fn load(source: &IdentitySource, seed: u64, device: &Device<B>) -> Result<Self> {
        Ok(match source {
            IdentitySource::Iresnet { weights } => Self::Network(Box::new(load_identity_encoder(
                IdentityNetworkKind::ArcFaceIResNet.as_str(),
                weights,
                device,
            )?)),
            IdentitySource::Dlib { weights } => Self::Network(Box::new(load_identity_encoder(
                IdentityNetworkKind::DlibResNetV1.as_str(),
                weights,
                device,
            )?)),
            IdentitySource::Random { dim } => Self::Random(RandomIdentity::new(
                *dim,
                diffmac_io::stream_seed(seed, b"identity"),
                device,
            )),
        })
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        match self {
            Self::Network(m) => m.embedding_dim(),
            Self::Random(m) => m.embedding_dim(),
        }
    }

    /// Embeddings `[N, D]` of FFHQ-aligned faces `[N, 3, S, S]` in [-1, 1] (f32).
    ///
    /// # Errors
    /// A face size the network's crop cannot handle.
    pub fn embed(&self, faces: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        let faces = if faces.dtype() == DType::F32 {
            faces
        } else {
            faces.cast(FloatDType::F32)
        };
        Ok(match self {
            Self::Network(m) => m.embed_ffhq(faces)?,
            Self::Random(m) => m.embed(faces),
        })
    }
}
