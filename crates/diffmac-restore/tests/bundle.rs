//! Bundle loading, validation, merging and lookup.

use std::fs;

use burn::backend::Flex;
use burn::tensor::FloatDType;
use diffmac_ldm::{module_tensors, save_module};
use diffmac_restore::ModelBundle;
use diffmac_restore::bundle::convert::merge_checkpoint;
use diffmac_restore::bundle::{BundleConfig, resolve_model_dir, write_tiny_bundle};

type B = Flex;

#[test]
fn every_problem_of_a_damaged_bundle_is_reported_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    // Truncate the VAE, remove the bottleneck, and put a wrong-shaped control in place.
    let vae = dir.path().join("vae.safetensors");
    let bytes = fs::read(&vae).unwrap();
    fs::write(&vae, &bytes[..bytes.len() / 2]).unwrap();
    fs::remove_file(dir.path().join("mib.safetensors")).unwrap();
    let config = BundleConfig::load(dir.path()).unwrap();
    let mut other = config.stage1.control_config.clone();
    other.encoder_channels[0] *= 2;
    save_module(
        &other.init::<B>(&device),
        dir.path().join("control_stage2.safetensors"),
    )
    .unwrap();

    let err = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(err.contains("vae.safetensors"), "{err}");
    assert!(err.contains("mib.safetensors"), "{err}");
    assert!(
        err.contains("control_stage2.safetensors") && err.contains("has shape"),
        "{err}"
    );
}

#[test]
fn a_bundle_loads_in_the_precision_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let bundle = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F16).unwrap();
    assert_eq!(bundle.context.dtype(), burn::tensor::DType::F16);
    assert_eq!(
        bundle.stage1.control.gamma[0].weight.val().dtype(),
        burn::tensor::DType::F16
    );
}

#[test]
fn the_tiny_bundle_is_not_overwritten_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let err = write_tiny_bundle::<B>(dir.path(), 2, false, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn a_trained_stage_checkpoint_merges_into_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let config = write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    assert!(!config.stage1.trained);

    let checkpoint = tempfile::tempdir().unwrap();
    let trained = config.stage1.control_config.init::<B>(&device);
    save_module(&trained, checkpoint.path().join("control.safetensors")).unwrap();
    fs::write(
        checkpoint.path().join("state.json"),
        r#"{"stage": 1, "step": 10}"#,
    )
    .unwrap();

    // As diffmac-train lays it out: checkpoints/step-…/ and a `latest` file naming it.
    let folder = checkpoint.path().join("step-0000010");
    fs::create_dir(&folder).unwrap();
    for f in ["control.safetensors", "state.json"] {
        fs::rename(checkpoint.path().join(f), folder.join(f)).unwrap();
    }
    fs::write(checkpoint.path().join("latest"), "step-0000010\n").unwrap();
    let merged = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device).unwrap();
    assert!(merged.stage1.trained);
    let bundle = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32).unwrap();
    let want = module_tensors(&trained);
    let got = module_tensors(&bundle.stage1.control);
    assert_eq!(want.len(), got.len());
    for (k, v) in &want {
        assert_eq!(v, &got[k], "{k}");
    }

    // A Stage II checkpoint without its bottleneck is refused and changes nothing.
    fs::write(folder.join("state.json"), r#"{"stage": 2}"#).unwrap();
    let before = fs::read(dir.path().join("config.json")).unwrap();
    let err = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mib.safetensors"), "{err}");
    assert_eq!(fs::read(dir.path().join("config.json")).unwrap(), before);
}

#[test]
fn a_missing_model_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = resolve_model_dir(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("diffmac-convert tiny"), "{err}");
    assert!(err.contains("--model"), "{err}");
}

#[test]
fn random_iresnet_state_dicts_have_arcface_s_layout() {
    use diffmac_restore::bundle::random::IResNetShape;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let tensors = IResNetShape::iresnet50().random_state_dict(&mut rng);
    // Trainable parameters only (running statistics excluded), as the config counts them.
    let params: usize = tensors
        .iter()
        .filter(|(k, _)| !k.contains("running_"))
        .map(|(_, v)| v.num_elements())
        .sum();
    assert_eq!(
        params,
        diffmac_id::IResNetConfig::iresnet50().num_parameters()
    );
    let bytes = diffmac_ldm::loader::safetensors_bytes(&tensors).unwrap();
    let net =
        diffmac_id::IResNet::<B>::from_bytes(&bytes, "r50".as_ref(), &Default::default()).unwrap();
    let face = burn::tensor::Tensor::<B, 4>::zeros([1, 3, 112, 112], &Default::default());
    use diffmac_id::IdentityEncoder;
    assert_eq!(net.embed(face).dims(), [1, 512]);
}

#[test]
fn an_in_memory_random_bundle_runs_the_pipeline() {
    use diffmac_restore::bundle::{Preset, random_bundle};
    use diffmac_restore::{Quiet, RestoreOptions, Restorer};
    let device = Default::default();
    let bundle = random_bundle::<B>(Preset::Tiny, 0, &device, FloatDType::F32).unwrap();
    let options = RestoreOptions {
        stage1_steps: 1,
        stage2_steps: 1,
        ..RestoreOptions::default()
    };
    let restorer = Restorer::new(&bundle, options).unwrap();
    let face = burn::tensor::Tensor::<B, 4>::zeros([1, 3, 64, 64], &device);
    let out = restorer.restore(face, None, 0, &mut Quiet).unwrap();
    assert_eq!(out.output().dims(), [1, 3, 64, 64]);
}
