//! NaN and infinity checks on stored bits, before any conversion can hide or create one.

use burn::tensor::{DType, TensorData};

/// The index of the first NaN or infinity in little-endian `bytes` of `dtype` (none for
/// integer types): on the stored bits, so that no conversion can hide or create one.
pub(super) fn non_finite_in(bytes: &[u8], dtype: DType) -> Option<usize> {
    match dtype {
        DType::F64 => bytes
            .chunks_exact(8)
            .position(|b| !f64::from_le_bytes(b.try_into().expect("8 bytes")).is_finite()),
        DType::F32 | DType::Flex32 => bytes
            .chunks_exact(4)
            .position(|b| !f32::from_le_bytes(b.try_into().expect("4 bytes")).is_finite()),
        // Exponent bits all set: infinity or NaN.
        DType::F16 => bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
        DType::BF16 => bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
        _ => None,
    }
}

/// The index of the first NaN or infinity of a float tensor's data, if any.
pub fn first_non_finite(data: &TensorData) -> Option<usize> {
    non_finite_in(data.as_bytes(), data.dtype)
}
