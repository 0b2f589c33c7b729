//! Shared helpers of the parity tests: the CPU backend, fixture paths, reading the
//! reference tensors, and the error measure.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{DType, FloatDType, Int, Tensor};
use diffmac_io::SafetensorsFile;
pub type B = burn::backend::Flex;

/// Max relative error allowed (f32). The project's standard is 1e-4; every component measures
/// at most 2.8e-6, so the tests hold it to 2e-5 and catch a regression well before it
/// reaches the standard.
pub const TOL: f64 = 2e-5;

pub fn device() -> burn::tensor::Device<B> {
    Default::default()
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The inputs and outputs that the reference script saved for one component.
pub struct Io(pub SafetensorsFile);

impl Io {
    pub fn open(component: &str) -> Self {
        Self(
            SafetensorsFile::open(fixture(&format!("{component}_io.safetensors")))
                .expect("fixture"),
        )
    }

    pub fn float<const D: usize>(&self, key: &str) -> Tensor<B, D> {
        self.0
            .float_tensor(key, &device(), FloatDType::F32)
            .expect("fixture tensor")
    }

    pub fn float_as<const D: usize>(&self, key: &str, dtype: FloatDType) -> Tensor<B, D> {
        self.0
            .float_tensor(key, &device(), dtype)
            .expect("fixture tensor")
    }

    pub fn int<const D: usize>(&self, key: &str) -> Tensor<B, D, Int> {
        let data = self.0.data(key).expect("fixture tensor");
        Tensor::from_data(data, (&device(), DType::I64))
    }
}

pub fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.cast(DType::F32)
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 values")
}

/// `max |got − want| / max |want|`: the error relative to the reference's magnitude
/// (element-wise ratios are meaningless where the reference crosses zero).
pub fn rel_err<const D: usize>(got: Tensor<B, D>, want: Tensor<B, D>) -> f64 {
    assert_eq!(got.dims(), want.dims(), "shapes differ");
    let (g, w) = (values(got), values(want));
    let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = g
        .iter()
        .zip(&w)
        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.0, "reference is all zeros");
    err / scale
}

/// Asserts parity and prints the measured error (visible with `--nocapture`).
pub fn assert_close<const D: usize>(what: &str, got: Tensor<B, D>, want: Tensor<B, D>, tol: f64) {
    let e = rel_err(got, want);
    eprintln!("parity {what}: max relative error {e:.3e}");
    assert!(e <= tol, "{what}: max relative error {e:.3e} > {tol:e}");
}
