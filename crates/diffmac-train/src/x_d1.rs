//! `X_D1` for Stage II: the Stage I model's restoration of the LQ face (Algorithm 1 lines
//! 1–12), sampled with the paper's spaced DDPM (50 steps by default) and decoded by the VAE.
//!
//! Two modes (`stage2.x_d1`): **cache** samples each training image once, with its epoch-0
//! LQ face and no flip, and stores it as `<cache>/<image index>.safetensors` (tensor `x_d1`,
//! `[1, 3, S, S]` in [-1, 1], f32), next to a `manifest.json` naming what it was made from;
//! **on the fly** samples every training sample anew (a full Stage I run per sample per step:
//! `sampler_steps` UNet evaluations plus a VAE encode and decode, on top of the training
//! step's own forward and backward pass).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};

use diffmac_io::{SafetensorsFile, save_safetensors};
use diffmac_ldm::{AdaInControl, AutoencoderKL, ManifoldInput, UNet2DConditionModel};
use diffmac_sampler::respace::{SpacedSchedule, Spacing};
use diffmac_sampler::{
    Init, Method, NoiseRng, NoiseSchedule, PredictionType, Sampler, VarianceType,
};
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Geometry};
use crate::error::{Result, TrainError};
use crate::models::FrozenModels;
use crate::step::control_input;

/// The paper's sampler (spaced DDPM, fixed-small variance, ε prediction) on the model's
/// training `schedule` (SD 2.1's), with `steps` kept steps.
///
/// # Errors
/// A step count the respacing cannot give.
pub fn stage_sampler(schedule: &NoiseSchedule, steps: usize) -> Result<Sampler> {
    let schedule = SpacedSchedule::new(schedule, &Spacing::Sections(vec![steps]))?;
    Ok(Sampler::new(
        schedule,
        PredictionType::Epsilon,
        Method::Ddpm(VarianceType::FixedSmall),
    )?)
}

/// The frozen Stage I model that makes `X_D1`.
#[derive(Debug)]
pub struct Stage1Model<B: Backend> {
    /// Stage I's UNet.
    pub unet: UNet2DConditionModel<B>,
    /// Stage I's control.
    pub control: AdaInControl<B>,
    /// How the control reads `E(X_LQ)`.
    pub input: ManifoldInput,
    /// The sampler `X_D1` is drawn with ([`stage_sampler`]).
    pub sampler: Sampler,
}

impl<B: Backend> Stage1Model<B> {
    /// `X_D1` `[N, 3, S, S]` in [-1, 1] of LQ faces `lq` `[N, 3, S, S]`: `E(X_LQ)` → control,
    /// sampled from noise with the model's sampler and `seed`, decoded, clamped.
    ///
    /// # Errors
    /// Sampler errors.
    pub fn restore(
        &self,
        vae: &AutoencoderKL<B>,
        context: &Tensor<B, 3>,
        lq: Tensor<B, 4>,
        seed: u64,
    ) -> Result<Tensor<B, 4>> {
        let n = lq.dims()[0];
        let dtype = lq.dtype();
        let device = lq.device();
        let mut rng = NoiseRng::new(seed ^ 0x5844_3100);
        let r = control_input(self.input, vae.moments(lq), &mut rng);
        let [_, _, h, w] = r.dims();
        let latent = vae.decoder_latent_channels();
        let init = Init::Noise {
            shape: [n, latent, h, w],
            options: (&device, dtype).into(),
        };
        // The restorer's stage sampler, so that X_D1 is what `diffmac-restore` computes.
        let z0 = diffmac_ldm::sample_stage(
            &self.unet,
            &self.control,
            r,
            context.clone(),
            &self.sampler,
            init,
            seed,
            |_| {},
        )?;
        Ok(vae
            .decode(z0.div_scalar(vae.scaling_factor))
            .clamp(-1.0, 1.0))
    }
}

/// Latent channels of the VAE's decoder input.
trait LatentChannels {
    fn decoder_latent_channels(&self) -> usize;
}

impl<B: Backend> LatentChannels for AutoencoderKL<B> {
    fn decoder_latent_channels(&self) -> usize {
        match &self.post_quant_conv {
            Some(p) => p.weight.dims()[1],
            None => self.decoder.conv_in.weight.dims()[1],
        }
    }
}

/// What a cache folder was made from; a cache made otherwise is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheManifest {
    /// The Stage I checkpoint folder.
    pub stage1_checkpoint: PathBuf,
    /// The run seed (it decides the LQ faces).
    pub seed: u64,
    /// Image side.
    pub size: u32,
    /// Sampler steps.
    pub sampler_steps: usize,
    /// The training images, relative paths, in index order.
    pub files: Vec<PathBuf>,
}

/// The cached `X_D1` of every training image.
#[derive(Debug)]
pub struct XD1Cache {
    dir: PathBuf,
    /// The run seed, which keys each batch's sampling noise.
    seed: u64,
}

impl XD1Cache {
    /// Opens (creating) the cache folder `dir` made from `manifest`; [`XD1Cache::fill`] then
    /// samples what is missing.
    ///
    /// # Errors
    /// A cache made from something else than `manifest`, I/O errors naming the file.
    pub fn open(dir: &Path, manifest: &CacheManifest) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
        let manifest_path = dir.join("manifest.json");
        if manifest_path.exists() {
            let text =
                std::fs::read_to_string(&manifest_path).map_err(TrainError::io(&manifest_path))?;
            let found: CacheManifest =
                serde_json::from_str(&text).map_err(|source| TrainError::Json {
                    path: manifest_path.clone(),
                    source,
                })?;
            if &found != manifest {
                return Err(TrainError::Data {
                    path: dir.to_path_buf(),
                    message: "this X_D1 cache was made from another Stage I checkpoint, seed, \
                              size, sampler or image list; delete it or set stage2.cache_dir"
                        .into(),
                });
            }
        } else {
            let text = serde_json::to_vec_pretty(manifest).expect("plain data");
            diffmac_io::write_atomically(&manifest_path, &text, true)?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            seed: manifest.seed,
        })
    }

    /// Samples the images of `dataset` that have no cache file yet with `model`, `batch`
    /// images together in `dtype` (`on_batch(done, total)` after each batch).
    ///
    /// # Errors
    /// I/O and sampling errors.
    pub fn fill<B: Backend>(
        &self,
        dataset: &Dataset,
        model: &Stage1Model<B>,
        frozen: &FrozenModels<B>,
        batch: usize,
        dtype: FloatDType,
        mut on_batch: impl FnMut(usize, usize),
    ) -> Result<()> {
        let missing: Vec<usize> = (0..dataset.len())
            .filter(|&i| !self.path(i).exists())
            .collect();
        let device = frozen.context.device();
        let total = missing.len();
        for (done, chunk) in missing.chunks(batch.max(1)).enumerate() {
            let samples = chunk
                .iter()
                .map(|&i| dataset.sample(0, i, Geometry::Fixed))
                .collect::<Result<Vec<_>>>()?;
            let lq: Vec<_> = samples.iter().map(|s| s.lq.clone()).collect();
            let lq = diffmac_io::images_to_tensor::<B>(&lq, &device)?.cast(dtype);
            let seed = diffmac_io::stream_seed(self.seed, format!("x_d1/{}", chunk[0]).as_bytes());
            let x = model.restore(&frozen.vae, &frozen.context, lq, seed)?;
            for (j, &i) in chunk.iter().enumerate() {
                let one = x.clone().narrow(0, j, 1).cast(FloatDType::F32);
                let path = self.path(i);
                save_safetensors(
                    &path,
                    &[("x_d1".to_string(), one.into_data())]
                        .into_iter()
                        .collect(),
                )?;
            }
            on_batch((done * batch.max(1) + chunk.len()).min(total), total);
        }
        Ok(())
    }

    fn path(&self, image: usize) -> PathBuf {
        self.dir.join(format!("{image:07}.safetensors"))
    }

    /// `X_D1` of `image`, flipped horizontally if asked, `[1, 3, S, S]` in `dtype`.
    ///
    /// # Errors
    /// A missing or corrupt cache file, naming it.
    pub fn get<B: Backend>(
        &self,
        image: usize,
        flipped: bool,
        device: &B::Device,
        dtype: FloatDType,
    ) -> Result<Tensor<B, 4>> {
        let x =
            SafetensorsFile::open(self.path(image))?.float_tensor::<B, 4>("x_d1", device, dtype)?;
        Ok(if flipped { x.flip([3]) } else { x })
    }
}
