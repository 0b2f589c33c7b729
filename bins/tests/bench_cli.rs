//! `diffmac-bench` run on the CPU backend with toy sizes, so that the benchmark the GPU
//! figures come from cannot rot: every item runs, in the order asked, and the JSON report says
//! what ran, in which dtype, with plausible times.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffmac-bench"))
        .args(args)
        .output()
        .expect("binary runs")
}

const ALL: &str =
    "train_b2,restore,unet_b1,unet_b8,vae_encode,vae_decode,control_mib,unet_mod_b1,restore_b8";

#[test]
fn every_item_runs_in_the_order_asked_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report/bench.json");
    let out = bench(&[
        "--preset",
        "tiny",
        "--only",
        ALL,
        "--warmup",
        "1",
        "--repeats",
        "2",
        "--restore-repeats",
        "1",
        "--steps",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report, printed, "the file and stdout carry the same report");
    assert_eq!(report["preset"], "tiny");
    assert_eq!(report["precision"], "f32");
    assert_eq!(report["output_dtype"], "F32");
    let items = report["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ALL.split(',').collect::<Vec<_>>());
    for item in items {
        let (min, median, max) = (
            item["min_ms"].as_f64().unwrap(),
            item["median_ms"].as_f64().unwrap(),
            item["max_ms"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= median && median <= max, "{item}");
        assert!(item["first_ms"].as_f64().unwrap() > 0.0, "{item}");
        // Device memory is a GPU figure: the CPU backend has no allocator to read.
        assert!(item["reserved_mib"].is_null(), "{item}");
    }
    let repeats = |name: &str| {
        items.iter().find(|i| i["name"] == name).unwrap()["repeats"]
            .as_u64()
            .unwrap()
    };
    assert_eq!((repeats("unet_b1"), repeats("restore")), (2, 1));
    // A restore is 2 × (2 UNet steps + VAE), so it cannot be faster than one UNet step.
    let median = |name: &str| {
        items.iter().find(|i| i["name"] == name).unwrap()["median_ms"]
            .as_f64()
            .unwrap()
    };
    assert!(median("restore") > median("unet_b1"));
}

#[test]
fn training_and_inference_run_in_bf16_as_on_the_gpu() {
    // The GPU figures are bf16; the training step casts its trainable modules to it.
    let out = bench(&[
        "--preset",
        "tiny",
        "--precision",
        "bf16",
        "--only",
        "train_b2,unet_b1",
        "--warmup",
        "1",
        "--repeats",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["precision"], "bf16");
    assert_eq!(report["output_dtype"], "BF16");
    let names: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["train_b2", "unet_b1"]);
}

#[test]
fn an_unknown_item_is_a_usage_error_before_any_model_is_built() {
    let out = bench(&["--preset", "tiny", "--only", "unet_b1,unet_b2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"unet_b2\"") && stderr.contains("train_b2"),
        "{stderr}"
    );
    assert!(!stderr.contains("built random"), "{stderr}");
}
