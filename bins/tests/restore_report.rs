//! `diffmac-restore`'s identity report, `--best-of` and `--preset`, run as a user runs them
//! with the tiny random-weight bundle (whose identity network is a random ArcFace IResNet:
//! the similarities are real cosines of real embeddings, of faces that look like nothing).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diffmac::backend::{DefaultBackend, default_device};
use diffmac::id::{cosine_similarity, load_identity_encoder};
use serde_json::Value;

fn restore_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffmac-restore"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sample(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/faces")).join(name)
}

/// A tiny bundle and a folder of two aligned 192×192 faces (NIQE's smallest size).
fn setup(work: &Path) -> (String, String) {
    let model = work.join("model");
    let out = Command::new(env!("CARGO_BIN_EXE_diffmac-convert"))
        .args(["tiny", "--output", model.to_str().unwrap(), "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let faces = work.join("faces");
    std::fs::create_dir_all(&faces).unwrap();
    for name in ["astronaut.png", "obama.jpg"] {
        image::open(sample(name))
            .unwrap()
            .resize_exact(192, 192, image::imageops::FilterType::Triangle)
            .to_rgb8()
            .save(faces.join(name).with_extension("png"))
            .unwrap();
    }
    (
        model.to_str().unwrap().into(),
        faces.to_str().unwrap().into(),
    )
}

/// Runs an aligned restore with 2 steps, the wavelet colour fix and `extra`; returns the report and stderr.
fn run(work: &Path, model: &str, faces: &str, out: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "--model",
        model,
        "--input",
        faces,
        "--output",
        out,
        "--aligned",
        "--steps",
        "2",
        "--quiet",
        // The tiny model's outputs are nearly flat, too flat for NIQE; the wavelet colour
        // fix gives them the input's low frequencies.
        "--color-fix",
        "wavelet",
    ];
    args.extend_from_slice(extra);
    let result = restore_in(work, &args);
    assert!(result.status.success(), "{extra:?}: {}", stderr(&result));
    let text = std::fs::read_to_string(work.join(out).join("report.json")).unwrap();
    (serde_json::from_str(&text).unwrap(), stderr(&result))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn report_holds_each_faces_identity_and_niqe_and_best_of_keeps_the_most_similar() {
    let work = tempfile::tempdir().unwrap();
    let (model, faces) = setup(work.path());

    let (plain, log) = run(work.path(), &model, &faces, "plain", &[]);
    assert!(
        plain["identity_network"]
            .as_str()
            .unwrap()
            .contains("the model's"),
        "{plain}"
    );
    let entries = plain["faces"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        let id = num(&e["identity_similarity"]);
        assert!((-1.0..=1.0).contains(&id), "{e}");
        assert!(num(&e["niqe"]) > 0.0, "{e}");
        assert_eq!(e["candidates"].as_array().unwrap().len(), 1);
        assert!(
            e["found_by"].is_null() && e["pasted_with"].is_null(),
            "aligned: {e}"
        );
        assert_eq!(e["index"], 0);
    }
    assert!(log.contains("identity similarity: mean"), "{log}");

    // The similarity is the cosine of the model's identity embeddings of the input and the
    // written output (8-bit PNG: the report scores the unrounded face, hence the bound).
    let device = default_device();
    let network = load_identity_encoder::<DefaultBackend>(
        "auto",
        &Path::new(&model).join("identity.safetensors"),
        &device,
    )
    .unwrap();
    let read = |p: PathBuf| image::open(&p).unwrap().to_rgb32f();
    let input = read(Path::new(&faces).join("astronaut.png"));
    let output = read(work.path().join("plain/restored_faces/astronaut.png"));
    let t = diffmac::io::images_to_tensor::<DefaultBackend>(&[input, output], &device).unwrap();
    let e = network.embed_ffhq(t).unwrap();
    let cos: f64 = cosine_similarity(e.clone().narrow(0, 0, 1), e.narrow(0, 1, 1))
        .into_scalar()
        .into();
    let reported = entries
        .iter()
        .find(|e| e["input"].as_str().unwrap().ends_with("astronaut.png"))
        .unwrap();
    assert!(
        (num(&reported["identity_similarity"]) - cos).abs() < 5e-3,
        "report {} vs recomputed {cos}",
        reported["identity_similarity"]
    );

    // --best-of 3: three candidates per face, the first with the plain run's seed, the kept
    // one the most similar; batched three restorations at a time.
    let (best, _) = run(
        work.path(),
        &model,
        &faces,
        "best",
        &["--best-of", "3", "--batch-size", "3"],
    );
    assert_eq!(best["best_of"], 3);
    for (b, p) in best["faces"].as_array().unwrap().iter().zip(entries) {
        let candidates = b["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), 3);
        assert_eq!(
            candidates[0]["seed"], p["seed"],
            "candidate 0 is the plain seed"
        );
        assert!(
            (num(&candidates[0]["identity_similarity"]) - num(&p["identity_similarity"])).abs()
                < 1e-6
        );
        let seeds: std::collections::BTreeSet<u64> = candidates
            .iter()
            .map(|c| c["seed"].as_u64().unwrap())
            .collect();
        assert_eq!(seeds.len(), 3, "distinct seeds");
        let top = candidates
            .iter()
            .map(|c| num(&c["identity_similarity"]))
            .fold(f64::MIN, f64::max);
        assert_eq!(num(&b["identity_similarity"]), top, "{b}");
        let kept = candidates.iter().find(|c| c["seed"] == b["seed"]).unwrap();
        assert_eq!(num(&kept["identity_similarity"]), top);
        // The written face is the kept candidate: the plain one exactly when seed 0 won.
        let name = Path::new(b["input"].as_str().unwrap()).file_name().unwrap();
        let same = std::fs::read(work.path().join("best/restored_faces").join(name)).unwrap()
            == std::fs::read(work.path().join("plain/restored_faces").join(name)).unwrap();
        assert_eq!(same, b["seed"] == p["seed"], "{b}");
    }
    // --best-of 1 is the plain run.
    let (one, _) = run(work.path(), &model, &faces, "one", &["--best-of", "1"]);
    assert_eq!(one["faces"], plain["faces"]);
}

#[test]
fn identity_network_choice_and_its_absence() {
    let work = tempfile::tempdir().unwrap();
    let (model, faces) = setup(work.path());

    // --id-weights: that file's network.
    let weights = Path::new(&model).join("identity.safetensors");
    let (report, _) = run(
        work.path(),
        &model,
        &faces,
        "own",
        &["--id-weights", weights.to_str().unwrap()],
    );
    assert!(
        report["identity_network"]
            .as_str()
            .unwrap()
            .contains("identity.safetensors"),
        "{report}"
    );
    // A missing one is a usage error naming it, before anything is restored.
    let missing = restore_in(
        work.path(),
        &[
            "--model",
            &model,
            "--input",
            &faces,
            "--output",
            "never",
            "--aligned",
            "--id-weights",
            "nowhere.safetensors",
            "--quiet",
        ],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("nowhere.safetensors"),
        "{}",
        stderr(&missing)
    );
    assert!(!work.path().join("never/restored_faces").exists());

    // A Stage I-only model without an identity network, and none in weights/identity/:
    // said once, similarities null, --best-of goes by NIQE.
    let config_path = Path::new(&model).join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    for key in ["stage2", "mib", "identity"] {
        config.as_object_mut().unwrap().remove(key);
    }
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let (report, log) = run(
        work.path(),
        &model,
        &faces,
        "none",
        &["--best-of", "2", "--stage1-only"],
    );
    assert_eq!(log.matches("no identity network").count(), 1, "{log}");
    assert!(report["identity_network"].is_null());
    for e in report["faces"].as_array().unwrap() {
        assert!(e["identity_similarity"].is_null(), "{e}");
        let niqes: Vec<f64> = e["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| num(&c["niqe"]))
            .collect();
        assert_eq!(
            num(&e["niqe"]),
            niqes.iter().copied().fold(f64::MAX, f64::min)
        );
    }
}

#[test]
fn presets_and_explicit_flags() {
    let work = tempfile::tempdir().unwrap();
    let (model, faces) = setup(work.path());
    let face =
        |out: &str| std::fs::read(work.path().join(out).join("restored_faces/obama.png")).unwrap();
    // --preset fast is DDIM with η = 0; an explicit --steps and --sampler win over it.
    run(work.path(), &model, &faces, "fast", &["--preset", "fast"]);
    run(work.path(), &model, &faces, "ddim", &["--sampler", "ddim"]);
    run(work.path(), &model, &faces, "ddpm", &[]);
    run(
        work.path(),
        &model,
        &faces,
        "fast-ddpm",
        &["--preset", "fast", "--sampler", "ddpm"],
    );
    assert_eq!(face("fast"), face("ddim"));
    assert_eq!(face("fast-ddpm"), face("ddpm"));
    assert_ne!(face("fast"), face("ddpm"));
    // --eta belongs to DDIM: refused with the paper preset's DDPM.
    let refused = restore_in(
        work.path(),
        &[
            "--model",
            &model,
            "--input",
            &faces,
            "--output",
            "eta",
            "--aligned",
            "--eta",
            "0.5",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--eta"), "{}", stderr(&refused));
}

#[test]
fn faces_not_restored_are_reported_with_their_reason() {
    let work = tempfile::tempdir().unwrap();
    let (model, _) = setup(work.path());
    let photos = work.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    // Two portraits side by side (the face crate's fixture), and one sample photo.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/diffmac-face/tests/fixtures/collage.png"),
        photos.join("collage.png"),
    )
    .unwrap();
    std::fs::copy(sample("obama.jpg"), photos.join("obama.jpg")).unwrap();
    let photos = photos.to_str().unwrap();
    let whole = |out: &str, extra: &[&str]| -> (Value, String) {
        let mut args = vec![
            "--model", &model, "--input", photos, "--output", out, "--steps", "1", "--quiet",
        ];
        args.extend_from_slice(extra);
        let result = restore_in(work.path(), &args);
        assert!(result.status.success(), "{extra:?}: {}", stderr(&result));
        let text = std::fs::read_to_string(work.path().join(out).join("report.json")).unwrap();
        (serde_json::from_str(&text).unwrap(), stderr(&result))
    };
    let of = |report: &Value, key: &str, input: &str| -> Vec<Value> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["input"].as_str().unwrap().ends_with(input))
            .cloned()
            .collect()
    };

    let (all, _) = whole("all", &[]);
    assert_eq!(of(&all, "faces", "collage.png").len(), 2);
    assert!(of(&all, "not_restored", "collage.png").is_empty(), "{all}");

    // --faces largest: the other portrait is listed, with its box and the reason.
    let (largest, log) = whole("largest", &["--faces", "largest"]);
    assert_eq!(of(&largest, "faces", "collage.png").len(), 1);
    let left = of(&largest, "not_restored", "collage.png");
    assert_eq!(left.len(), 1, "{largest}");
    assert_eq!(left[0]["reason"], "not the largest face");
    assert_eq!(left[0]["found_by"], "retinaface");
    assert_eq!(left[0]["box"].as_array().unwrap().len(), 4);
    assert!(log.contains("face(s) found but not restored"), "{log}");

    // --min-face larger than any face: nothing restored, each face said why, photos copied.
    let (none, log) = whole("none", &["--min-face", "5000"]);
    assert!(none["faces"].as_array().unwrap().is_empty());
    let dropped = of(&none, "not_restored", "collage.png");
    assert_eq!(dropped.len(), 2, "{none}");
    assert!(!of(&none, "not_restored", "obama.jpg").is_empty(), "{none}");
    for d in &dropped {
        let reason = d["reason"].as_str().unwrap();
        assert!(
            reason.ends_with("smaller than the minimum 5000 px"),
            "{reason}"
        );
    }
    assert!(log.contains("found, none kept"), "{log}");
    assert!(work.path().join("none/final_results/obama.png").exists());

    // --only-center-face is --faces center; both together are a usage error.
    let (centre, _) = whole("centre", &["--only-center-face"]);
    let (center, _) = whole("center", &["--faces", "center"]);
    assert_eq!(centre["faces"], center["faces"]);
    let both = restore_in(
        work.path(),
        &[
            "--model",
            &model,
            "--input",
            photos,
            "--output",
            "both",
            "--faces",
            "largest",
            "--only-center-face",
        ],
    );
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}
