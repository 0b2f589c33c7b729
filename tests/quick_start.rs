//! The README's quick start as a test, through the library: write the tiny random-weight
//! bundle, restore the bundled sample photos whole (detect, align, restore, paste back), and
//! synthesise low-quality training faces from them with eq. 14.

use std::path::{Path, PathBuf};

use burn::tensor::FloatDType;
use diffmac::backend::DefaultBackend as B;
use diffmac::degrade::DegradationConfig;
use diffmac::degrade::job::{JobOptions, run_job};
use diffmac::face::{Detector, DetectorKind, FaceMesh, FaceOptions, paste::PasteOptions};
use diffmac::io::{DEFAULT_MAX_PIXELS, collect_inputs, load_image};
use diffmac::restore::bundle::write_tiny_bundle;
use diffmac::restore::faces::{FaceRun, PhotoSetup, restore_photo};
use diffmac::restore::{ModelBundle, Quiet, RestoreOptions, Restorer};

fn sample_faces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/faces")
}

#[test]
fn tiny_bundle_restores_the_sample_photos_and_they_degrade_reproducibly() {
    let device = Default::default();
    let work = tempfile::tempdir().unwrap();

    // 1. `diffmac-convert tiny`, then `diffmac-restore` on the sample photos.
    let model = work.path().join("models/tiny");
    write_tiny_bundle::<B>(&model, 7, false, &device).unwrap();
    let bundle = ModelBundle::<B>::load(&model, &device, FloatDType::F32).unwrap();
    let options = RestoreOptions {
        stage1_steps: 2,
        stage2_steps: 2,
        ..RestoreOptions::default()
    };
    let restorer = Restorer::new(&bundle, options).unwrap();
    let detector = Detector::<B>::pretrained(DetectorKind::default(), &device).unwrap();
    let mesh = FaceMesh::<B>::pretrained(&device).unwrap();
    let photos = collect_inputs(&sample_faces()).unwrap().images;
    assert!(photos.len() >= 3, "{photos:?}");
    let mut faces = 0;
    for path in &photos {
        let photo = load_image(path, DEFAULT_MAX_PIXELS).unwrap();
        let setup = PhotoSetup {
            detector: &detector,
            outline: Some(&mesh),
            face_options: &FaceOptions::default(),
            paste_options: &PasteOptions::default(),
        };
        let restored = restore_photo(
            &restorer,
            &setup,
            &photo,
            &FaceRun {
                batch_size: 4,
                ..FaceRun::default()
            },
            0,
            &path.to_string_lossy(),
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(restored.photo.rgb.dimensions(), photo.rgb.dimensions());
        assert_eq!(restored.faces.len(), restored.restored.len());
        for face in &restored.restored {
            let face = &face.as_ref().unwrap().face;
            assert_eq!(face.output.dimensions(), (512, 512));
            assert!(face.output.iter().all(|v| v.is_finite()));
        }
        faces += restored.faces.len();
    }
    // Every sample photo shows one person.
    assert_eq!(faces, photos.len());

    // 2. `diffmac-degrade --seed 7`: one PNG and one JSON record per face, the same bytes
    //    for the same seed.
    let run = |dir: &Path| {
        let options = JobOptions {
            output_dir: dir.to_path_buf(),
            seed: 7,
            config: DegradationConfig::default(),
            size: 512,
            overwrite: false,
            max_pixels: DEFAULT_MAX_PIXELS,
        };
        let results = run_job(&photos, &options, |_, _| {}).unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    };
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    run(&a);
    run(&b);
    let record = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    for path in &photos {
        let name = Path::new(path.file_stem().unwrap()).with_extension("png");
        let bytes = std::fs::read(a.join(&name)).unwrap();
        assert_eq!(bytes, std::fs::read(b.join(&name)).unwrap(), "{name:?}");
        let (ra, rb) = (
            record(a.join(&name).with_extension("json")),
            record(b.join(&name).with_extension("json")),
        );
        assert_eq!(ra["params"], rb["params"]);
        assert_eq!(ra["stream_seed"], rb["stream_seed"]);
    }
}
