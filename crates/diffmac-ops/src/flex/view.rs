//! Flex tensors as slices and strided views, new tensors from vectors, and the matrix product.

use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{Flex, FlexTensor, Layout};

/// `t` with its elements in row-major order filling its buffer (copied only when they are not).
pub(super) fn contiguous(t: FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// The f32 elements of a tensor made by [`contiguous`], in row-major order.
pub(super) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("an f32 tensor made contiguous by `contiguous`")
}

/// A view of `t`'s memory (`t` row-major from offset 0) with its own shape and strides, in
/// elements, starting `offset` elements in.
pub(super) fn view(
    t: &FlexTensor,
    shape: &[usize],
    strides: &[isize],
    offset: usize,
) -> FlexTensor {
    let layout = Layout::new(Shape::from(shape.to_vec()), strides.to_vec(), offset);
    FlexTensor::from_arc(t.data_arc(), layout, DType::F32)
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

/// `a` `[M, K]` times `b` `[K, N]` (any strides) → a new row-major `[M, N]`, on flex's `gemm`,
/// which splits large products over every core.
pub(super) fn matmul(a: FlexTensor, b: FlexTensor) -> FlexTensor {
    <Flex as FloatTensorOps<Flex>>::float_matmul(a, b)
}
