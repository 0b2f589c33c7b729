//! Shared test helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::backend::Flex;
use diffmac_face::Detection;
use safetensors::SafeTensors;
use serde_json::Value;

/// The CPU test backend.
pub type B = Flex;

/// A path inside this crate.
pub fn crate_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A sample photo from the workspace's `examples/faces`.
pub fn photo(name: &str) -> PathBuf {
    crate_path("../../examples/faces").join(name)
}

/// A sample photo, or `collage.png` from this crate's fixtures.
pub fn photo_or_fixture(name: &str) -> PathBuf {
    if name == "collage.png" {
        crate_path("tests/fixtures/collage.png")
    } else {
        photo(name)
    }
}

/// Reads an f32 tensor of a fixture safetensors file: (shape, values).
pub fn fixture_tensor(file: &[u8], name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = SafeTensors::deserialize(file).expect("fixture is safetensors");
    let view = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture has {name}"));
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest box, landmark and score differences between a detection and a reference one
/// (`{"box": [..4], "score": s, "landmarks": [[x, y]; 5]}`).
pub fn detection_errors(got: &Detection, want: &Value) -> (f32, f32, f32) {
    let f = |v: &Value| v.as_f64().unwrap() as f32;
    let box_err = got
        .bbox
        .iter()
        .zip(want["box"].as_array().unwrap())
        .map(|(g, w)| (g - f(w)).abs())
        .fold(0.0, f32::max);
    let lm_err = got
        .landmarks
        .iter()
        .zip(want["landmarks"].as_array().unwrap())
        .flat_map(|(g, w)| [(g[0] - f(&w[0])).abs(), (g[1] - f(&w[1])).abs()])
        .fold(0.0, f32::max);
    (box_err, lm_err, (got.score - f(&want["score"])).abs())
}
