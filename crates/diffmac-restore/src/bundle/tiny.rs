//! The `tiny` bundle: every part of a real bundle, at toy sizes and with random weights, so
//! that tests and new users run the whole DID pipeline on a CPU in seconds. It restores
//! nothing: its output is the random networks' output.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Distribution, FloatDType, Tensor, TensorData};
use diffmac_io::module_path::{PathMapper, map_with_paths};
use diffmac_io::save_safetensors;
use diffmac_ldm::loader::export;
use diffmac_ldm::{
    AutoencoderKL, ControlConfig, UNet2DConditionModel, UNetConfig, VaeConfig, VarBuilder,
    save_module,
};
use diffmac_mib::{MibConfig, QcStats};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use diffmac_ldm::tiny::{TINY_IMAGE_SIZE, TINY_UNET, TINY_VAE};

use crate::bundle::config::{BundleConfig, BundleParts};
use crate::bundle::load::CONTEXT_KEY;
use crate::bundle::random::IResNetShape;
use crate::error::{RestoreError, Result};

/// Writes the tiny bundle into `dir` (created if needed; existing bundle files are replaced
/// only with `overwrite`). Equal seeds give equal bundles on the same backend.
///
/// # Errors
/// [`RestoreError::Io`] or [`RestoreError::Bundle`] if the folder cannot be written or
/// already holds a bundle and `overwrite` is off.
pub fn write_tiny_bundle<B: Backend>(
    dir: &Path,
    seed: u64,
    overwrite: bool,
    device: &Device<B>,
) -> Result<BundleConfig> {
    let config_path = dir.join(crate::bundle::config::CONFIG_FILE);
    if config_path.exists() && !overwrite {
        return Err(RestoreError::Bundle {
            path: config_path,
            message: "a bundle already exists here (pass overwrite to replace it)".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| RestoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    B::seed(device, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let unet_config = UNetConfig::from_json(TINY_UNET)?;
    let vae_config: VaeConfig = serde_json::from_str(TINY_VAE).expect("a valid VAE config");

    let vb = VarBuilder::<B>::random(device, FloatDType::F32);
    let vae = AutoencoderKL::load(&vae_config, &vb)?;
    save_safetensors(dir.join("vae.safetensors"), &export(&vae, &vb.key_map())?)?;

    let vb = VarBuilder::<B>::random(device, FloatDType::F32);
    let unet = UNet2DConditionModel::load(&unet_config, &vb)?;
    save_safetensors(dir.join("unet.safetensors"), &export(&unet, &vb.key_map())?)?;

    // Random (not zero) γ/β convolutions, so that the controls change the UNet's output and
    // a test can see which manifold reached which stage.
    let control_config = ControlConfig::for_unet(&unet);
    for name in ["control_stage1.safetensors", "control_stage2.safetensors"] {
        let control = randomized(control_config.init::<B>(device), 0.05);
        save_module(&control, dir.join(name))?;
    }

    let identity = IResNetShape::tiny();
    let mib_config = MibConfig {
        identity_dim: identity.num_features,
        ..MibConfig::default()
    };
    let qc_stats = QcStats::placeholder(8);
    let mib = randomized(mib_config.init::<B>(&qc_stats, device)?, 0.1);
    save_module(&mib, dir.join("mib.safetensors"))?;

    save_safetensors(
        dir.join("identity.safetensors"),
        &identity.random_state_dict(&mut rng),
    )?;

    let context: Vec<f32> = (0..77 * unet_config.cross_attention_dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let mut tensors = BTreeMap::new();
    tensors.insert(
        CONTEXT_KEY.to_string(),
        TensorData::new(context, [1, 77, unet_config.cross_attention_dim]),
    );
    save_safetensors(dir.join("context.safetensors"), &tensors)?;

    let config = BundleConfig::standard(BundleParts {
        unet_config,
        vae_config,
        image_size: TINY_IMAGE_SIZE,
        control_config,
        mib_config,
        qc_stats,
        identity_kind: Some("arcface_iresnet".into()),
        random_weights: true,
        provenance: BTreeMap::from([
            ("source".into(), "random weights (tiny bundle)".into()),
            ("seed".into(), seed.to_string()),
        ]),
    });
    config.save(dir)?;
    Ok(config)
}

/// Adds N(0, `std`²) noise to every float parameter of `module` except the bottleneck's
/// frozen QC statistics (`qc_mean`, `qc_std`), which must stay the statistics they are.
///
/// The frozen ones are found by name: outside an autodiff backend every parameter reports
/// `is_require_grad() == false`, so that flag cannot tell them apart here.
pub(crate) fn randomized<B: Backend, M: Module<B>>(module: M, std: f64) -> M {
    const FROZEN: [&str; 2] = ["qc_mean", "qc_std"];
    struct Noise {
        std: f64,
    }
    impl<B: Backend> PathMapper<B> for Noise {
        fn map_float<const D: usize>(
            &mut self,
            path: &str,
            param: Param<Tensor<B, D>>,
        ) -> Param<Tensor<B, D>> {
            // The parameter's own name, the last of its path.
            if path
                .rsplit('.')
                .next()
                .is_some_and(|name| FROZEN.contains(&name))
            {
                return param;
            }
            let (id, tensor, mapper) = param.consume();
            let noise = Tensor::random(
                tensor.shape(),
                Distribution::Normal(0.0, self.std),
                (&tensor.device(), tensor.dtype()),
            );
            Param::from_mapped_value(id, tensor + noise, mapper)
        }
    }
    map_with_paths(module, &mut Noise { std })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec().unwrap()
    }

    /// On a plain (non-autodiff) backend too: the zero-initialised γ/β convolutions get
    /// random weights, and the bottleneck's QC statistics stay as given.
    #[test]
    fn randomized_moves_trainable_weights_and_keeps_qc_statistics() {
        let device = Default::default();
        let unet = UNet2DConditionModel::<Flex>::load(
            &UNetConfig::from_json(TINY_UNET).unwrap(),
            &VarBuilder::random(&device, FloatDType::F32),
        )
        .unwrap();
        let control = ControlConfig::for_unet(&unet).init::<Flex>(&device);
        assert!(
            values(control.gamma[0].weight.val())
                .iter()
                .all(|&v| v == 0.0)
        );
        let control = randomized(control, 0.05);
        for conv in control.gamma.iter().chain(&control.beta) {
            assert!(values(conv.weight.val()).iter().any(|&v| v != 0.0));
        }

        let stats = QcStats {
            mean: vec![0.5; 8],
            std: vec![2.0; 8],
            count: 0,
            images: 0,
        };
        let mib = MibConfig::default().init::<Flex>(&stats, &device).unwrap();
        let before = values(mib.filter.conv.weight.val());
        let mib = randomized(mib, 0.1);
        assert_eq!(values(mib.qc_mean.val()), vec![0.5; 8]);
        assert_eq!(values(mib.qc_std.val()), vec![2.0; 8]);
        assert_ne!(values(mib.filter.conv.weight.val()), before);
    }
}
