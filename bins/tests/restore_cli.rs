//! `diffmac-convert tiny` and `diffmac-restore` run as a user runs them, end to end on the
//! bundled sample photos with the tiny random-weight bundle: both modes, output layout and
//! sizes, determinism, untouched inputs, bad inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("binary runs")
}

fn restore(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_diffmac-restore"), args, &[])
}

fn convert(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_diffmac-convert"), args, &[])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn faces() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/faces")).to_path_buf()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

fn tiny_model(dir: &Path) -> String {
    let model = dir.join("model");
    let out = convert(&["tiny", "--output", model.to_str().unwrap(), "--seed", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    model.to_str().unwrap().to_string()
}

fn dims(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn whole_photos_are_restored_reproducibly_into_the_codeformer_layout() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    // The sample photos plus a photo without a face and a truncated file.
    let input = work.path().join("photos");
    std::fs::create_dir_all(&input).unwrap();
    for name in ["obama.jpg", "astronaut.png"] {
        std::fs::copy(faces().join(name), input.join(name)).unwrap();
    }
    image::RgbImage::from_pixel(96, 80, image::Rgb([120, 130, 140]))
        .save(input.join("wall.png"))
        .unwrap();
    let jpeg = std::fs::read(faces().join("biden.jpg")).unwrap();
    std::fs::write(input.join("broken.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    let before = snapshot(&input);

    let outputs: Vec<PathBuf> = ["a", "b"].iter().map(|n| work.path().join(n)).collect();
    for out in &outputs {
        let args = [
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--steps",
            "2",
            "--upscale",
            "2",
            "--save-cmp",
            "--quiet",
        ];
        let run = restore(&args);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(1), "one input is broken: {err}");
        assert!(err.contains("RANDOM weights"), "{err}");
        assert!(
            err.contains("broken.jpg") && err.contains("truncated"),
            "{err}"
        );
        assert!(err.contains("wall.png: no face found"), "{err}");
        assert!(err.contains("from 3 of 4 input(s)"), "{err}");
    }
    assert_eq!(snapshot(&input), before, "inputs must stay untouched");

    let a = &outputs[0];
    for name in ["obama", "astronaut"] {
        let face = a.join("restored_faces").join(format!("{name}_00.png"));
        assert_eq!(dims(&face), (512, 512));
        assert_eq!(
            dims(&a.join(format!("cropped_faces/{name}_00.png"))),
            (512, 512)
        );
        assert_eq!(dims(&a.join(format!("cmp/{name}_00.png"))), (1024, 512));
    }
    let (w, h) = dims(&faces().join("obama.jpg"));
    assert_eq!(dims(&a.join("final_results/obama.png")), (2 * w, 2 * h));
    // The faceless photo is still delivered.
    assert_eq!(dims(&a.join("final_results/wall.png")), (192, 160));
    assert!(!a.join("final_results/broken.png").exists());
    // Same seed, same model, same backend: the same bytes.
    assert_eq!(snapshot(a), snapshot(&outputs[1]));
}

#[test]
fn aligned_faces_are_restored_and_never_overwritten_without_asking() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    let input = work.path().join("aligned");
    std::fs::create_dir_all(input.join("more")).unwrap();
    let astronaut = image::open(faces().join("astronaut.png")).unwrap();
    astronaut
        .resize_exact(128, 128, image::imageops::FilterType::Triangle)
        .save(input.join("a.png"))
        .unwrap();
    astronaut
        .crop_imm(100, 0, 300, 300)
        .save(input.join("more/b.png"))
        .unwrap();
    let out = work.path().join("out");
    let base = [
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--aligned",
        "--recursive",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--save-stage1",
        "--quiet",
    ];
    let first = restore(&base);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(dims(&out.join("restored_faces/a.png")), (128, 128));
    assert_eq!(dims(&out.join("restored_faces/more/b.png")), (300, 300));
    assert_eq!(dims(&out.join("stage1_faces/more/b.png")), (300, 300));
    let done = snapshot(&out);

    let again = restore(&base);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        snapshot(&out),
        done,
        "existing outputs must stay as they were"
    );

    let mut skip = base.to_vec();
    skip.push("--skip-existing");
    let skipped = restore(&skip);
    assert!(skipped.status.success(), "{}", stderr(&skipped));
    assert!(
        stderr(&skipped).contains("2 already done"),
        "{}",
        stderr(&skipped)
    );
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let work = tempfile::tempdir().unwrap();
    let faces = faces();
    let faces = faces.to_str().unwrap();
    // No model anywhere.
    let no_model = run(
        env!("CARGO_BIN_EXE_diffmac-restore"),
        &["--input", faces, "--output", work.path().to_str().unwrap()],
        &[
            ("DIFFMAC_MODEL", ""),
            ("HOME", "/nonexistent"),
            ("XDG_DATA_HOME", ""),
        ],
    );
    assert_eq!(no_model.status.code(), Some(2));
    assert!(
        stderr(&no_model).contains("diffmac-convert tiny"),
        "{}",
        stderr(&no_model)
    );

    // Output inside the input folder.
    let model = tiny_model(work.path());
    let inside = format!("{faces}/out");
    let refused = restore(&["--model", &model, "--input", faces, "--output", &inside]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("inside the input folder"));
    assert!(!Path::new(&inside).exists());

    // A damaged bundle is reported by the checker, file by file.
    std::fs::write(Path::new(&model).join("unet.safetensors"), b"not a model").unwrap();
    let check = convert(&["check", "--model", &model]);
    assert_eq!(check.status.code(), Some(2));
    assert!(
        stderr(&check).contains("unet.safetensors"),
        "{}",
        stderr(&check)
    );
}

/// A tiny run of both training stages merges into a tiny bundle, which then restores; so does
/// a 2AdaIN Stage II merged over it.
#[test]
fn trained_stages_merge_into_a_bundle_that_restores() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    let faces = faces();
    let train = |args: &[&str]| {
        let out = run(env!("CARGO_BIN_EXE_diffmac-train"), args, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let run1 = work.path().join("run1");
    let run2 = work.path().join("run2");
    let data = faces.to_str().unwrap();
    train(&[
        "--preset",
        "tiny",
        "--data",
        data,
        "--output",
        run1.to_str().unwrap(),
        "--steps",
        "2",
        "-q",
    ]);
    let stage1 = run1.join("checkpoints");
    let latest = std::fs::read_to_string(stage1.join("latest")).unwrap();
    let stage1 = stage1.join(latest.trim());
    // A tiny Stage II run on top of Stage I, with `stage2` as its config's stage2 section.
    let train_stage2 = |stage2: &str, run_dir: &Path| {
        let config = work.path().join("stage2.json");
        std::fs::write(&config, format!(r#"{{"stage": 2, "stage2": {stage2}}}"#)).unwrap();
        train(&[
            "--preset",
            "tiny",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data,
            "--stage1-checkpoint",
            stage1.to_str().unwrap(),
            "--output",
            run_dir.to_str().unwrap(),
            "--steps",
            "2",
            "-q",
        ]);
    };
    let merge = |run_dir: &Path| {
        let checkpoints = run_dir.join("checkpoints");
        let out = convert(&[
            "merge",
            "--model",
            &model,
            "--checkpoint",
            checkpoints.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let check = || {
        let check = convert(&["check", "--model", &model]);
        String::from_utf8_lossy(&check.stdout).into_owned() + &stderr(&check)
    };
    // Restores astronaut.png as an aligned face into `out`, with `extra` arguments.
    let restore_into = |out: &Path, extra: &[&str]| {
        let astronaut = faces.join("astronaut.png");
        let mut args = vec![
            "--model",
            &model,
            "--input",
            astronaut.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--aligned",
            "--steps",
            "2",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        restore(&args)
    };

    train_stage2(r#"{"sampler_steps": 2}"#, &run2);
    merge(&run1);
    merge(&run2);
    let report = check();
    assert!(report.contains("stages trained: true/true"), "{report}");
    let out = work.path().join("out");
    let restored = restore_into(&out, &[]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(dims(&out.join("restored_faces/astronaut.png")), (512, 512));

    // Table 3's 2AdaIN Stage II (no bottleneck) replaces it, and the bundle still restores.
    let run3 = work.path().join("run3");
    train_stage2(r#"{"sampler_steps": 2, "variant": "two_adain"}"#, &run3);
    let latest3 = std::fs::read_to_string(run3.join("checkpoints/latest")).unwrap();
    assert!(
        !run3
            .join("checkpoints")
            .join(latest3.trim())
            .join("mib.safetensors")
            .exists()
    );
    merge(&run3);
    let bundle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&model).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(bundle["stage2_variant"], "two_adain");
    assert!(bundle["mib"].is_null());
    let report = check();
    assert!(report.contains("stage II: true (2AdaIN"), "{report}");
    let out2 = work.path().join("out2");
    let restored = restore_into(&out2, &[]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert_eq!(dims(&out2.join("restored_faces/astronaut.png")), (512, 512));
    // Without a bottleneck there is no identity for a reference face to replace.
    let out3 = work.path().join("out3");
    let obama = faces.join("obama.jpg");
    let refused = restore_into(&out3, &["--reference", obama.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("2AdaIN"), "{}", stderr(&refused));
    assert!(!out3.join("restored_faces").exists());
}

/// Largest difference of any pixel value (8 bits) between two images of one size.
fn max_pixel_diff(a: &Path, b: &Path) -> u8 {
    let (a, b) = (
        image::open(a).unwrap().to_rgba8(),
        image::open(b).unwrap().to_rgba8(),
    );
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Each face has its own seed, so `--batch-size` changes speed, not results: in aligned mode
/// (four faces of one size: batches of 3 and 1) and in whole-photo mode (a group photo of the
/// three sample faces, restored as one batch). The files must be identical: the CPU backend
/// computes a batch item as it computes it alone, and the tiny model's outputs vary so little
/// with the noise (about 1 of 255 between seeds) that a tolerance would hide wrong seeding.
#[test]
fn the_batch_size_does_not_change_the_results() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    let aligned = work.path().join("aligned");
    let photos = work.path().join("photos");
    std::fs::create_dir_all(&aligned).unwrap();
    std::fs::create_dir_all(&photos).unwrap();
    let sources: Vec<image::DynamicImage> = ["astronaut.png", "obama.jpg", "biden.jpg"]
        .iter()
        .map(|n| image::open(faces().join(n)).unwrap())
        .collect();
    for (i, source) in sources.iter().enumerate() {
        let side = source.width().min(source.height());
        let square = source.crop_imm(0, 0, side, side);
        square
            .resize_exact(96, 96, image::imageops::FilterType::Triangle)
            .save(aligned.join(format!("{i}.png")))
            .unwrap();
    }
    sources[0]
        .fliph()
        .resize_exact(96, 96, image::imageops::FilterType::Triangle)
        .save(aligned.join("3.png"))
        .unwrap();
    // The three portraits side by side, 300 pixels high.
    let parts: Vec<image::RgbImage> = sources
        .iter()
        .map(|s| {
            s.resize(10_000, 300, image::imageops::FilterType::Triangle)
                .to_rgb8()
        })
        .collect();
    let width = parts.iter().map(|p| p.width()).sum();
    let mut group = image::RgbImage::new(width, 300);
    let mut x = 0;
    for part in &parts {
        image::imageops::replace(&mut group, part, i64::from(x), 0);
        x += part.width();
    }
    group.save(photos.join("group.png")).unwrap();

    let outputs: Vec<PathBuf> = ["1", "3"]
        .iter()
        .map(|b| {
            let out = work.path().join(format!("out{b}"));
            for (input, extra) in [(&aligned, Some("--aligned")), (&photos, None)] {
                let mut args = vec![
                    "--model",
                    &model,
                    "--input",
                    input.to_str().unwrap(),
                    "--output",
                    out.to_str().unwrap(),
                    "--steps",
                    "2",
                    "--batch-size",
                    b,
                    "--save-stage1",
                    "--quiet",
                ];
                args.extend(extra);
                let run = restore(&args);
                assert!(run.status.success(), "{}", stderr(&run));
            }
            out
        })
        .collect();
    let (one, three) = (snapshot(&outputs[0]), snapshot(&outputs[1]));
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        three.keys().collect::<Vec<_>>()
    );
    let group_faces = one
        .keys()
        .filter(|p| p.starts_with("restored_faces") && p.to_string_lossy().contains("group_"))
        .count();
    assert!(
        group_faces >= 2,
        "the group photo must give a batch: {:?}",
        one.keys()
    );
    for (name, bytes) in &one {
        if *bytes != three[name] {
            let diff = max_pixel_diff(&outputs[0].join(name), &outputs[1].join(name));
            panic!("{} differs (pixels by up to {diff} of 255)", name.display());
        }
    }
}

/// Photos go back out as they came in: a photo without a face byte for byte, a grayscale one
/// grayscale (the restored luma) unless --colorize, a 16-bit one with 16 bits.
#[test]
fn photos_keep_their_storage() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    let input = work.path().join("photos");
    std::fs::create_dir_all(&input).unwrap();
    // A 16-bit grey photo without a face, and the sample face as 8-bit grey and 16-bit colour.
    image::ImageBuffer::from_fn(96, 80, |x, y| image::Luma([(x * 600 + y * 97) as u16]))
        .save(input.join("wall16.png"))
        .unwrap();
    let obama = image::open(faces().join("obama.jpg")).unwrap();
    obama.to_luma8().save(input.join("grey.png")).unwrap();
    obama.to_rgb16().save(input.join("deep.png")).unwrap();
    let color = |out: &Path| image::open(out).unwrap().color();
    for (out, extra) in [("plain", None), ("colour", Some("--colorize"))] {
        let out = work.path().join(out);
        let mut args = vec![
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--steps",
            "1",
            "--quiet",
        ];
        args.extend(extra);
        let run = restore(&args);
        assert!(run.status.success(), "{}", stderr(&run));
        assert_eq!(
            std::fs::read(out.join("final_results/wall16.png")).unwrap(),
            std::fs::read(input.join("wall16.png")).unwrap(),
            "a photo without a face is copied byte for byte"
        );
        assert_eq!(
            color(&out.join("final_results/deep.png")),
            image::ColorType::Rgb16
        );
        let (grey, face) = (
            color(&out.join("final_results/grey.png")),
            color(&out.join("restored_faces/grey_00.png")),
        );
        if extra.is_none() {
            assert_eq!((grey, face), (image::ColorType::L8, image::ColorType::L8));
        } else {
            assert_eq!(
                (grey, face),
                (image::ColorType::Rgb8, image::ColorType::Rgb8)
            );
        }
    }
}

/// Every option that changes what is computed changes the output, and the options that guard
/// files do what they say; a corrupt model is refused before anything is restored.
#[test]
fn each_restore_option_has_its_effect() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    std::fs::create_dir_all(work.path().join("in")).unwrap();
    let input = work.path().join("in/face.png");
    image::open(faces().join("astronaut.png"))
        .unwrap()
        .resize_exact(64, 64, image::imageops::FilterType::Triangle)
        .save(&input)
        .unwrap();
    let mut count = 0;
    // Restores the aligned face with `extra` options; returns the output's bytes.
    let mut run_with = |extra: &[&str]| -> Vec<u8> {
        count += 1;
        let out = work.path().join(format!("out{count}"));
        let mut args = vec![
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--aligned",
            "--steps",
            "2",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let run = restore(&args);
        assert!(run.status.success(), "{extra:?}: {}", stderr(&run));
        std::fs::read(out.join("restored_faces/face.png")).unwrap()
    };
    let base = run_with(&[]);
    assert_eq!(run_with(&[]), base, "same options, same bytes");
    for extra in [
        &["--sampler", "ddim"][..],
        &["--strength", "0.5"],
        &["--color-fix", "adain"],
        &["--color-fix", "wavelet"],
        &["--precision", "bf16"],
        &["--seed", "1"],
    ] {
        assert!(run_with(extra) != base, "{extra:?} changes nothing");
    }
    let ddim = run_with(&["--sampler", "ddim", "--eta", "0"]);
    assert_ne!(
        run_with(&["--sampler", "ddim", "--eta", "1"]),
        ddim,
        "--eta"
    );

    // --max-pixels: an image over the limit is refused, naming it.
    let out = work.path().join("small-limit");
    let refused = restore(&[
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--aligned",
        "--max-pixels",
        "1000",
        "--quiet",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("face.png") && stderr(&refused).contains("over the limit"),
        "{}",
        stderr(&refused)
    );

    // --overwrite replaces an existing output (here with another seed's result).
    let out = work.path().join("out1");
    let first = std::fs::read(out.join("restored_faces/face.png")).unwrap();
    let again = |extra: &[&str]| {
        let mut args = vec![
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--aligned",
            "--steps",
            "2",
            "--seed",
            "9",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        restore(&args)
    };
    assert_eq!(again(&[]).status.code(), Some(1));
    assert_eq!(
        std::fs::read(out.join("restored_faces/face.png")).unwrap(),
        first
    );
    assert!(again(&["--overwrite"]).status.success());
    assert_ne!(
        std::fs::read(out.join("restored_faces/face.png")).unwrap(),
        first
    );

    // --only-center-face: of two faces side by side, only the one nearer the centre.
    let (obama, biden) = (
        image::open(faces().join("obama.jpg")).unwrap().to_rgb8(),
        image::open(faces().join("biden.jpg")).unwrap().to_rgb8(),
    );
    let (w, h) = (
        obama.width() + biden.width(),
        obama.height().max(biden.height()),
    );
    let mut pair = image::RgbImage::from_pixel(w + obama.width() / 2, h, image::Rgb([90, 90, 90]));
    image::imageops::replace(&mut pair, &obama, 0, 0);
    image::imageops::replace(&mut pair, &biden, i64::from(obama.width()), 0);
    let photo = work.path().join("in/pair.png");
    pair.save(&photo).unwrap();
    let faces_of = |extra: &[&str]| -> usize {
        let out = work.path().join(format!("pair{}", extra.len()));
        let mut args = vec![
            "--model",
            &model,
            "--input",
            photo.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--steps",
            "1",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let run = restore(&args);
        assert!(run.status.success(), "{}", stderr(&run));
        std::fs::read_dir(out.join("restored_faces"))
            .unwrap()
            .count()
    };
    assert_eq!(faces_of(&[]), 2);
    assert_eq!(faces_of(&["--only-center-face"]), 1);

    // --injection: without an identity network the model's own setting (identity injection)
    // cannot run and is refused; noise or no injection run. (What each injection computes is
    // checked on the bottleneck's output in diffmac-restore's tests/pipeline.rs.)
    let config = Path::new(&model).join("config.json");
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    bundle["identity"] = serde_json::Value::Null;
    std::fs::write(&config, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let injected = |extra: &[&str]| {
        let out = work.path().join(format!("inj{}", extra.join("-")));
        let mut args = vec![
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--aligned",
            "--steps",
            "1",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        restore(&args)
    };
    let refused = injected(&[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("identity encoder"),
        "{}",
        stderr(&refused)
    );
    for kind in ["noise", "none"] {
        let run = injected(&["--injection", kind]);
        assert!(run.status.success(), "{kind}: {}", stderr(&run));
    }

    // A corrupt model: refused with exit 2, naming the file, before any output.
    let unet = Path::new(&model).join("unet.safetensors");
    let bytes = std::fs::read(&unet).unwrap();
    std::fs::write(&unet, &bytes[..bytes.len() / 2]).unwrap();
    let out = work.path().join("corrupt");
    let corrupt = restore(&[
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--aligned",
        "--quiet",
    ]);
    assert_eq!(corrupt.status.code(), Some(2), "{}", stderr(&corrupt));
    assert!(
        stderr(&corrupt).contains("unet.safetensors") && stderr(&corrupt).contains("truncated"),
        "{}",
        stderr(&corrupt)
    );
    assert!(!out.join("restored_faces").exists());
}

#[test]
fn paste_mask_and_detector_options_have_their_effect() {
    let work = tempfile::tempdir().unwrap();
    let model = tiny_model(work.path());
    let input = faces().join("astronaut.png");
    let original = image::open(&input).unwrap().to_rgb8();
    // Restores the photo with `extra` options; returns how many pixels of the final photo
    // differ from the input, the faces cropped, and how report.json says they were found.
    let run_with = |name: &str, extra: &[&str]| -> (usize, usize, String) {
        let out = work.path().join(name);
        let mut args = vec![
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--steps",
            "2",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let run = restore(&args);
        assert!(run.status.success(), "{extra:?}: {}", stderr(&run));
        let done = image::open(out.join("final_results/astronaut.png"))
            .unwrap()
            .to_rgb8();
        let changed = done
            .pixels()
            .zip(original.pixels())
            .filter(|(a, b)| a != b)
            .count();
        let crops = std::fs::read_dir(out.join("cropped_faces"))
            .unwrap()
            .count();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        (
            changed,
            crops,
            format!(
                "{}, {}",
                report["faces"][0]["found_by"].as_str().unwrap(),
                report["faces"][0]["pasted_with"].as_str().unwrap()
            ),
        )
    };
    let (outline, n, by) = run_with("face", &[]);
    assert_eq!(by, "retinaface, face outline");
    let (square, _, by) = run_with("box", &["--paste-mask", "box"]);
    assert_eq!(by, "retinaface, feathered square");
    println!("pixels replaced: outline {outline}, square {square}");
    assert_eq!(n, 1);
    assert!(
        outline > 0 && outline * 10 < square * 8,
        "{outline} vs {square}"
    );
    let (_, n, by) = run_with("mtcnn", &["--detector", "mtcnn"]);
    assert_eq!(n, 1, "MTCNN finds the face too");
    assert_eq!(by, "mtcnn, face outline");
    let bad = restore(&["--detector", "haar", "--input", "x", "--output", "y"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("retinaface or mtcnn"),
        "{}",
        stderr(&bad)
    );
}
