//! Building a bundle from a Stable Diffusion diffusers folder (here the tiny random one of
//! `bundle::write_tiny_diffusers`, in SD's real key layout) and restoring with it.

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::{FloatDType, Tensor};
use diffmac_io::save_safetensors;
use diffmac_ldm::loader::export;
use diffmac_ldm::{ClipTextConfig, ClipTextModel, VarBuilder};
use diffmac_restore::bundle::convert::{ConvertOptions, convert_sd};
use diffmac_restore::bundle::{TINY_TEXT_ENCODER, write_tiny_diffusers};
use diffmac_restore::{ModelBundle, Quiet, RestoreOptions, Restorer};

type B = Flex;

/// A diffusers folder with random weights at the tiny bundle's sizes
/// (`bundle::write_tiny_diffusers`), its text encoder `text_width` wide (the tiny UNet's
/// cross-attention takes 24).
fn fake_sd(dir: &Path, text_width: usize) {
    let device = Default::default();
    write_tiny_diffusers::<B>(dir, 0, &device).unwrap();
    if text_width == 24 {
        return;
    }
    let mut text: serde_json::Value = serde_json::from_str(TINY_TEXT_ENCODER).unwrap();
    text["hidden_size"] = text_width.into();
    let text_json = text.to_string();
    let vb = VarBuilder::<B>::random(&device, FloatDType::F32);
    let config: ClipTextConfig = serde_json::from_str(&text_json).unwrap();
    let clip = ClipTextModel::load(&config, &vb).unwrap();
    std::fs::write(dir.join("text_encoder/config.json"), &text_json).unwrap();
    save_safetensors(
        dir.join("text_encoder/model.safetensors"),
        &export(&clip, &vb.key_map()).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_diffusers_folder_becomes_a_working_base_bundle() {
    let work = tempfile::tempdir().unwrap();
    let sd = work.path().join("sd");
    fake_sd(&sd, 24);
    let out = work.path().join("bundle");
    let device = Default::default();
    let config = convert_sd::<B>(&sd, &out, &ConvertOptions::default(), &device).unwrap();
    assert!(!config.random_weights);
    assert!(!config.stage1.trained);
    assert_eq!(
        config.image_size, 64,
        "UNet latent 16 times the VAE's factor 4"
    );

    // The stored UNet is the source's, tensor for tensor.
    let source =
        diffmac_io::SafetensorsFile::open(sd.join("unet/diffusion_pytorch_model.safetensors"))
            .unwrap();
    let stored = diffmac_io::SafetensorsFile::open(out.join("unet.safetensors")).unwrap();
    assert_eq!(source.keys().count(), stored.keys().count());
    for key in source.keys() {
        assert_eq!(
            source.data(key).unwrap(),
            stored.data(key).unwrap(),
            "{key}"
        );
    }

    // Without identity weights, Stage II runs with the other injections.
    let bundle = ModelBundle::<B>::load(&out, &device, FloatDType::F32).unwrap();
    assert!(Restorer::new(&bundle, RestoreOptions::default()).is_err());
    let options = RestoreOptions {
        stage1_steps: 1,
        stage2_steps: 1,
        injection: Some(diffmac_mib::InjectionKind::Noise),
        ..RestoreOptions::default()
    };
    let restorer = Restorer::new(&bundle, options).unwrap();
    let face = Tensor::<B, 4>::zeros([1, 3, 64, 64], &device);
    let out = restorer.restore(face, None, 0, &mut Quiet).unwrap();
    assert_eq!(out.output().dims(), [1, 3, 64, 64]);

    // A second conversion into the same folder is refused.
    let again = convert_sd::<B>(
        &sd,
        work.path().join("bundle").as_path(),
        &ConvertOptions::default(),
        &device,
    );
    assert!(again.unwrap_err().to_string().contains("already exists"));
}

/// The scheduler config of the folder is recorded in the bundle; a v-prediction model
/// (SD 2.x-768's kind) is refused before anything is written.
#[test]
fn the_folders_schedule_is_recorded_and_v_prediction_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let sd = work.path().join("sd");
    fake_sd(&sd, 24);
    let device = Default::default();
    let scheduler = |prediction: &str| {
        std::fs::create_dir_all(sd.join("scheduler")).unwrap();
        std::fs::write(
            sd.join("scheduler/scheduler_config.json"),
            format!(
                r#"{{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000,
                    "beta_start": 0.00085, "beta_end": 0.02, "beta_schedule": "scaled_linear",
                    "prediction_type": "{prediction}"}}"#
            ),
        )
        .unwrap();
    };

    scheduler("epsilon");
    let out = work.path().join("eps");
    let config = convert_sd::<B>(&sd, &out, &ConvertOptions::default(), &device).unwrap();
    assert_eq!(config.scheduler.beta_end, 0.02);
    assert_eq!(config.scheduler.prediction_type, "epsilon");
    assert!(ModelBundle::<B>::load(&out, &device, FloatDType::F32).is_ok());

    scheduler("v_prediction");
    let out = work.path().join("v");
    let err = convert_sd::<B>(&sd, &out, &ConvertOptions::default(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scheduler_config.json") && err.contains("v_prediction"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a refused model");

    // A bundle edited to claim v-prediction is refused when loaded.
    let eps = work.path().join("eps");
    let path = eps.join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"epsilon\"", "\"v_prediction\"")).unwrap();
    let err = ModelBundle::<B>::load(&eps, &device, FloatDType::F32).unwrap_err();
    assert!(err.to_string().contains("v_prediction"), "{err}");
}

#[test]
fn components_of_different_models_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let sd = work.path().join("sd");
    fake_sd(&sd, 32);
    let err = convert_sd::<B>(
        &sd,
        &work.path().join("bundle"),
        &ConvertOptions::default(),
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("width 32") && err.contains("24"), "{err}");
    assert!(!work.path().join("bundle/config.json").exists());
}

/// With the registry-shipped dlib network (scripts/fetch_identity_weights.sh), a converted
/// bundle injects 128-D dlib identities.
#[test]
fn a_bundle_with_the_dlib_identity_encoder_restores_with_identity_injection() {
    let weights = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../weights/identity/dlib_resnet_v1.safetensors"
    ));
    if !weights.exists() {
        assert!(
            std::env::var_os("DIFFMAC_REQUIRE_IDENTITY_WEIGHTS").is_none(),
            "{} is missing",
            weights.display()
        );
        eprintln!("SKIPPED: run scripts/fetch_identity_weights.sh for this test");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let sd = work.path().join("sd");
    fake_sd(&sd, 24);
    let out = work.path().join("bundle");
    let device = Default::default();
    let options = ConvertOptions {
        identity: Some(("auto".into(), weights.to_path_buf())),
        ..ConvertOptions::default()
    };
    let config = convert_sd::<B>(&sd, &out, &options, &device).unwrap();
    assert_eq!(config.identity.as_ref().unwrap().kind, "dlib_resnet_v1");
    assert_eq!(config.mib.as_ref().unwrap().config.identity_dim, 128);
    let bundle = ModelBundle::<B>::load(&out, &device, FloatDType::F32).unwrap();
    let restorer = Restorer::new(
        &bundle,
        RestoreOptions {
            stage1_steps: 1,
            stage2_steps: 1,
            ..RestoreOptions::default()
        },
    )
    .unwrap();
    let face = Tensor::<B, 4>::zeros([1, 3, 64, 64], &device);
    assert_eq!(restorer.identity_of(face.clone()).unwrap().dims(), [1, 128]);
    let out = restorer.restore(face, None, 0, &mut Quiet).unwrap();
    assert_eq!(out.output().dims(), [1, 3, 64, 64]);
}
