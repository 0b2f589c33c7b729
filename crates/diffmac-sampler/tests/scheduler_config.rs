//! Reading diffusers' `scheduler_config.json`.

use diffmac_sampler::{
    BetaSchedule, FinalAlpha, Method, NoiseSchedule, PredictionType, SamplerError, SchedulerConfig,
    Spacing, VarianceType,
};

const SD21_BASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sd21_base_scheduler_config.json"
);

#[test]
fn sd21_base_config_gives_the_sd_schedule() {
    let config = SchedulerConfig::from_file(SD21_BASE).unwrap();
    assert_eq!(config.class_name.as_deref(), Some("PNDMScheduler"));
    assert_eq!(
        config.beta_schedule().unwrap(),
        BetaSchedule::stable_diffusion()
    );
    assert_eq!(
        config.noise_schedule().unwrap(),
        NoiseSchedule::stable_diffusion()
    );
    assert_eq!(config.prediction().unwrap(), PredictionType::Epsilon);
    // diffusers' default spacing is `leading`, and SD's steps_offset is 1.
    assert_eq!(
        config.spacing(50).unwrap(),
        Spacing::Leading {
            steps: 50,
            offset: 1
        }
    );
    assert_eq!(
        config.spacing(50).unwrap().timesteps(1000).unwrap()[..3],
        [1, 21, 41]
    );
    // Written and read back as `leading50+1`, so it can be passed around as text.
    assert_eq!(config.spacing(50).unwrap().to_string(), "leading50+1");
    assert_eq!(
        "leading50+1".parse::<Spacing>().unwrap(),
        config.spacing(50).unwrap()
    );
    assert_eq!(config.clip_x0().unwrap(), None);
    assert_eq!(config.variance().unwrap(), VarianceType::FixedSmall);
    // SD 2.1 sets `set_alpha_to_one: false`: its DDIM ends at ᾱ₀, not at 1; DDPM is as ever.
    assert_eq!(config.set_alpha_to_one, Some(false));
    assert_eq!(
        config.ddim(0.0).unwrap(),
        Method::Ddim {
            eta: 0.0,
            final_alpha: FinalAlpha::TrainingStepZero
        }
    );
    assert_eq!(
        config.ddpm().unwrap(),
        Method::Ddpm(VarianceType::FixedSmall)
    );
}

#[test]
fn missing_keys_take_diffusers_defaults() {
    let config = SchedulerConfig::from_json_str("{}").unwrap();
    assert_eq!(config.num_train_timesteps, 1000);
    assert_eq!(
        config.beta_schedule().unwrap(),
        BetaSchedule::Linear {
            beta_start: 0.0001,
            beta_end: 0.02
        }
    );
    assert_eq!(config.clip_x0().unwrap(), Some(1.0));
    assert_eq!(config.ddim(0.5).unwrap(), Method::ddim(0.5));
    assert_eq!(
        config.spacing(10).unwrap(),
        Spacing::Leading {
            steps: 10,
            offset: 0
        }
    );
}

#[test]
fn v_prediction_and_other_options_are_read() {
    let config = SchedulerConfig::from_json_str(
        r#"{"prediction_type": "v_prediction", "beta_schedule": "squaredcos_cap_v2",
            "timestep_spacing": "trailing", "variance_type": "fixed_large",
            "clip_sample": true, "clip_sample_range": 2.5, "num_train_timesteps": 100}"#,
    )
    .unwrap();
    assert_eq!(config.prediction().unwrap(), PredictionType::VPrediction);
    assert_eq!(config.beta_schedule().unwrap(), BetaSchedule::cosine());
    assert_eq!(config.noise_schedule().unwrap().num_timesteps(), 100);
    assert_eq!(config.spacing(4).unwrap(), Spacing::Trailing { steps: 4 });
    assert_eq!(config.variance().unwrap(), VarianceType::FixedLarge);
    assert_eq!(config.clip_x0().unwrap(), Some(2.5));

    let explicit = SchedulerConfig::from_json_str(
        r#"{"trained_betas": [0.1, 0.2], "num_train_timesteps": 2}"#,
    )
    .unwrap();
    let schedule = explicit.noise_schedule().unwrap();
    assert!((schedule.alphas_cumprod()[1] - 0.72).abs() < 1e-15);
}

#[test]
fn unknown_values_are_clear_errors() {
    let bad = |json: &str| SchedulerConfig::from_json_str(json).unwrap();
    assert!(matches!(
        bad(r#"{"beta_schedule": "sigmoid"}"#).beta_schedule(),
        Err(SamplerError::UnknownBetaSchedule(name)) if name == "sigmoid"
    ));
    assert!(matches!(
        bad(r#"{"prediction_type": "flow"}"#).prediction(),
        Err(SamplerError::UnknownPredictionType(_))
    ));
    assert!(matches!(
        bad(r#"{"timestep_spacing": "karras"}"#).spacing(10),
        Err(SamplerError::UnknownTimestepSpacing(_))
    ));
    assert!(matches!(
        bad(r#"{"variance_type": "learned_range"}"#).variance(),
        Err(SamplerError::Unsupported(_))
    ));
    assert!(matches!(
        bad(r#"{"rescale_betas_zero_snr": true}"#).noise_schedule(),
        Err(SamplerError::Unsupported(_))
    ));
    assert!(matches!(
        bad(r#"{"thresholding": true}"#).clip_x0(),
        Err(SamplerError::Unsupported(option)) if option == "thresholding = true"
    ));
    assert!(matches!(
        bad("{}").ddim(2.0),
        Err(SamplerError::InvalidOption { name: "eta", .. })
    ));
    assert!(matches!(
        SchedulerConfig::from_json_str(r#"{"beta_start": "small"}"#),
        Err(SamplerError::Config { .. })
    ));
    let missing = SchedulerConfig::from_file("does/not/exist.json").unwrap_err();
    assert!(
        missing.to_string().starts_with("does/not/exist.json: "),
        "{missing}"
    );
}
