//! Full-size backbones with deterministic pseudo-random weights, for parity tests without
//! shipping ImageNet weights: every value comes from a 32-bit hash of (layer index, kind, flat
//! index), so `scripts/reference/eval_lpips_reference.py` builds the same tensors bit for bit
//! with NumPy. Weights are uniform in ±√(6 / fan_in), biases in ±0.05.

use std::collections::BTreeMap;

use burn::tensor::TensorData;
use diffmac_io::safetensors_bytes;

use crate::lpips::net::{LpipsNet, Step};

/// `len` uniform values in [0, 1) from a 32-bit counter hash seeded by (`seed`, `kind`), with
/// 64-bit wrapping arithmetic (NumPy's `uint64` in the reference scripts).
pub fn hash_unit(len: usize, seed: u64, kind: u64) -> Vec<f64> {
    const MASK: u64 = 0xFFFF_FFFF;
    let offset = seed
        .wrapping_mul(0x85EB_CA77)
        .wrapping_add(kind.wrapping_mul(0xC2B2_AE3D))
        .wrapping_add(1);
    (0..len as u64)
        .map(|i| {
            let mut x = i.wrapping_mul(0x9E37_79B1).wrapping_add(offset) & MASK;
            x ^= x >> 15;
            x = (x * 0x2C1B_3C6D) & MASK;
            x ^= x >> 12;
            x = (x * 0x297A_2D39) & MASK;
            x ^= x >> 15;
            x as f64 / 4_294_967_296.0
        })
        .collect()
}

/// The hash's values for a tensor of `len` values of backbone layer `layer`; `kind` 0 =
/// weight (uniform in ±√(6 / fan_in)), 1 = bias (uniform in ±0.05).
pub fn hash_values(len: usize, layer: usize, kind: u64, fan_in: usize) -> Vec<f32> {
    let bound = if kind == 0 {
        (6.0 / fan_in as f64).sqrt()
    } else {
        0.05
    };
    hash_unit(len, layer as u64, kind)
        .into_iter()
        .map(|u| ((u - 0.5) * 2.0 * bound) as f32)
        .collect()
}

/// A safetensors file with `net`'s backbone under torchvision's key names
/// (`features.{i}.weight` / `.bias`), filled with [`hash_values`].
pub fn hashed_backbone(net: LpipsNet) -> Vec<u8> {
    let mut tensors = BTreeMap::new();
    for step in net.plan() {
        if let Step::Conv {
            index,
            c_in,
            c_out,
            kernel,
            ..
        } = *step
        {
            let fan_in = c_in * kernel * kernel;
            let w = hash_values(c_out * fan_in, index, 0, fan_in);
            let b = hash_values(c_out, index, 1, fan_in);
            tensors.insert(
                format!("features.{index}.weight"),
                TensorData::new(w, [c_out, c_in, kernel, kernel]),
            );
            tensors.insert(
                format!("features.{index}.bias"),
                TensorData::new(b, [c_out]),
            );
        }
    }
    safetensors_bytes(&tensors, &BTreeMap::new()).expect("f32 tensors serialise")
}
