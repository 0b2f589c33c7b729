//! Shared by the dlib tests: where the fetched weights are, and the face pipeline from a photo
//! to a dlib chip.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use diffmac_face::faces::{align_face, find_faces};
use diffmac_face::{FaceOptions, FaceSelection, Mtcnn};
use diffmac_id::DlibResNet;
use diffmac_id::dlib::{DLIB_CHIP_SIZE, ffhq_to_dlib_chip};
use diffmac_io::{images_to_tensor, load_image};
use image::Rgb32FImage;
use safetensors::SafeTensors;

static FIXTURE: &[u8] = include_bytes!("../fixtures/dlib_reference.safetensors");

/// dlib's own chips (`fixtures/dlib_reference.safetensors`) as `[N, 3, 150, 150]` in [-1, 1],
/// dlib's descriptors of them (N × 128) and the chip names (photo file names, `random`).
pub fn reference() -> (Tensor<Flex, 4>, Vec<Vec<f32>>, Vec<String>) {
    let st = SafeTensors::deserialize(FIXTURE).expect("fixture is safetensors");
    let chips = st.tensor("chips").expect("chips");
    let [n, h, w, c]: [usize; 4] = chips.shape().try_into().expect("NHWC chips");
    let values: Vec<f32> = chips
        .data()
        .iter()
        .map(|&v| f32::from(v) / 127.5 - 1.0)
        .collect();
    let x =
        Tensor::<Flex, 4>::from_data(TensorData::new(values, [n, h, w, c]), &Default::default())
            .permute([0, 3, 1, 2]);
    let d = st.tensor("descriptors").expect("descriptors");
    let dim = d.shape()[1];
    let flat: Vec<f32> = d
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (_, meta) = SafeTensors::read_metadata(FIXTURE).expect("fixture header");
    let names: Vec<String> = serde_json::from_str(
        meta.metadata()
            .as_ref()
            .and_then(|m| m.get("names"))
            .expect("names metadata"),
    )
    .expect("names are a JSON list");
    assert_eq!(names.len(), n);
    (x, flat.chunks(dim).map(<[f32]>::to_vec).collect(), names)
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$DIFFMAC_DLIB_WEIGHTS`, else `weights/identity/dlib_resnet_v1.safetensors`.
pub fn weights_path() -> PathBuf {
    std::env::var_os("DIFFMAC_DLIB_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("weights/identity/dlib_resnet_v1.safetensors"))
}

/// The converted dlib network, or `None` (with a printed reason) when it has not been fetched.
/// With `DIFFMAC_REQUIRE_IDENTITY_WEIGHTS=1` (CI after the fetch) a missing file fails the test.
pub fn dlib_net(test: &str) -> Option<DlibResNet<Flex>> {
    let path = weights_path();
    if !path.exists() {
        let required = std::env::var("DIFFMAC_REQUIRE_IDENTITY_WEIGHTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: {} not found but DIFFMAC_REQUIRE_IDENTITY_WEIGHTS=1",
            path.display()
        );
        println!(
            "SKIPPED {test}: {} not found; run scripts/fetch_identity_weights.sh \
             (or set DIFFMAC_DLIB_WEIGHTS)",
            path.display()
        );
        return None;
    }
    Some(DlibResNet::load(&path, &Default::default()).expect("converted dlib weights load"))
}

/// The largest face of a photo, MTCNN-detected and FFHQ-aligned to 512×512.
pub fn ffhq_face(mtcnn: &Mtcnn<Flex>, photo: &Rgb32FImage, name: &str) -> Rgb32FImage {
    let options = FaceOptions {
        selection: FaceSelection::Largest,
        ..Default::default()
    };
    let found = find_faces(mtcnn, photo, &options).expect("detection runs");
    let face = found
        .first()
        .unwrap_or_else(|| panic!("{name}: no face found"));
    align_face(photo, face, &options).expect("alignment").crop
}

/// A photo file as RGB in [0, 1].
pub fn photo(path: &Path) -> Rgb32FImage {
    load_image(path, 64_000_000).expect("photo loads").rgb
}

/// FFHQ-aligned faces → dlib chips `[N, 3, 150, 150]` in [-1, 1].
pub fn chips(faces: &[Rgb32FImage]) -> Tensor<Flex, 4> {
    let x = images_to_tensor::<Flex>(faces, &Default::default()).expect("faces to tensor");
    ffhq_to_dlib_chip(x, DLIB_CHIP_SIZE).expect("chip crop")
}

/// Euclidean distance of two descriptors.
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Cosine similarity of two descriptors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}
