//! End-to-end tiny training on the CPU backend: both stages on the bundled sample faces,
//! exact stop/resume, checkpoint layout, loss falling when over-fitting.

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::tensor::FloatDType;
use diffmac_io::SafetensorsFile;
use diffmac_ldm::{
    ControlConfig, ManifoldInput, UNet2DConditionModel, VarBuilder, load_module_file,
};
use diffmac_train::checkpoint::{latest_checkpoint, read_state};
use diffmac_train::config::{ModelSource, Stage2Variant, XD1Mode};
use diffmac_train::metrics::read_metrics;
use diffmac_train::models::{TINY_UNET_CONFIG, model_configs, seeded};
use diffmac_train::{Event, Stage, TrainConfig, TrainOptions, train};

type AB = Autodiff<Flex>;

fn faces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/faces")
}

fn tiny(stage: Stage, steps: usize) -> TrainConfig {
    let mut c = TrainConfig::tiny(stage);
    c.data.hq_dir = faces();
    c.steps = Some(steps);
    c.seed = 11;
    c
}

fn run(config: TrainConfig, dir: &Path, resume: bool) -> diffmac_train::TrainSummary {
    let options = TrainOptions {
        run_dir: dir.to_path_buf(),
        resume,
    };
    train::<AB>(config, &options, &Default::default(), &mut |_e: Event<
        '_,
    >| {})
    .unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn stage1_stop_and_resume_equals_an_uninterrupted_run() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut config = tiny(Stage::One, 4);
    config.checkpoint.every = 2;
    config.checkpoint.keep_last = 0;
    config.logging.validate_every = 0;
    config.optimizer.accumulation = 2;
    config.optimizer.grad_clip_norm = Some(1.0);
    config.optimizer.warmup_steps = 3;
    config.optimizer.ema_decay = Some(0.9);
    run(config.clone(), a.path(), false);

    let mut half = config.clone();
    half.steps = Some(2);
    let s = run(half, b.path(), false);
    assert_eq!(s.last_step, 2);
    // A fresh run into a folder with checkpoints is refused.
    let err = train::<AB>(
        config.clone(),
        &TrainOptions {
            run_dir: b.path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("--resume"), "{err}");
    // A run killed while writing step 3 leaves a temporary folder and an older `latest`.
    let stray = b.path().join("checkpoints/.tmp-step-0000003-999");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("control.safetensors"), b"half a file").unwrap();
    let latest = latest_checkpoint(b.path()).unwrap().unwrap();
    assert!(latest.ends_with("step-0000002"));
    let s = run(config, b.path(), true);
    assert_eq!((s.first_step, s.last_step), (2, 4));
    assert!(!stray.exists(), "leftovers are removed");
    // A `latest` naming a folder that is not a complete checkpoint is an error, not a resume
    // from garbage.
    let c = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(c.path().join("checkpoints/step-0000001")).unwrap();
    std::fs::write(c.path().join("checkpoints/latest"), "step-0000001\n").unwrap();
    let err = latest_checkpoint(c.path()).unwrap_err().to_string();
    assert!(err.contains("not a complete checkpoint"), "{err}");

    let ma = read_metrics(&a.path().join("metrics.jsonl")).unwrap();
    let mb = read_metrics(&b.path().join("metrics.jsonl")).unwrap();
    assert_eq!(ma.len(), 4);
    eprintln!(
        "{:?}\n{:?}",
        ma.iter().map(|r| r.loss).collect::<Vec<_>>(),
        mb.iter().map(|r| r.loss).collect::<Vec<_>>()
    );
    assert_eq!(
        ma.iter().map(|r| r.loss).collect::<Vec<_>>(),
        mb.iter().map(|r| r.loss).collect::<Vec<_>>()
    );
    let ca = a.path().join("checkpoints/step-0000004");
    let cb = b.path().join("checkpoints/step-0000004");
    for file in [
        "control.safetensors",
        "unet.safetensors",
        "optimizer.safetensors",
    ] {
        assert!(
            read(&ca.join(file)) == read(&cb.join(file)),
            "{file} differs"
        );
    }
    assert_eq!(ma[0].lr, 1e-3 / 3.0, "warm-up");
    assert!(
        ma.iter()
            .all(|r| r.stage == 1 && r.terms.contains_key("ldm"))
    );
}

#[test]
fn stage1_then_stage2_train_and_checkpoints_load_into_the_restoring_modules() {
    let run1 = tempfile::tempdir().unwrap();
    let config = tiny(Stage::One, 30);
    let mut events = 0;
    let s1 = train::<AB>(
        config,
        &TrainOptions {
            run_dir: run1.path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |e| {
            if matches!(e, Event::Step(_)) {
                events += 1;
            }
        },
    )
    .unwrap();
    assert_eq!(events, 30);
    let m = read_metrics(&run1.path().join("metrics.jsonl")).unwrap();
    let first: f64 = m[..5].iter().map(|r| r.loss).sum::<f64>() / 5.0;
    let last: f64 = m[m.len() - 5..].iter().map(|r| r.loss).sum::<f64>() / 5.0;
    eprintln!("stage I loss: first 5 steps {first:.4}, last 5 steps {last:.4}");
    assert!(last < 0.8 * first, "loss {first} -> {last}");
    assert!(s1.last_loss.unwrap() < s1.first_loss.unwrap());

    // Layout: keep_last 2 of the checkpoints at 10, 20, 30; latest names step 30.
    let ck = latest_checkpoint(run1.path()).unwrap().unwrap();
    assert!(ck.ends_with("step-0000030"));
    let names: Vec<String> = std::fs::read_dir(run1.path().join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.contains(&"step-0000010".to_string()), "{names:?}");
    assert!(names.contains(&"step-0000020".to_string()), "{names:?}");
    assert!(run1.path().join("validation/step-0000030.png").is_file());
    let state = read_state(&ck).unwrap();
    assert_eq!(state.step, 30);
    assert!(state.unet_trained && !state.has_mib);
    assert_eq!(state.data.samples, 60);

    // The checkpoint loads with the ordinary loaders.
    let device = Default::default();
    let (unet_config, _) = model_configs(&state.config.model.source).unwrap();
    let vb = VarBuilder::<Flex>::from_file(
        SafetensorsFile::open(ck.join("unet.safetensors")).unwrap(),
        &device,
        FloatDType::F32,
    );
    let unet = UNet2DConditionModel::load(&unet_config, &vb).unwrap();
    vb.finish().unwrap();
    let control = ControlConfig {
        encoder_channels: unet.encoder_input_channels(),
        ..ControlConfig::default()
    };
    load_module_file(
        seeded::<Flex, _>(&device, 1, || control.init::<Flex>(&device)),
        ck.join("control.safetensors"),
        FloatDType::F32,
    )
    .unwrap();
    assert!(TINY_UNET_CONFIG.contains("CrossAttnDownBlock2D"));

    // Stage II (MIB, identity injection, cached X_D1), then resume it.
    let run2 = tempfile::tempdir().unwrap();
    let mut c2 = tiny(Stage::Two, 4);
    c2.stage2.stage1_checkpoint = Some(ck.clone());
    c2.checkpoint.every = 2;
    let mut cached = 0;
    train::<AB>(
        c2.clone(),
        &TrainOptions {
            run_dir: run2.path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |e| {
            if let Event::Cache { done, .. } = e {
                cached = done;
            }
        },
    )
    .unwrap();
    assert_eq!(cached, 3, "one X_D1 per training image");
    assert_eq!(
        std::fs::read_dir(run2.path().join("x_d1_cache"))
            .unwrap()
            .count(),
        4,
        "3 images + manifest"
    );
    let ck2 = latest_checkpoint(run2.path()).unwrap().unwrap();
    for f in [
        "control.safetensors",
        "mib.safetensors",
        "unet.safetensors",
        "state.json",
    ] {
        assert!(ck2.join(f).is_file(), "{f}");
    }
    assert!(run2.path().join("qc_stats.json").is_file());
    let m2 = read_metrics(&run2.path().join("metrics.jsonl")).unwrap();
    assert!(
        m2.iter()
            .all(|r| r.terms.contains_key("info") && r.terms.contains_key("rec"))
    );
    let mib = seeded::<Flex, _>(&device, 1, || {
        diffmac_mib::MibConfig {
            identity_dim: 32,
            ..Default::default()
        }
        .init::<Flex>(
            &diffmac_mib::QcStats {
                mean: vec![0.0; 8],
                std: vec![1.0; 8],
                count: 0,
                images: 0,
            },
            &device,
        )
    })
    .unwrap();
    let mib = load_module_file(mib, ck2.join("mib.safetensors"), FloatDType::F32).unwrap();
    let stats = mib.qc_stats();
    assert!(stats.std.iter().all(|&s| s >= 0.01) && stats.mean.iter().any(|&m| m != 0.0));
}

#[test]
fn stage2_ablations_run() {
    // "no1" with noise injection needs no Stage I; on-the-fly X_D1 and "2AdaIN" need one.
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(Stage::Two, 2);
    c.stage2.variant = Stage2Variant::NoStage1;
    c.mib.injection = diffmac_mib::InjectionKind::Noise;
    c.mib.lambda_info = 0.1;
    c.logging.validate_every = 1;
    let s = run(c, dir.path(), false);
    assert_eq!(s.last_step, 2);
    assert!(dir.path().join("validation/step-0000002.png").is_file());

    let s1 = tempfile::tempdir().unwrap();
    let mut c1 = tiny(Stage::One, 1);
    c1.control.trainable = diffmac_ldm::TrainableParts::Control;
    let ck = run(c1, s1.path(), false).checkpoint.unwrap();
    assert!(
        !ck.join("unet.safetensors").exists(),
        "frozen UNet is not saved"
    );

    let d2 = tempfile::tempdir().unwrap();
    let mut c2 = tiny(Stage::Two, 1);
    c2.stage2.stage1_checkpoint = Some(ck.clone());
    c2.stage2.variant = Stage2Variant::TwoAdain;
    c2.stage2.x_d1 = XD1Mode::OnTheFly;
    run(c2, d2.path(), false);
    let ck2 = latest_checkpoint(d2.path()).unwrap().unwrap();
    assert!(!ck2.join("mib.safetensors").exists());
    assert!(ck2.join("control.safetensors").is_file());
}

/// A base model that predicts v (SD 2.x-768's kind) is refused before any weight is read:
/// the folder here has configs and a scheduler but no weights at all.
#[test]
fn a_v_prediction_base_model_is_refused() {
    let sd = tempfile::tempdir().unwrap();
    for (sub, config) in [
        ("unet", TINY_UNET_CONFIG),
        ("vae", diffmac_ldm::tiny::TINY_VAE),
        (
            "scheduler",
            r#"{"beta_schedule": "scaled_linear", "prediction_type": "v_prediction"}"#,
        ),
    ] {
        std::fs::create_dir_all(sd.path().join(sub)).unwrap();
        let name = if sub == "scheduler" {
            "scheduler_config.json"
        } else {
            "config.json"
        };
        std::fs::write(sd.path().join(sub).join(name), config).unwrap();
    }
    let mut config = tiny(Stage::One, 1);
    config.model.source = ModelSource::Diffusers {
        dir: sd.path().to_path_buf(),
    };
    let run = tempfile::tempdir().unwrap();
    let err = train::<AB>(
        config,
        &TrainOptions {
            run_dir: run.path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("v_prediction") && err.contains("scheduler_config.json"),
        "{err}"
    );
}

/// Every file of the folder with its bytes.
fn files_of(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.file_name().unwrap().to_owned(), read(&path))
        })
        .collect();
    files.sort();
    files
}

/// `X_D1` is Stage I's output: it is sampled with the control settings Stage I was trained
/// with, not with Stage II's (which may read the manifold differently).
#[test]
fn x_d1_uses_the_control_input_stage_i_was_trained_with() {
    let run1 = tempfile::tempdir().unwrap();
    let mut c1 = tiny(Stage::One, 1);
    c1.control.input = ManifoldInput::Mean;
    c1.logging.validate_every = 0;
    run(c1, run1.path(), false);
    let ck = latest_checkpoint(run1.path()).unwrap().unwrap();

    let caches: Vec<_> = [ManifoldInput::Mean, ManifoldInput::Sample]
        .into_iter()
        .map(|input| {
            let run2 = tempfile::tempdir().unwrap();
            let mut c2 = tiny(Stage::Two, 1);
            c2.stage2.stage1_checkpoint = Some(ck.clone());
            c2.stage2.sampler_steps = 2;
            c2.control.input = input;
            c2.logging.validate_every = 0;
            run(c2, run2.path(), false);
            files_of(&run2.path().join("x_d1_cache"))
        })
        .collect();
    assert_eq!(caches[0].len(), 4, "3 images + manifest");
    assert_eq!(caches[0], caches[1]);
}

/// The Stage I checkpoint the Stage II tests start from (one step, UNet trained).
fn stage1_checkpoint(dir: &Path) -> PathBuf {
    let mut c = tiny(Stage::One, 1);
    c.logging.validate_every = 0;
    run(c, dir, false);
    latest_checkpoint(dir).unwrap().unwrap()
}

/// Stage II stopped and resumed equals the uninterrupted run: losses, weights (control,
/// bottleneck, UNet), moving average and optimiser state; the resumed run reuses its X_D1
/// cache rather than sampling it again.
#[test]
fn stage2_stop_and_resume_equals_an_uninterrupted_run() {
    let s1 = tempfile::tempdir().unwrap();
    let mut config = tiny(Stage::Two, 4);
    config.stage2.stage1_checkpoint = Some(stage1_checkpoint(s1.path()));
    config.stage2.sampler_steps = 2;
    config.checkpoint.every = 2;
    config.checkpoint.keep_last = 0;
    config.logging.validate_every = 0;
    config.optimizer.ema_decay = Some(0.9);
    config.optimizer.grad_clip_norm = Some(1.0);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(config.clone(), a.path(), false);
    let mut half = config.clone();
    half.steps = Some(2);
    run(half, b.path(), false);
    let mut sampled = 0;
    let s = train::<AB>(
        config,
        &TrainOptions {
            run_dir: b.path().to_path_buf(),
            resume: true,
        },
        &Default::default(),
        &mut |e| {
            if let Event::Cache { total, .. } = e {
                sampled = total;
            }
        },
    )
    .unwrap();
    assert_eq!((s.first_step, s.last_step), (2, 4));
    assert_eq!(sampled, 0, "the X_D1 cache of the first half is reused");

    let losses = |dir: &Path| -> Vec<f64> {
        read_metrics(&dir.join("metrics.jsonl"))
            .unwrap()
            .iter()
            .map(|r| r.loss)
            .collect()
    };
    assert_eq!(losses(a.path()).len(), 4);
    assert_eq!(losses(a.path()), losses(b.path()));
    let (ca, cb) = (
        a.path().join("checkpoints/step-0000004"),
        b.path().join("checkpoints/step-0000004"),
    );
    for file in [
        "control.safetensors",
        "mib.safetensors",
        "unet.safetensors",
        "ema.safetensors",
        "optimizer.safetensors",
    ] {
        assert!(
            read(&ca.join(file)) == read(&cb.join(file)),
            "{file} differs"
        );
    }
}

/// An X_D1 cache made for another Stage I checkpoint or sampler is refused, not used.
#[test]
fn an_x_d1_cache_of_another_stage_i_setting_is_refused() {
    let s1 = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut config = tiny(Stage::Two, 1);
    config.stage2.stage1_checkpoint = Some(stage1_checkpoint(s1.path()));
    config.stage2.sampler_steps = 2;
    config.stage2.cache_dir = Some(cache.path().to_path_buf());
    config.logging.validate_every = 0;
    run(config.clone(), tempfile::tempdir().unwrap().path(), false);
    let cached = files_of(cache.path());
    assert_eq!(cached.len(), 4, "3 images + manifest");

    config.stage2.sampler_steps = 3;
    let err = train::<AB>(
        config,
        &TrainOptions {
            run_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("another Stage I checkpoint"), "{err}");
    assert_eq!(
        files_of(cache.path()),
        cached,
        "the cache is left as it was"
    );
}

/// A loss that is no longer finite stops the run before the weights change, and the last
/// checkpoint on disk stays `latest`, with finite weights.
#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(Stage::One, 4);
    config.checkpoint.every = 1;
    config.checkpoint.keep_last = 0;
    config.logging.validate_every = 0;
    config.optimizer.warmup_steps = 0;
    config.optimizer.grad_clip_norm = None;
    // One step at this rate makes the weights huge; the next one overflows.
    config.optimizer.lr = 1e37;
    let err = train::<AB>(
        config.clone(),
        &TrainOptions {
            run_dir: dir.path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the loss is NaN") && err.contains("step 2"),
        "{err}"
    );
    let latest = latest_checkpoint(dir.path()).unwrap().unwrap();
    assert!(latest.ends_with("step-0000001"), "{latest:?}");
    let state = read_state(&latest).unwrap();
    assert!(state.last_loss.is_some_and(f64::is_finite));
    for entry in std::fs::read_dir(&latest).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            SafetensorsFile::open(&path)
                .unwrap()
                .check_finite()
                .unwrap();
        }
    }
    assert!(!dir.path().join("checkpoints/step-0000002").exists());
    // Every step that was checkpointed had a finite loss.
    let metrics = read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
    assert!(metrics.iter().all(|r| r.loss.is_finite()));

    // A step whose loss was finite but whose update left infinite weights is not
    // checkpointed either.
    let dir = tempfile::tempdir().unwrap();
    config.optimizer.lr = 1e39;
    let err = train::<AB>(
        config,
        &TrainOptions {
            run_dir: dir.path().to_path_buf(),
            resume: false,
        },
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no checkpoint is written"), "{err}");
    assert!(latest_checkpoint(dir.path()).unwrap().is_none());
}
