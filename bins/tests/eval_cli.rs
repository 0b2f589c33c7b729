//! `diffmac-eval` run as a user runs it: folders in, a table, a JSON file and exit codes out.
//! The scores are checked against basicsr's values recorded by
//! `scripts/reference/eval_reference.py` in `crates/diffmac-eval/tests/data/eval_reference.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn eval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffmac-eval"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn reference() -> serde_json::Value {
    let path = root().join("crates/diffmac-eval/tests/data/eval_reference.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// restored/{astronaut,biden,broken}.png, gt/{astronaut,extra}.png.
fn folders() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let restored = dir.path().join("restored");
    let gt = dir.path().join("gt");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    let data = root().join("crates/diffmac-eval/tests/data");
    std::fs::copy(
        data.join("astronaut_lq.png"),
        restored.join("astronaut.png"),
    )
    .unwrap();
    std::fs::copy(data.join("biden_lq.png"), restored.join("biden.png")).unwrap();
    std::fs::write(restored.join("broken.png"), b"not a png").unwrap();
    std::fs::write(restored.join("notes.txt"), b"hello").unwrap();
    std::fs::copy(
        root().join("examples/faces/astronaut.png"),
        gt.join("astronaut.png"),
    )
    .unwrap();
    std::fs::copy(data.join("astronaut_lq.png"), gt.join("extra.png")).unwrap();
    (dir, restored, gt)
}

#[test]
fn scores_a_folder_pair_like_basicsr_and_reports_problems() {
    let (dir, restored, gt) = folders();
    let json = dir.path().join("scores.json");
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    let err = stderr(&run);
    // Some files failed or were unpaired: exit code 1, the rest was scored.
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("broken.png") && err.contains("not an image"),
        "{err}"
    );
    assert!(
        err.contains("unpaired") && err.contains("biden.png"),
        "{err}"
    );
    assert!(err.contains("extra.png"), "{err}");
    assert!(
        err.contains("skipped") && err.contains("notes.txt"),
        "{err}"
    );
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(
        table.contains("PSNR") && table.contains("SSIM") && table.contains("NIQE"),
        "{table}"
    );

    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let reference = reference();
    let pair = &reference["full_reference"][0]["values"][0];
    assert_eq!(pair["crop_border"], 0);
    assert_eq!(pair["test_y_channel"], false);
    let images = record["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let astronaut = &images[0];
    assert_eq!(astronaut["name"], "astronaut");
    let psnr = astronaut["scores"]["psnr"].as_f64().unwrap();
    let ssim = astronaut["scores"]["ssim"].as_f64().unwrap();
    assert!(
        (psnr - pair["psnr"].as_f64().unwrap()).abs() < 1e-4,
        "{psnr}"
    );
    assert!(
        (ssim - pair["ssim"].as_f64().unwrap()).abs() < 1e-4,
        "{ssim}"
    );
    // NIQE on every restored image, paired or not.
    for (image, entry) in [(&images[0], 1), (&images[1], 2)] {
        let ours = image["scores"]["niqe"].as_f64().unwrap();
        let theirs = reference["niqe"][entry]["niqe_f64_resize"]
            .as_f64()
            .unwrap();
        assert!((ours - theirs).abs() < 1e-6, "{ours} vs {theirs}");
    }
    assert!(images[1]["scores"].get("psnr").is_none());
    assert_eq!(record["summary"]["psnr"]["count"], 1);
    assert_eq!(record["summary"]["niqe"]["count"], 2);
    assert_eq!(record["failed"].as_array().unwrap().len(), 1);
    assert_eq!(record["unpaired"].as_array().unwrap().len(), 3);

    // The JSON is not replaced without --overwrite: usage error.
    let again = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
}

#[test]
fn clean_batch_succeeds_with_y_channel_and_crop() {
    let (dir, restored, gt) = folders();
    std::fs::remove_file(restored.join("broken.png")).unwrap();
    std::fs::remove_file(restored.join("biden.png")).unwrap();
    std::fs::remove_file(gt.join("extra.png")).unwrap();
    let json = dir.path().join("y.json");
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--metrics",
        "psnr,ssim",
        "--y-channel",
        "--crop-border",
        "4",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let want = &reference()["full_reference"][0]["values"][3];
    assert_eq!(want["crop_border"], 4);
    assert_eq!(want["test_y_channel"], true);
    let scores = &record["images"][0]["scores"];
    assert!((scores["psnr"].as_f64().unwrap() - want["psnr"].as_f64().unwrap()).abs() < 1e-4);
    assert!((scores["ssim"].as_f64().unwrap() - want["ssim"].as_f64().unwrap()).abs() < 1e-4);
    assert!(scores.get("niqe").is_none());
}

#[test]
fn usage_errors_exit_with_2() {
    let (_dir, restored, _gt) = folders();
    // Full-reference metric without ground truth.
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--metrics",
        "psnr",
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("--gt"));
    // Unknown metric.
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--metrics",
        "musiq",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("unknown metric"));
    // Missing folder.
    let run = eval(&["--restored", "/nonexistent/diffmac-eval-test"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("/nonexistent/diffmac-eval-test"));
}

/// A 64×64 crop of an image file, saved as PNG (the crop of `lpips_reference.json`).
fn save_crop(src: &Path, dst: &Path, reference: &serde_json::Value) {
    let c = &reference["crop"];
    let (top, left, side) = (
        c["top"].as_u64().unwrap() as u32,
        c["left"].as_u64().unwrap() as u32,
        c["side"].as_u64().unwrap() as u32,
    );
    let img = image::open(src).unwrap().to_rgb8();
    image::imageops::crop_imm(&img, left, top, side, side)
        .to_image()
        .save(dst)
        .unwrap();
}

#[test]
fn lpips_with_a_user_backbone_matches_the_lpips_package() {
    let path = root().join("crates/diffmac-eval/tests/data/lpips_reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (restored, gt) = (dir.path().join("restored"), dir.path().join("gt"));
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    save_crop(
        &root().join(reference["images"][1].as_str().unwrap()),
        &restored.join("face.png"),
        &reference,
    );
    save_crop(
        &root().join(reference["images"][0].as_str().unwrap()),
        &gt.join("face.png"),
        &reference,
    );
    // The test backbone: full-size AlexNet with the hash weights the reference script uses.
    let weights = dir.path().join("alexnet.safetensors");
    std::fs::write(
        &weights,
        diffmac::eval::lpips::hashed_backbone(diffmac::eval::LpipsNet::Alex),
    )
    .unwrap();
    let json = dir.path().join("lpips.json");
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--metrics",
        "lpips",
        "--lpips-weights",
        weights.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let ours = record["images"][0]["scores"]["lpips"].as_f64().unwrap();
    let theirs = reference["nets"]["alex"]["distance"].as_f64().unwrap();
    assert!(
        ((ours - theirs) / theirs).abs() < 1e-4,
        "{ours} vs lpips {theirs}"
    );

    // Without the backbone: a usage error that says what to give.
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--metrics",
        "lpips",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--lpips-weights"));
}

#[test]
fn identity_similarity_with_a_user_encoder() {
    // diffmac-id's tiny random-weight dlib ResNet fixture stands in for the user's encoder.
    let weights = root().join("crates/diffmac-id/tests/fixtures/dlib_tiny.safetensors");
    let (dir, restored, gt) = folders();
    std::fs::remove_file(restored.join("broken.png")).unwrap();
    std::fs::remove_file(restored.join("biden.png")).unwrap();
    std::fs::remove_file(gt.join("extra.png")).unwrap();
    let json = dir.path().join("id.json");
    let run_on = |restored: &Path, json: &Path| {
        eval(&[
            "--restored",
            restored.to_str().unwrap(),
            "--gt",
            gt.to_str().unwrap(),
            "--metrics",
            "idcos,iddeg",
            "--id-weights",
            weights.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--quiet",
        ])
    };
    let run = run_on(&restored, &json);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("identity encoder: dlib_resnet_v1"),
        "{}",
        stderr(&run)
    );
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let scores = &record["images"][0]["scores"];
    let (cos, deg) = (
        scores["idcos"].as_f64().unwrap(),
        scores["iddeg"].as_f64().unwrap(),
    );
    assert!(cos < 1.0 && cos > -1.0, "{cos}");
    assert!((cos.acos().to_degrees() - deg).abs() < 1e-9, "{cos} {deg}");
    assert_eq!(record["options"]["id_kind"], "dlib_resnet_v1");
    // A face against itself: cosine 1, angle 0.
    let self_json = dir.path().join("self.json");
    let run = run_on(&gt, &self_json);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&self_json).unwrap()).unwrap();
    let scores = &record["images"][0]["scores"];
    assert!((scores["idcos"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    assert!(scores["iddeg"].as_f64().unwrap() < 0.1);
}

#[test]
fn fid_between_folders_matches_pytorch_fid_and_caches_features() {
    let path = root().join("crates/diffmac-eval/tests/data/inception_reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (restored, gt) = (dir.path().join("restored"), dir.path().join("gt"));
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    // Crops 0, 2 are clean (gt), 1, 3 degraded (restored); names pair 0↔1 and 2↔3.
    for (i, c) in reference["crops"].as_array().unwrap().iter().enumerate() {
        let img = image::open(root().join(c["image"].as_str().unwrap()))
            .unwrap()
            .to_rgb8();
        let side = c["side"].as_u64().unwrap() as u32;
        let (top, left) = (
            c["top"].as_u64().unwrap() as u32,
            c["left"].as_u64().unwrap() as u32,
        );
        let folder = if i % 2 == 0 { &gt } else { &restored };
        image::imageops::crop_imm(&img, left, top, side, side)
            .to_image()
            .save(folder.join(format!("face{}.png", i / 2)))
            .unwrap();
    }
    let device = diffmac::backend::default_device();
    let weights = dir.path().join("inception.safetensors");
    let bytes =
        diffmac::eval::fid::InceptionV3::<diffmac::backend::DefaultBackend>::hashed_weights_file(
            &device,
        )
        .unwrap();
    std::fs::write(&weights, bytes).unwrap();
    let run_once = |json: &Path| {
        let run = eval(&[
            "--restored",
            restored.to_str().unwrap(),
            "--gt",
            gt.to_str().unwrap(),
            "--metrics",
            "fid",
            "--fid-weights",
            weights.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        record
    };
    let first = run_once(&dir.path().join("fid1.json"));
    let ours = first["summary"]["fid"]["mean"].as_f64().unwrap();
    let theirs = reference["fid_degraded_vs_clean"].as_f64().unwrap();
    assert!(
        ((ours - theirs) / theirs).abs() < 1e-3,
        "FID {ours} vs pytorch-fid {theirs}"
    );
    assert_eq!(first["summary"]["fid"]["count"], 2);
    let gt_cache = PathBuf::from(first["fid"]["gt_cache"].as_str().unwrap());
    assert!(
        gt_cache.exists() && gt_cache.parent() == Some(dir.path()),
        "{gt_cache:?}"
    );
    // Second run: same value from the cached features.
    let second = run_once(&dir.path().join("fid2.json"));
    assert_eq!(second["summary"]["fid"]["mean"].as_f64().unwrap(), ours);
    assert_eq!(second["fid"]["gt_cache"], first["fid"]["gt_cache"]);
}

#[test]
fn five_point_landmark_distance_matches_facenet_pytorch() {
    let path = root().join("crates/diffmac-eval/tests/data/lmd_reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (restored, gt) = (dir.path().join("restored"), dir.path().join("gt"));
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    std::fs::copy(
        root().join(reference["restored"].as_str().unwrap()),
        restored.join("face.png"),
    )
    .unwrap();
    std::fs::copy(
        root().join(reference["gt"].as_str().unwrap()),
        gt.join("face.png"),
    )
    .unwrap();
    let json = dir.path().join("lmd.json");
    let run = eval(&[
        "--restored",
        restored.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--metrics",
        "lmd",
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let ours = record["images"][0]["scores"]["lmd"].as_f64().unwrap();
    let theirs = reference["lmd"].as_f64().unwrap();
    assert!(
        (ours - theirs).abs() < 1e-3,
        "LMD {ours} px vs facenet-pytorch {theirs} px"
    );
}
