//! `diffmac-degrade` run as a user runs it: argv in, files and exit codes out.

use std::path::Path;
use std::process::{Command, Output};

fn degrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffmac-degrade"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn faces() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/faces"))
}

#[test]
fn degrades_the_sample_faces_reproducibly() {
    let out_a = tempfile::tempdir().unwrap();
    let out_b = tempfile::tempdir().unwrap();
    let faces = faces().to_str().unwrap();
    for out in [&out_a, &out_b] {
        let run = degrade(&[
            "--input",
            faces,
            "--output",
            out.path().to_str().unwrap(),
            "--seed",
            "3",
            "--size",
            "128",
            "--quiet",
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        let err = stderr(&run);
        assert!(err.contains("degraded 3 of 3 images"), "{err}");
        assert!(
            err.contains("skipped") && err.contains("SOURCES.md"),
            "{err}"
        );
    }
    for stem in ["astronaut", "obama", "biden"] {
        let a = std::fs::read(out_a.path().join(format!("{stem}.png"))).unwrap();
        let b = std::fs::read(out_b.path().join(format!("{stem}.png"))).unwrap();
        assert_eq!(a, b, "{stem}: same seed, same bytes");
        let img = image::load_from_memory(&a).unwrap();
        assert_eq!((img.width(), img.height()), (128, 128));
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_a.path().join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        assert!(record["params"].is_object());
    }
}

#[test]
fn a_failed_image_sets_exit_code_one_and_the_rest_is_written() {
    let input = tempfile::tempdir().unwrap();
    let output = tempfile::tempdir().unwrap();
    std::fs::copy(
        faces().join("astronaut.png"),
        input.path().join("astronaut.png"),
    )
    .unwrap();
    std::fs::write(
        input.path().join("corrupt.png"),
        b"\x89PNG\r\n\x1a\n garbage",
    )
    .unwrap();
    let run = degrade(&[
        "-i",
        input.path().to_str().unwrap(),
        "-o",
        output.path().to_str().unwrap(),
        "--size",
        "64",
        "-q",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let err = stderr(&run);
    assert!(
        err.contains("corrupt.png") && err.contains("cannot decode"),
        "{err}"
    );
    assert!(err.contains("degraded 1 of 2 images"), "{err}");
    assert!(output.path().join("astronaut.png").exists());
}

#[test]
fn refuses_to_overwrite_and_to_write_into_the_input_folder() {
    let input = tempfile::tempdir().unwrap();
    std::fs::copy(
        faces().join("astronaut.png"),
        input.path().join("astronaut.png"),
    )
    .unwrap();
    let inp = input.path().to_str().unwrap();
    let run = degrade(&["-i", inp, "-o", inp, "--size", "64", "-q"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("is the folder of the inputs"),
        "{}",
        stderr(&run)
    );

    let output = tempfile::tempdir().unwrap();
    let out = output.path().to_str().unwrap();
    assert!(
        degrade(&["-i", inp, "-o", out, "--size", "64", "-q"])
            .status
            .success()
    );
    let first = std::fs::read(output.path().join("astronaut.png")).unwrap();
    let again = degrade(&["-i", inp, "-o", out, "--size", "64", "--seed", "5", "-q"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--overwrite"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read(output.path().join("astronaut.png")).unwrap(),
        first
    );
    let forced = degrade(&[
        "-i",
        inp,
        "-o",
        out,
        "--size",
        "64",
        "--seed",
        "5",
        "--overwrite",
        "-q",
    ]);
    assert!(forced.status.success());
    assert_ne!(
        std::fs::read(output.path().join("astronaut.png")).unwrap(),
        first
    );
}

#[test]
fn bad_flags_and_configs_are_usage_errors() {
    let run = degrade(&["--input", "x.png"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--output"), "{}", stderr(&run));

    let run = degrade(&["-i", "x.png", "-o", "out", "--size", "0"]);
    assert_eq!(run.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.json");
    std::fs::write(&config, r#"{"jpeg": {"quality": [100, 60]}}"#).unwrap();
    let run = degrade(&[
        "-i",
        "x.png",
        "-o",
        "out",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("jpeg.quality"), "{}", stderr(&run));

    let run = degrade(&[
        "-i",
        dir.path().join("missing.png").to_str().unwrap(),
        "-o",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("missing.png"), "{}", stderr(&run));
}

#[test]
fn print_config_shows_the_defaults_as_json() {
    let run = degrade(&["--print-config"]);
    assert!(run.status.success());
    let config: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(config["blur"]["sigma"], serde_json::json!([1.0, 15.0]));
    assert_eq!(config["jpeg"]["quality"], serde_json::json!([60.0, 100.0]));
}
