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

    // A stage given explicitly still needs the run's state: a corrupt or missing state.json,
    // or one naming a Stage II variant this build does not know, is refused with its name,
    // and the bundle is left as it was.
    let unknown = r#"{"stage": 1, "config": {"stage2": {"variant": "three_adain"}}}"#;
    for state in [Some("{\"stage\": 1, \"config\": "), Some(unknown), None] {
        match state {
            Some(text) => fs::write(folder.join("state.json"), text).unwrap(),
            None => fs::remove_file(folder.join("state.json")).unwrap(),
        }
        let err = merge_checkpoint::<B>(dir.path(), &folder, Some(1), &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("state.json"), "{err}");
        assert_eq!(fs::read(dir.path().join("config.json")).unwrap(), before);
    }
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
    let file = diffmac_io::SafetensorsFile::from_tensors("r50".into(), &tensors).unwrap();
    let net = diffmac_id::IResNet::<B>::from_file(&file, &Default::default()).unwrap();
    let face = burn::tensor::Tensor::<B, 4>::zeros([1, 3, 112, 112], &Default::default());
    use diffmac_id::IdentityEncoder;
    assert_eq!(net.embed(face).dims(), [1, 512]);
}

#[test]
fn an_in_memory_random_bundle_runs_the_pipeline() {
    use diffmac_restore::bundle::{Preset, random_bundle};
    let device = Default::default();
    let bundle = random_bundle::<B>(Preset::Tiny, 0, &device, FloatDType::F32).unwrap();
    let out = restore_one_step(&bundle);
    assert_eq!(out.output().dims(), [1, 3, 64, 64]);
}

/// A black 64² face restored with one step per stage.
fn restore_one_step(bundle: &ModelBundle<B>) -> diffmac_restore::Restored<B> {
    use diffmac_restore::{Quiet, RestoreOptions, Restorer};
    let options = RestoreOptions {
        stage1_steps: 1,
        stage2_steps: 1,
        ..RestoreOptions::default()
    };
    let restorer = Restorer::new(bundle, options).unwrap();
    let face = burn::tensor::Tensor::<B, 4>::zeros([1, 3, 64, 64], &Default::default());
    restorer.restore(face, None, 0, &mut Quiet).unwrap()
}

/// A fake diffmac-train Stage II checkpoint folder: a trained (random) control and a
/// `state.json` whose run config names `variant`, plus `mib` when given.
fn stage2_checkpoint(
    config: &BundleConfig,
    variant: &str,
    mib: Option<&diffmac_mib::MibConfig>,
) -> (
    tempfile::TempDir,
    std::collections::BTreeMap<String, Vec<f32>>,
) {
    use burn::tensor::{Distribution, Tensor};
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let mut control = config
        .stage2
        .as_ref()
        .unwrap()
        .control_config
        .init::<B>(&device);
    // Non-zero γ so that the merged control is told from the bundle's zero ones.
    let shape = control.gamma[0].weight.val().shape();
    control.gamma[0].weight = burn::module::Param::from_tensor(Tensor::random(
        shape,
        Distribution::Normal(0.0, 1.0),
        &device,
    ));
    save_module(&control, dir.path().join("control.safetensors")).unwrap();
    let mut state = serde_json::json!({"stage": 2, "config": {"stage2": {"variant": variant}}});
    if let Some(mib) = mib {
        state["config"]["mib"] = serde_json::to_value(mib).unwrap();
        let stats = config.mib.as_ref().unwrap().qc_stats.clone();
        save_module(
            &mib.init::<B>(&stats, &device).unwrap(),
            dir.path().join("mib.safetensors"),
        )
        .unwrap();
    }
    fs::write(dir.path().join("state.json"), state.to_string()).unwrap();
    let tensors = module_tensors(&control)
        .into_iter()
        .map(|(k, v)| (k, v.to_vec::<f32>().unwrap()))
        .collect();
    (dir, tensors)
}

#[test]
fn a_two_adain_stage_two_checkpoint_merges_into_a_bundle_without_a_bottleneck() {
    use diffmac_restore::bundle::Stage2Variant;
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let config = write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let (checkpoint, trained) = stage2_checkpoint(&config, "two_adain", None);

    let merged = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device).unwrap();
    assert_eq!(merged.stage2_variant, Stage2Variant::TwoAdain);
    assert!(merged.mib.is_none() && merged.stage2.as_ref().unwrap().trained);
    let note = &merged.provenance["stage2_mib"];
    assert!(
        note.contains("2AdaIN") && note.contains("mib.safetensors"),
        "{note}"
    );
    assert!(!dir.path().join("mib.safetensors").exists());
    assert_eq!(BundleConfig::load(dir.path()).unwrap(), merged);

    let bundle = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32).unwrap();
    assert!(bundle.mib.is_none());
    let got = module_tensors(&bundle.stage2.as_ref().unwrap().control);
    assert_eq!(trained.len(), got.len());
    for (k, v) in &trained {
        assert_eq!(v, &got[k].to_vec::<f32>().unwrap(), "{k}");
    }
    let out = restore_one_step(&bundle);
    assert_eq!(out.stage2.unwrap().dims(), [1, 3, 64, 64]);

    // A later MIB-variant Stage II brings its bottleneck back, with its trained settings.
    let mib = diffmac_mib::MibConfig {
        identity_dim: 32,
        injection: diffmac_mib::InjectionKind::Noise,
        ..Default::default()
    };
    let (checkpoint, _) = stage2_checkpoint(&config, "mib", Some(&mib));
    let merged = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device).unwrap();
    assert_eq!(merged.stage2_variant, Stage2Variant::Mib);
    assert_eq!(merged.mib.as_ref().unwrap().config, mib);
    assert!(!merged.provenance.contains_key("stage2_mib"));
    let bundle = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32).unwrap();
    assert!(bundle.mib.is_some());
}

/// A "no1" Stage II (trained on `X_LQ`, without Stage I) makes a bundle that says so, and the
/// merged control keeps the settings it was trained with (here: it read the posterior mean).
#[test]
fn a_no_stage1_checkpoint_merges_with_its_variant_and_its_control_settings() {
    use diffmac_ldm::ManifoldInput;
    use diffmac_restore::bundle::Stage2Variant;
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let config = write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let bundle_control = config.stage2.as_ref().unwrap().control_config.clone();
    assert_eq!(bundle_control.input, ManifoldInput::Sample);
    let mib = diffmac_mib::MibConfig {
        identity_dim: 32,
        ..Default::default()
    };
    let (checkpoint, _) = stage2_checkpoint(&config, "no_stage1", Some(&mib));
    // As diffmac-train writes it: the run's control settings, with SD's widths (the trainer
    // takes the real ones from the UNet it loads).
    let state_path = checkpoint.path().join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&state_path).unwrap()).unwrap();
    // Settings this build cannot read are an error naming the file, not silently replaced.
    state["config"]["control"] = serde_json::json!({"input": "median"});
    fs::write(&state_path, state.to_string()).unwrap();
    let before = fs::read(dir.path().join("config.json")).unwrap();
    let err = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&state_path.display().to_string()) && err.contains("config.control"),
        "{err}"
    );
    assert_eq!(fs::read(dir.path().join("config.json")).unwrap(), before);
    state["config"]["control"] = serde_json::json!({"input": "mean", "eps": 1e-6});
    fs::write(&state_path, state.to_string()).unwrap();

    let merged = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device).unwrap();
    assert_eq!(merged.stage2_variant, Stage2Variant::NoStage1);
    assert_eq!(merged.mib.as_ref().unwrap().config, mib);
    let control = &merged.stage2.as_ref().unwrap().control_config;
    assert_eq!(control.input, ManifoldInput::Mean);
    assert_eq!(control.eps, 1e-6);
    assert_eq!(control.encoder_channels, bundle_control.encoder_channels);
    assert_eq!(control.latent_channels, bundle_control.latent_channels);
    // Stage I keeps its own settings.
    assert_eq!(merged.stage1.control_config, config.stage1.control_config);
    let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(text.contains(r#""stage2_variant": "no_stage1""#), "{text}");
    let bundle = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32).unwrap();
    assert!(bundle.mib.is_some());
    assert_eq!(bundle.config, merged);

    // A no1 Stage II without its bottleneck is refused, as a MIB one is.
    let mut lost = merged.clone();
    lost.mib = None;
    lost.save(dir.path()).unwrap();
    let err = BundleConfig::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("mib is missing"), "{err}");
}

#[test]
fn a_mib_variant_stage_two_checkpoint_without_its_bottleneck_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let config = write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let before = fs::read(dir.path().join("config.json")).unwrap();
    for variant in ["mib", "no_stage1"] {
        let (checkpoint, _) = stage2_checkpoint(&config, variant, None);
        let err = merge_checkpoint::<B>(dir.path(), checkpoint.path(), None, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                &checkpoint
                    .path()
                    .join("mib.safetensors")
                    .display()
                    .to_string()
            ),
            "{err}"
        );
        assert_eq!(fs::read(dir.path().join("config.json")).unwrap(), before);
        assert!(dir.path().join("mib.safetensors").exists());
    }
}

#[test]
fn bundle_configs_say_which_stage_two_they_have() {
    use diffmac_restore::bundle::Stage2Variant;
    let dir = tempfile::tempdir().unwrap();
    let config = write_tiny_bundle::<B>(dir.path(), 1, false, &Default::default()).unwrap();
    // MIB bundles are written as before the variant existed, so older builds read them.
    let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(!text.contains("stage2_variant"), "{text}");
    assert_eq!(config.stage2_variant, Stage2Variant::Mib);

    let save = |c: &BundleConfig| {
        c.save(dir.path()).unwrap();
        BundleConfig::load(dir.path())
    };
    // A Stage II that needs its bottleneck but lacks one is not taken for a 2AdaIN one.
    let mut lost = config.clone();
    lost.mib = None;
    let err = save(&lost).unwrap_err().to_string();
    assert!(
        err.contains("mib is missing") && err.contains("two_adain"),
        "{err}"
    );
    let mut both = config.clone();
    both.stage2_variant = Stage2Variant::TwoAdain;
    let err = save(&both).unwrap_err().to_string();
    assert!(err.contains("no bottleneck"), "{err}");
    let mut two = both;
    two.mib = None;
    assert_eq!(save(&two).unwrap(), two);
    let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(text.contains(r#""stage2_variant": "two_adain""#), "{text}");
}
