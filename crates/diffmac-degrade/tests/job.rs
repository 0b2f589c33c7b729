//! The batch job: bad files fail alone, results do not depend on thread count, and nothing
//! the user has is overwritten.

mod common;

use std::path::{Path, PathBuf};

use common::textured;
use diffmac_degrade::job::{JobOptions, run_job};
use diffmac_degrade::{DegradationConfig, DegradeError};
use diffmac_io::{IoError, collect_inputs};
use image::DynamicImage;

fn options(output_dir: &Path) -> JobOptions {
    JobOptions {
        output_dir: output_dir.to_owned(),
        seed: 9,
        config: DegradationConfig::default(),
        size: 64,
        overwrite: false,
        max_pixels: 1 << 24,
    }
}

fn save(path: &Path, width: u32, height: u32) -> PathBuf {
    DynamicImage::ImageRgb32F(textured(width, height))
        .to_rgb8()
        .save(path)
        .unwrap();
    path.to_owned()
}

#[test]
fn folder_batch_goes_on_past_bad_files() {
    let input = tempfile::tempdir().unwrap();
    let output = tempfile::tempdir().unwrap();
    save(&input.path().join("good.png"), 80, 64);
    save(&input.path().join("small.png"), 32, 32);
    std::fs::write(
        input.path().join("broken.jpg"),
        b"\xFF\xD8\xFF\xE0 not really",
    )
    .unwrap();
    std::fs::write(input.path().join("readme.txt"), b"text").unwrap();
    std::fs::write(input.path().join(".hidden.png"), b"x").unwrap();

    let inputs = collect_inputs(input.path()).unwrap();
    let names = |v: &[PathBuf]| {
        v.iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&inputs.images),
        ["broken.jpg", "good.png", "small.png"]
    );
    assert_eq!(names(&inputs.skipped), ["readme.txt"]);

    let results = run_job(&inputs.images, &options(output.path()), |_, _| {}).unwrap();
    assert!(matches!(
        &results[0],
        Err(DegradeError::File(
            IoError::Decode { .. } | IoError::Truncated { .. }
        ))
    ));
    let good = results[1].as_ref().unwrap();
    assert!(
        good.notes.iter().any(|n| n.contains("centre-cropped")),
        "{:?}",
        good.notes
    );
    assert!(matches!(
        &results[2],
        Err(DegradeError::File(IoError::TooSmall { min_side: 64, .. }))
    ));

    let written = image::open(output.path().join("good.png")).unwrap();
    assert_eq!((written.width(), written.height()), (64, 64));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(output.path().join("good.json")).unwrap()).unwrap();
    assert_eq!(record["params"]["blur"]["kernel_size"], 41);
    assert!(
        !output.path().join("small.png").exists() && !output.path().join("broken.png").exists()
    );
    let leftovers = std::fs::read_dir(output.path()).unwrap().count();
    assert_eq!(leftovers, 2, "no temporary files left behind");
}

#[test]
fn output_bytes_do_not_depend_on_thread_count() {
    let input = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..4)
        .map(|i| save(&input.path().join(format!("f{i}.png")), 70 + i, 64))
        .collect();
    let run_with = |threads| {
        let output = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run_job(&files, &options(output.path()), |_, _| {}).unwrap());
        let bytes: Vec<Vec<u8>> = (0..4)
            .map(|i| std::fs::read(output.path().join(format!("f{i}.png"))).unwrap())
            .collect();
        bytes
    };
    assert_eq!(run_with(1), run_with(2));
}

#[test]
fn existing_outputs_are_kept_unless_overwrite() {
    let input = tempfile::tempdir().unwrap();
    let output = tempfile::tempdir().unwrap();
    let file = save(&input.path().join("face.png"), 64, 64);
    std::fs::write(output.path().join("face.png"), b"precious").unwrap();

    let results = run_job(
        std::slice::from_ref(&file),
        &options(output.path()),
        |_, _| {},
    )
    .unwrap();
    assert!(matches!(
        &results[0],
        Err(DegradeError::File(IoError::OutputExists { .. }))
    ));
    assert_eq!(
        std::fs::read(output.path().join("face.png")).unwrap(),
        b"precious"
    );
    assert!(!output.path().join("face.json").exists());

    let mut opts = options(output.path());
    opts.overwrite = true;
    let results = run_job(&[file], &opts, |_, _| {}).unwrap();
    assert!(results[0].is_ok());
    assert!(image::open(output.path().join("face.png")).is_ok());
}

#[test]
fn the_input_folder_is_never_the_output_folder() {
    let input = tempfile::tempdir().unwrap();
    let file = save(&input.path().join("face.png"), 64, 64);
    let err = run_job(&[file], &options(input.path()), |_, _| {}).unwrap_err();
    assert!(
        matches!(err, DegradeError::File(IoError::OutputIsInputFolder { .. })),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(input.path()).unwrap().count(), 1);
}

#[test]
fn inputs_sharing_a_stem_do_not_overwrite_each_other() {
    let input = tempfile::tempdir().unwrap();
    let output = tempfile::tempdir().unwrap();
    let png = save(&input.path().join("face.png"), 64, 64);
    let jpg = save(&input.path().join("face.jpg"), 64, 64);
    let results = run_job(&[jpg, png], &options(output.path()), |_, _| {}).unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(
        &results[1],
        Err(DegradeError::File(IoError::OutputClash { .. }))
    ));
}

#[test]
fn invalid_configs_are_rejected_up_front() {
    let output = tempfile::tempdir().unwrap();
    let mut opts = options(output.path());
    opts.config.blur.kernel_size = 40;
    let err = run_job(&[], &opts, |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("kernel_size"), "{err}");
}
