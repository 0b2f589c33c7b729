//! Helpers shared by the integration tests: tensors from and to plain vectors, error measures.

#![allow(dead_code)]

use burn::backend::Flex;
use burn::tensor::{DType, Tensor, TensorData};

/// The CPU test backend.
pub type B = Flex;

/// A `shape` tensor holding `values`, stored as `dtype`.
pub fn tensor<const D: usize>(values: &[f64], shape: [usize; D], dtype: DType) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), shape),
        (&Default::default(), dtype),
    )
}

/// The tensor's values as f64.
pub fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .into_vec::<f64>()
        .expect("float tensor")
}

/// max |a − b| over two equally long slices.
pub fn max_abs_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Mean and (population) variance.
pub fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}
