//! Random-weight models of real or toy sizes, for benchmarks and tests: the same modules a
//! bundle holds, built in memory without any file.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::{Device, Distribution, FloatDType, Tensor, TensorData};
use diffmac_id::{IResNet, IdentityNetwork};
use diffmac_io::SafetensorsFile;
use diffmac_ldm::{
    AutoencoderKL, ControlConfig, UNet2DConditionModel, UNetConfig, VaeConfig, VarBuilder,
};
use diffmac_mib::{MibConfig, QcStats};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bundle::config::{BundleConfig, BundleParts};
use crate::bundle::load::{ModelBundle, StageModels};
use diffmac_ldm::tiny::{TINY_IMAGE_SIZE, TINY_UNET, TINY_VAE};

use crate::bundle::tiny::randomized;
use crate::error::Result;

/// Stable Diffusion 2.1-base's UNet config (diffusers `config.json` values).
pub const SD21_UNET: &str = include_str!("../../configs/sd21_base/unet.json");
/// Stable Diffusion 2.1-base's VAE config.
pub const SD21_VAE: &str = include_str!("../../configs/sd21_base/vae.json");
/// Stable Diffusion 2.1-base's text encoder config (23 layers: SD 2.x's penultimate layer).
pub const SD21_TEXT: &str = include_str!("../../configs/sd21_base/text_encoder.json");

/// Model sizes a random bundle can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The tiny bundle's toy sizes (64² faces).
    Tiny,
    /// Stable Diffusion 2.1-base with an IResNet-50 identity encoder (512² faces): the real
    /// model's shapes and cost.
    Sd21,
}

/// An ArcFace IResNet's shape, for random state dicts in insightface's key layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IResNetShape {
    /// Blocks per stage.
    pub layers: [usize; 4],
    /// Channels per stage.
    pub widths: [usize; 4],
    /// Stem channels.
    pub stem: usize,
    /// Embedding size.
    pub num_features: usize,
    /// Input side (a multiple of 16).
    pub input_size: usize,
}

impl IResNetShape {
    /// One block of 8 channels per stage, 32-D embeddings, 32² input.
    pub fn tiny() -> Self {
        Self {
            layers: [1; 4],
            widths: [8; 4],
            stem: 8,
            num_features: 32,
            input_size: 32,
        }
    }

    /// ArcFace's IResNet-50 (112² input, 512-D).
    pub fn iresnet50() -> Self {
        Self {
            layers: [3, 4, 14, 3],
            widths: [64, 128, 256, 512],
            stem: 64,
            num_features: 512,
            input_size: 112,
        }
    }

    /// Random weights (batch-norm statistics near identity) in insightface's key layout.
    pub fn random_state_dict(&self, rng: &mut ChaCha8Rng) -> BTreeMap<String, TensorData> {
        let mut t = BTreeMap::new();
        let mut put = |key: String, shape: Vec<usize>, lo: f32, hi: f32| {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
            t.insert(key, TensorData::new(v, shape));
        };
        let bn = |put: &mut dyn FnMut(String, Vec<usize>, f32, f32), p: &str, n: usize| {
            put(format!("{p}.weight"), vec![n], 0.8, 1.2);
            put(format!("{p}.bias"), vec![n], -0.1, 0.1);
            put(format!("{p}.running_mean"), vec![n], -0.1, 0.1);
            put(format!("{p}.running_var"), vec![n], 0.8, 1.2);
        };
        // Kaiming-like bounds keep activations in range through deep stacks.
        let conv = |fan_in: usize| (3.0 / fan_in as f32).sqrt();
        let s = self.stem;
        put("conv1.weight".into(), vec![s, 3, 3, 3], -conv(27), conv(27));
        bn(&mut put, "bn1", s);
        put("prelu.weight".into(), vec![s], 0.2, 0.3);
        let mut c_in = s;
        for (stage, (&n, &w)) in self.layers.iter().zip(&self.widths).enumerate() {
            for i in 0..n {
                let p = format!("layer{}.{i}", stage + 1);
                let c = if i == 0 { c_in } else { w };
                bn(&mut put, &format!("{p}.bn1"), c);
                put(
                    format!("{p}.conv1.weight"),
                    vec![w, c, 3, 3],
                    -conv(9 * c),
                    conv(9 * c),
                );
                bn(&mut put, &format!("{p}.bn2"), w);
                put(format!("{p}.prelu.weight"), vec![w], 0.2, 0.3);
                put(
                    format!("{p}.conv2.weight"),
                    vec![w, w, 3, 3],
                    -conv(9 * w),
                    conv(9 * w),
                );
                bn(&mut put, &format!("{p}.bn3"), w);
                if i == 0 {
                    // Every stage starts with stride 2: a projection shortcut.
                    put(
                        format!("{p}.downsample.0.weight"),
                        vec![w, c, 1, 1],
                        -conv(c),
                        conv(c),
                    );
                    bn(&mut put, &format!("{p}.downsample.1"), w);
                }
            }
            c_in = w;
        }
        bn(&mut put, "bn2", c_in);
        let side = self.input_size / 16;
        let fc_in = c_in * side * side;
        put(
            "fc.weight".into(),
            vec![self.num_features, fc_in],
            -conv(fc_in),
            conv(fc_in),
        );
        put("fc.bias".into(), vec![self.num_features], -0.1, 0.1);
        bn(&mut put, "features", self.num_features);
        t
    }
}

/// A whole model with random weights in memory: both stages (random, non-zero controls),
/// the bottleneck, the identity encoder and a random context, in `dtype` (the identity
/// encoder stays f32).
///
/// # Errors
/// Only if a preset config cannot be built.
pub fn random_bundle<B: Backend>(
    preset: Preset,
    seed: u64,
    device: &Device<B>,
    dtype: FloatDType,
) -> Result<ModelBundle<B>> {
    B::seed(device, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (unet_json, vae_json, image_size, identity) = match preset {
        Preset::Tiny => (TINY_UNET, TINY_VAE, TINY_IMAGE_SIZE, IResNetShape::tiny()),
        Preset::Sd21 => (SD21_UNET, SD21_VAE, 512, IResNetShape::iresnet50()),
    };
    let unet_config = UNetConfig::from_json(unet_json)?;
    let vae_config: VaeConfig = serde_json::from_str(vae_json).expect("a valid VAE config");
    let vae = AutoencoderKL::load(&vae_config, &VarBuilder::random(device, dtype))?;
    let unet = UNet2DConditionModel::load(&unet_config, &VarBuilder::random(device, dtype))?;
    let control_config = ControlConfig::for_unet(&unet);
    let control = || {
        let c = control_config.init::<B>(device);
        // Non-zero γ/β so that a random control costs and acts like a trained one.
        diffmac_ldm::cast_module(randomized(c, 0.02), dtype)
    };
    let mib_config = MibConfig {
        identity_dim: identity.num_features,
        ..MibConfig::default()
    };
    let qc_stats = QcStats::placeholder(2 * vae_config.latent_channels);
    let mib = diffmac_ldm::cast_module(mib_config.init::<B>(&qc_stats, device)?, dtype);
    let weights = SafetensorsFile::from_tensors(
        "random.safetensors".into(),
        &identity.random_state_dict(&mut rng),
    )?;
    let encoder = IResNet::<B>::from_file(&weights, device)?;
    let context = Tensor::<B, 3>::random(
        [1, 77, unet_config.cross_attention_dim],
        Distribution::Normal(0.0, 1.0),
        (device, dtype.into()),
    );
    let config = BundleConfig::standard(BundleParts {
        unet_config,
        vae_config,
        image_size,
        control_config: control_config.clone(),
        mib_config,
        qc_stats,
        identity_kind: Some("arcface_iresnet".into()),
        random_weights: true,
        provenance: BTreeMap::from([("source".into(), "random weights in memory".into())]),
    });
    let schedule = config.scheduler.noise_schedule()?;
    Ok(ModelBundle {
        dir: "<memory>".into(),
        vae,
        stage1: StageModels {
            unet: unet.clone(),
            control: control(),
        },
        stage2: Some(StageModels {
            unet,
            control: control(),
        }),
        mib: Some(mib),
        identity: Some(IdentityNetwork::IResNet(encoder)),
        context,
        schedule,
        config,
    })
}
