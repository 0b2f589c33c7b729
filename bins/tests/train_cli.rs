//! `diffmac-train` run as a user would: the tiny preset on the bundled sample faces, both
//! stages, resume, and usage errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffmac-train"))
}

fn faces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/faces")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn metric_lines(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn tiny_stage1_resume_and_stage2_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run1 = dir.path().join("run1");
    let data = faces();
    let (data, run1s) = (data.to_str().unwrap(), run1.to_str().unwrap());
    let o = run(&[
        "--preset", "tiny", "--data", data, "--output", run1s, "--steps", "3", "--seed", "4", "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let latest = std::fs::read_to_string(run1.join("checkpoints/latest")).unwrap();
    assert_eq!(latest.trim(), "step-0000003");
    let ck = run1.join("checkpoints/step-0000003");
    for f in [
        "control.safetensors",
        "unet.safetensors",
        "optimizer.safetensors",
        "state.json",
    ] {
        assert!(ck.join(f).is_file(), "{f}");
    }
    let lines = metric_lines(&run1);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["step"], 3);
    assert_eq!(lines[2]["stage"], 1);
    assert!(lines[2]["loss"].as_f64().unwrap().is_finite());
    assert!(run1.join("validation/step-0000003.png").is_file());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 3);
    assert_eq!(state["config"]["seed"], 4);

    // Starting again into the same folder is a usage error; --resume continues it.
    let o = run(&[
        "--preset", "tiny", "--data", data, "--output", run1s, "--steps", "5", "-q",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--resume"), "{}", text(&o));
    let o = run(&[
        "--preset", "tiny", "--data", data, "--output", run1s, "--steps", "5", "--resume", "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(metric_lines(&run1).len(), 5);
    let latest = std::fs::read_to_string(run1.join("checkpoints/latest")).unwrap();
    assert_eq!(latest.trim(), "step-0000005");

    // Stage II from the Stage I checkpoint, via a config file.
    let cfg = dir.path().join("stage2.json");
    std::fs::write(
        &cfg,
        r#"{"stage": 2, "mib": {"injection": "noise"}, "stage2": {"sampler_steps": 2}}"#,
    )
    .unwrap();
    let run2 = dir.path().join("run2");
    let ck5 = run1.join("checkpoints/step-0000005");
    let o = run(&[
        "--preset",
        "tiny",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data,
        "--stage1-checkpoint",
        ck5.to_str().unwrap(),
        "--output",
        run2.to_str().unwrap(),
        "--steps",
        "2",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ck = run2.join("checkpoints/step-0000002");
    assert!(ck.join("mib.safetensors").is_file());
    let lines = metric_lines(&run2);
    assert_eq!(lines[1]["stage"], 2);
    assert!(lines[1]["terms"]["info"].as_f64().is_some());
}

#[test]
fn usage_errors_exit_with_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outs = out.to_str().unwrap();

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"optimizer": {"learning_rate": 1}}"#).unwrap();
    let o = run(&[
        "--preset",
        "tiny",
        "--config",
        bad.to_str().unwrap(),
        "--output",
        outs,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("bad.json") && text(&o).contains("learning_rate"),
        "{}",
        text(&o)
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&[
        "--preset",
        "tiny",
        "--data",
        empty.to_str().unwrap(),
        "--output",
        outs,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no readable image"), "{}", text(&o));

    let o = run(&["--preset", "tiny", "--stage", "2", "--output", outs]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("stage1_checkpoint"), "{}", text(&o));

    let o = run(&["--preset", "huge", "--output", outs]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let o = run(&["--preset", "tiny", "--print-config"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed["data"]["size"], 32);
    assert_eq!(printed["optimizer"]["eps"], 1e-8);
}
