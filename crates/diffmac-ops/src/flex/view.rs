//! Flex tensors as slices, and new tensors from vectors.

use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

/// `t` with its elements in row-major order filling its buffer (copied only when they are not).
pub(super) fn contiguous(t: FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// The f32 elements of a tensor made by [`contiguous`], in row-major order.
pub(super) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("an f32 tensor made contiguous by `contiguous`")
}

/// A new row-major f32 tensor of `shape` holding `values`.
pub(super) fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    debug_assert_eq!(values.len(), shape.iter().product::<usize>());
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}
