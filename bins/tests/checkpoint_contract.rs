//! The checkpoint contract between trainer and restorer (`diffmac_io::checkpoint`), end to end:
//! the trainer writes real checkpoints of both stages, and the restorer's merge reads every
//! field of the contract from them and builds the bundle those fields ask for.

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use diffmac::backend::DefaultBackend as B;
use diffmac::io::checkpoint::{
    CONTROL_FILE, LATEST_FILE, MIB_FILE, OPTIMIZER_FILE, STATE_FILE, Stage2Variant, UNET_FILE,
    UnetOrigin,
};
use diffmac::io::sha256_file;
use diffmac::ldm::{ControlConfig, ManifoldInput, TrainableParts};
use diffmac::mib::{InjectionKind, MibConfig};
use diffmac::restore::BundleConfig;
use diffmac::restore::bundle::convert::{merge_checkpoint, read_checkpoint_state};
use diffmac::restore::bundle::write_tiny_bundle;
use diffmac::train::checkpoint::{latest_checkpoint, read_state};
use diffmac::train::{Stage, TrainConfig, TrainOptions, train};
use serde::Deserialize;

fn sample_faces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/faces")
}

/// A tiny run of 2 steps, without validation images.
fn tiny_config(stage: Stage) -> TrainConfig {
    let mut c = TrainConfig::tiny(stage);
    c.data.hq_dir = sample_faces();
    c.steps = Some(2);
    c.logging.validate_every = 0;
    c.stage2.sampler_steps = 2;
    c
}

/// Trains `config` into `run_dir` and returns its latest checkpoint folder.
fn tiny_run(config: TrainConfig, run_dir: &Path) -> PathBuf {
    let options = TrainOptions {
        run_dir: run_dir.to_path_buf(),
        resume: false,
    };
    train::<Autodiff<B>>(config, &options, &Default::default(), &mut |_| {}).unwrap();
    latest_checkpoint(run_dir).unwrap().unwrap()
}

/// What merge reads of the run in `run_dir` (through its `latest` file) is what the trainer
/// says it wrote, field by field.
fn contract_of(run_dir: &Path, folder: &Path) -> diffmac::io::checkpoint::CheckpointState {
    let read = read_checkpoint_state(&run_dir.join("checkpoints")).unwrap();
    let written = read_state(folder).unwrap();
    assert_eq!(read, written.checkpoint_state());
    assert_eq!(read.stage, Some(written.stage.number()));
    assert_eq!(read.step, Some(written.step));
    assert_eq!(read.unet_origin, written.unet_origin);
    assert_eq!(read.config.stage2.variant, written.config.stage2.variant);
    assert_eq!(
        read.config.stage2.stage1_checkpoint,
        written.config.stage2.stage1_checkpoint
    );
    let control = ControlConfig::deserialize(read.config.control.as_ref().unwrap()).unwrap();
    assert_eq!(control, written.config.control);
    let mib = MibConfig::deserialize(read.config.mib.as_ref().unwrap()).unwrap();
    assert_eq!(mib, written.config.mib);
    read
}

/// Three runs cover every kind of UNet origin and two Stage II variants: Stage I training its
/// UNet (`own`), Stage II on Stage I's frozen UNet (`stage1`, MIB variant, its own control and
/// bottleneck settings), and a "no1" Stage II on the base UNet (`base`).
#[test]
fn merge_reads_every_field_of_the_checkpoints_the_trainer_writes() {
    let device = Default::default();
    let work = tempfile::tempdir().unwrap();
    let model = work.path().join("model");
    write_tiny_bundle::<B>(&model, 3, false, &device).unwrap();
    let (run1, run2, run3) = (
        work.path().join("run1"),
        work.path().join("run2"),
        work.path().join("run3"),
    );

    // Stage I: control and UNet trained.
    let stage1 = tiny_config(Stage::One);
    assert_eq!(stage1.control.trainable, TrainableParts::ControlAndUNet);
    let ck1 = tiny_run(stage1, &run1);
    for file in [CONTROL_FILE, UNET_FILE, OPTIMIZER_FILE, STATE_FILE] {
        assert!(ck1.join(file).is_file(), "{file}");
    }
    let latest = std::fs::read_to_string(run1.join("checkpoints").join(LATEST_FILE)).unwrap();
    assert_eq!(ck1, run1.join("checkpoints").join(latest.trim()));
    let read = contract_of(&run1, &ck1);
    assert_eq!(read.stage, Some(1));
    assert_eq!(read.step, Some(2));
    assert_eq!(read.unet_origin, Some(UnetOrigin::Own));
    assert_eq!(read.config.stage2.variant, Stage2Variant::Mib);
    let stage1_unet = sha256_file(&ck1.join(UNET_FILE)).unwrap();

    // Stage II (MIB) on Stage I's frozen UNet, with settings other than the defaults.
    let mut stage2 = tiny_config(Stage::Two);
    stage2.control.trainable = TrainableParts::Control;
    stage2.control.input = ManifoldInput::Mean;
    stage2.control.eps = 1e-6;
    stage2.mib.injection = InjectionKind::Noise;
    stage2.mib.lambda_info = 0.002;
    stage2.stage2.stage1_checkpoint = Some(ck1.clone());
    let ck2 = tiny_run(stage2, &run2);
    assert!(ck2.join(MIB_FILE).is_file() && !ck2.join(UNET_FILE).exists());
    let read = contract_of(&run2, &ck2);
    assert_eq!(read.stage, Some(2));
    assert_eq!(read.step, Some(2));
    let Some(UnetOrigin::Stage1 { file, sha256 }) = &read.unet_origin else {
        panic!("{:?}", read.unet_origin);
    };
    assert_eq!(file, &ck1.join(UNET_FILE).canonicalize().unwrap());
    assert_eq!(sha256, &stage1_unet);
    assert_eq!(read.config.stage2.variant, Stage2Variant::Mib);
    assert_eq!(read.config.stage2.stage1_checkpoint, Some(ck1.clone()));
    let control = read.config.control.as_ref().unwrap();
    assert_eq!(control["input"], "mean");
    assert_eq!(control["eps"], 1e-6);
    let mib = read.config.mib.as_ref().unwrap();
    assert_eq!(mib["injection"], "noise");
    assert_eq!(mib["lambda_info"], 0.002);

    // A "no1" Stage II: no Stage I, so the base UNet.
    let mut no1 = tiny_config(Stage::Two);
    no1.control.trainable = TrainableParts::Control;
    no1.stage2.variant = Stage2Variant::NoStage1;
    let ck3 = tiny_run(no1, &run3);
    let read = contract_of(&run3, &ck3);
    assert_eq!(read.stage, Some(2));
    assert_eq!(read.unet_origin, Some(UnetOrigin::Base));
    assert_eq!(read.config.stage2.variant, Stage2Variant::NoStage1);
    assert_eq!(read.config.stage2.stage1_checkpoint, None);

    // Merge, stage from the state: each field shows in the bundle.
    let base_unet = sha256_file(&model.join("unet.safetensors")).unwrap();
    let unet_of = |config: &BundleConfig, stage: u8| {
        let files = if stage == 1 {
            &config.stage1
        } else {
            config.stage2.as_ref().unwrap()
        };
        sha256_file(&model.join(&files.unet)).unwrap()
    };
    let merged = merge_checkpoint::<B>(&model, &run1, None, &device).unwrap();
    assert!(merged.stage1.trained && !merged.stage2.as_ref().unwrap().trained);
    assert_eq!(unet_of(&merged, 1), stage1_unet);

    let merged = merge_checkpoint::<B>(&model, &run2, None, &device).unwrap();
    let s2 = merged.stage2.as_ref().unwrap();
    assert!(s2.trained);
    assert_eq!(merged.stage2_variant, Stage2Variant::Mib);
    assert_eq!(s2.control_config.input, ManifoldInput::Mean);
    assert_eq!(s2.control_config.eps, 1e-6);
    let mib = &merged.mib.as_ref().unwrap().config;
    assert_eq!(mib.injection, InjectionKind::Noise);
    assert_eq!(mib.lambda_info, 0.002);
    // `unet_origin: stage1`: Stage II runs on Stage I's UNet, already in the bundle.
    assert_eq!(s2.unet, merged.stage1.unet);
    assert_eq!(unet_of(&merged, 2), stage1_unet);

    let merged = merge_checkpoint::<B>(&model, &run3, None, &device).unwrap();
    assert_eq!(merged.stage2_variant, Stage2Variant::NoStage1);
    let input = merged.stage2.as_ref().unwrap().control_config.input;
    assert_eq!(input, ManifoldInput::default());
    // `unet_origin: base`.
    assert_eq!(unet_of(&merged, 2), base_unet);
    assert_eq!(unet_of(&merged, 1), stage1_unet);
}
