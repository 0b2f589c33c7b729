//! Finding the faces of a 12-megapixel photo, the whole process: decoding the JPEG, the
//! downscaled copy the detector sees, the network(s), decoding and suppression — for each
//! detector, on the default backend (`--features cuda` for the GPU).
//!
//! `cargo bench --bench face_detection` (figures in docs/faces.md).
//!
//! The photo is a real group photo up-sampled to 4000×3000 and saved as a JPEG (quality 92):
//! `benches/group_photos/images/solvay_conference_1927.jpg` (29 faces) when
//! `scripts/fetch_group_photos.sh` has fetched the set, otherwise the two-portrait collage of
//! the face crate's fixtures.

use std::path::PathBuf;

use diffmac::backend::{DefaultBackend, default_device};
use diffmac::face::faces::find_faces;
use diffmac::face::{Detector, DetectorKind, FaceOptions};
use diffmac::io::{DEFAULT_MAX_PIXELS, load_image};
use image::imageops::FilterType;

fn main() {
    divan::main();
}

/// Writes the 12-megapixel JPEG once per run and returns its path.
fn photo_12mp() -> PathBuf {
    // Relative to the repository root: where `cargo bench` runs it, and where a copied bench
    // binary is run on another machine.
    let group = PathBuf::from("benches/group_photos/images/solvay_conference_1927.jpg");
    let source = if group.exists() {
        group
    } else {
        PathBuf::from("crates/diffmac-face/tests/fixtures/collage.png")
    };
    let dir = std::env::temp_dir().join("diffmac-bench-face-detection");
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let out = dir.join("photo_4000x3000.jpg");
    let img = image::open(&source).expect("bench photo").to_rgb8();
    let big = image::imageops::resize(&img, 4000, 3000, FilterType::CatmullRom);
    let file = std::fs::File::create(&out).expect("temporary JPEG");
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 92);
    enc.encode_image(&big).expect("JPEG encoding");
    out
}

fn detect(bencher: divan::Bencher<'_, '_>, kind: DetectorKind) {
    let path = photo_12mp();
    let detector = Detector::<DefaultBackend>::pretrained(kind, &default_device()).unwrap();
    let options = FaceOptions::default();
    bencher.bench_local(|| {
        let photo = load_image(&path, DEFAULT_MAX_PIXELS).unwrap();
        find_faces(&detector, &photo.rgb, &options).unwrap().len()
    });
}

/// The default detector.
#[divan::bench(sample_count = 10)]
fn retinaface_12mp_jpeg(bencher: divan::Bencher<'_, '_>) {
    detect(bencher, DetectorKind::RetinaFace);
}

/// MTCNN, for comparison.
#[divan::bench(sample_count = 5)]
fn mtcnn_12mp_jpeg(bencher: divan::Bencher<'_, '_>) {
    detect(bencher, DetectorKind::Mtcnn);
}
