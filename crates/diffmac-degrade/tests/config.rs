//! The JSON config: defaults, partial files, round trips and validation.

use diffmac_degrade::{DegradationConfig, DegradeError, Interpolation};

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("degrade.json");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn partial_files_keep_the_defaults() {
    let (_d, path) =
        write(r#"{"noise": {"sigma": [0, 5]}, "downsample": {"interpolation": "bicubic"}}"#);
    let config = DegradationConfig::from_json_file(&path).unwrap();
    assert_eq!(
        (config.noise.sigma.low, config.noise.sigma.high),
        (0.0, 5.0)
    );
    assert_eq!(config.downsample.interpolation, Interpolation::Bicubic);
    assert_eq!(config.blur, DegradationConfig::default().blur);
}

#[test]
fn json_round_trip() {
    let config = DegradationConfig::default();
    let text = serde_json::to_string(&config).unwrap();
    assert!(text.contains(r#""sigma":[1.0,15.0]"#), "{text}");
    assert_eq!(
        serde_json::from_str::<DegradationConfig>(&text).unwrap(),
        config
    );
}

#[test]
fn unknown_fields_and_bad_values_name_the_file_and_the_field() {
    let (_d, path) = write(r#"{"blur": {"sigmaa": [1, 2]}}"#);
    let err = DegradationConfig::from_json_file(&path).unwrap_err();
    assert!(matches!(err, DegradeError::ConfigFile { .. }));
    assert!(
        err.to_string().contains("degrade.json") && err.to_string().contains("sigmaa"),
        "{err}"
    );

    for (text, field) in [
        (r#"{"jpeg": {"quality": [90, 60]}}"#, "jpeg.quality"),
        (r#"{"noise": {"probability": 1.5}}"#, "noise.probability"),
        (r#"{"downsample": {"scale": [0, 4]}}"#, "downsample.scale"),
    ] {
        let (_d, path) = write(text);
        let err = DegradationConfig::from_json_file(&path).unwrap_err();
        assert!(err.to_string().contains(field), "{text}: {err}");
    }
}
