//! Train → merge → restore, through the library: tiny runs of both training stages on the
//! sample faces are merged into the tiny bundle, which then restores with the trained stages.

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::tensor::FloatDType;
use diffmac::backend::DefaultBackend as B;
use diffmac::io::{DEFAULT_MAX_PIXELS, load_image, sha256_file};
use diffmac::ldm::TrainableParts;
use diffmac::restore::bundle::convert::merge_checkpoint;
use diffmac::restore::bundle::write_tiny_bundle;
use diffmac::restore::faces::restore_aligned_seeded;
use diffmac::restore::{BundleConfig, ModelBundle, Quiet, RestoreOptions, Restorer};
use diffmac::train::checkpoint::latest_checkpoint;
use diffmac::train::config::IdentitySource;
use diffmac::train::{Stage, TrainConfig, TrainOptions, train};
use image::Rgb32FImage;

fn sample_faces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/faces")
}

/// A tiny training run of `steps` steps into `run_dir`.
fn tiny_run(config: TrainConfig, run_dir: &Path) {
    let options = TrainOptions {
        run_dir: run_dir.to_path_buf(),
        resume: false,
    };
    train::<Autodiff<B>>(config, &options, &Default::default(), &mut |_| {}).unwrap();
}

fn tiny_config(stage: Stage) -> TrainConfig {
    let mut c = TrainConfig::tiny(stage);
    c.data.hq_dir = sample_faces();
    c.steps = Some(2);
    c.logging.validate_every = 0;
    c.stage2.sampler_steps = 2;
    c
}

/// The astronaut restored by the bundle in `model` (2 + 2 steps, seed 5).
fn restore_astronaut(model: &Path) -> Rgb32FImage {
    let device = Default::default();
    let bundle = ModelBundle::<B>::load(model, &device, FloatDType::F32).unwrap();
    let options = RestoreOptions {
        stage1_steps: 2,
        stage2_steps: 2,
        ..RestoreOptions::default()
    };
    let restorer = Restorer::new(&bundle, options).unwrap();
    let face = load_image(&sample_faces().join("astronaut.png"), DEFAULT_MAX_PIXELS)
        .unwrap()
        .rgb;
    let mut out = restore_aligned_seeded(&restorer, &[face], None, &[5], &mut Quiet).unwrap();
    out.remove(0).output
}

#[test]
fn both_trained_stages_merge_into_a_bundle_that_restores_with_them() {
    let device = Default::default();
    let work = tempfile::tempdir().unwrap();
    let (untrained, model) = (work.path().join("untrained"), work.path().join("model"));
    write_tiny_bundle::<B>(&untrained, 3, false, &device).unwrap();
    write_tiny_bundle::<B>(&model, 3, false, &device).unwrap();
    assert!(!BundleConfig::load(&model).unwrap().stage1.trained);

    let (run1, run2) = (work.path().join("run1"), work.path().join("run2"));
    tiny_run(tiny_config(Stage::One), &run1);
    let mut stage2 = tiny_config(Stage::Two);
    // The Stage I run folder stands for its latest checkpoint.
    stage2.stage2.stage1_checkpoint = Some(run1.clone());
    tiny_run(stage2, &run2);

    for run in [&run1, &run2] {
        merge_checkpoint::<B>(&model, &run.join("checkpoints"), None, &device).unwrap();
    }
    let config = BundleConfig::load(&model).unwrap();
    assert!(config.stage1.trained);
    assert!(config.stage2.as_ref().is_some_and(|s| s.trained));

    let trained = restore_astronaut(&model);
    let before = restore_astronaut(&untrained);
    assert_eq!(trained.dimensions(), (512, 512));
    assert!(trained.iter().all(|v| v.is_finite()));
    // Same seed, same random base: only the merged stages can make the difference.
    let differ = trained
        .iter()
        .zip(before.iter())
        .filter(|(a, b)| (*a - *b).abs() > 1e-4)
        .count();
    assert!(
        differ > trained.len() / 10,
        "{differ} of {} values differ",
        trained.len()
    );
}

/// The bundle file each stage runs its UNet from, by content.
fn stage_unets(model: &Path) -> (String, String) {
    let config = BundleConfig::load(model).unwrap();
    let sha = |name: &str| sha256_file(&model.join(name)).unwrap();
    (
        sha(&config.stage1.unet),
        sha(&config.stage2.as_ref().unwrap().unet),
    )
}

/// Stage I trains the UNet, Stage II keeps it frozen: Stage II trained on Stage I's UNet, and
/// the merged bundle must run it on that UNet, not the base one, whatever the merge order and
/// even after Stage I is merged again from another run.
#[test]
fn a_stage_ii_with_a_frozen_unet_runs_on_the_unet_it_was_trained_with() {
    let device = Default::default();
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    write_tiny_bundle::<B>(&model, 3, false, &device).unwrap();
    let base = sha256_file(&model.join("unet.safetensors")).unwrap();

    let (run1, run2) = (work.path().join("run1"), work.path().join("run2"));
    let stage1 = tiny_config(Stage::One);
    assert_eq!(stage1.control.trainable, TrainableParts::ControlAndUNet);
    tiny_run(stage1.clone(), &run1);
    let stage1_checkpoint = latest_checkpoint(&run1).unwrap().unwrap();
    let stage1_unet = sha256_file(&stage1_checkpoint.join("unet.safetensors")).unwrap();
    assert_ne!(stage1_unet, base);
    let mut stage2 = tiny_config(Stage::Two);
    stage2.control.trainable = TrainableParts::Control;
    stage2.stage2.stage1_checkpoint = Some(stage1_checkpoint.clone());
    tiny_run(stage2, &run2);
    let stage2_checkpoint = latest_checkpoint(&run2).unwrap().unwrap();
    assert!(!stage2_checkpoint.join("unet.safetensors").exists());

    // Stage II merged first: its UNet is copied in from the Stage I checkpoint.
    merge_checkpoint::<B>(&model, &run2.join("checkpoints"), None, &device).unwrap();
    assert_eq!(stage_unets(&model), (base.clone(), stage1_unet.clone()));
    // Stage I merged next: both stages share one file.
    merge_checkpoint::<B>(&model, &run1.join("checkpoints"), None, &device).unwrap();
    assert_eq!(
        stage_unets(&model),
        (stage1_unet.clone(), stage1_unet.clone())
    );
    let config = BundleConfig::load(&model).unwrap();
    assert_eq!(config.stage1.unet, config.stage2.as_ref().unwrap().unet);

    // Another Stage I run replaces Stage I's UNet; Stage II keeps the one it trained with.
    let run3 = work.path().join("run3");
    let mut other = stage1;
    other.seed += 1;
    tiny_run(other, &run3);
    merge_checkpoint::<B>(&model, &run3.join("checkpoints"), None, &device).unwrap();
    let (s1, s2) = stage_unets(&model);
    assert_ne!(s1, stage1_unet);
    assert_eq!(s2, stage1_unet);
    assert!(ModelBundle::<B>::load(&model, &device, FloatDType::F32).is_ok());
}

/// A Stage II trained on one identity width does not merge into a bundle whose identity
/// encoder gives another (ArcFace 512-D against dlib's 128-D in real life), and a bundle
/// edited into that state does not load: both name the two widths.
#[test]
fn identity_widths_must_match_at_merge_and_load() {
    let device = Default::default();
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    write_tiny_bundle::<B>(&model, 3, false, &device).unwrap();

    let run1 = work.path().join("run1");
    tiny_run(tiny_config(Stage::One), &run1);
    let mut stage2 = tiny_config(Stage::Two);
    // So does its `latest` file.
    stage2.stage2.stage1_checkpoint = Some(run1.join("checkpoints/latest"));
    stage2.model.identity = IdentitySource::Random { dim: 16 };
    stage2.mib.identity_dim = 16;
    let run2 = work.path().join("run2");
    tiny_run(stage2, &run2);
    let before = std::fs::read(model.join("config.json")).unwrap();
    let err = merge_checkpoint::<B>(&model, &run2.join("checkpoints"), None, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("32-D") && err.contains("16-D"), "{err}");
    assert_eq!(std::fs::read(model.join("config.json")).unwrap(), before);

    let path = model.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&before).unwrap();
    config["mib"]["config"]["identity_dim"] = 16.into();
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let err = ModelBundle::<B>::load(&model, &device, FloatDType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("32-D") && err.contains("16-D"), "{err}");
}
