//! Test weights for the FID Inception-v3: the full-size architecture filled with values from a
//! hash that `scripts/reference/eval_inception_reference.py` reproduces with NumPy, so parity
//! tests need neither the real weights nor a large fixture.

use burn::tensor::TensorData;
use burn::tensor::backend::Backend;
use diffmac_io::safetensors_bytes;

use super::InceptionV3;
use crate::error::Result;
use crate::lpips::hash_unit;

/// Told each generated tensor: key, shape, values.
type Seen<'a> = dyn Fn(&str, &[usize], Vec<f32>) + 'a;

impl<B: Backend> InceptionV3<B> {
    /// The architecture filled with hash-generated values (see
    /// `scripts/reference/eval_inception_reference.py`), for parity tests without the real
    /// weights: per tensor, seed = FNV-1a of its prefix; conv weights uniform in ±√(6/fan_in),
    /// BN γ in 1 ± 0.1, β and running mean in ±0.05, running variance in [1, 1.5).
    pub fn hashed(device: &B::Device) -> Result<Self> {
        hashed_with(&|_, _, _| {}, device)
    }

    /// The values of [`hashed`](Self::hashed) as a weights file in the real key layout (what
    /// [`load`](Self::load) reads), for tests of the loader and of the binary.
    pub fn hashed_weights_file(device: &B::Device) -> Result<Vec<u8>> {
        let values = std::cell::RefCell::new(Vec::new());
        hashed_with::<B>(
            &|name, shape, v| {
                values
                    .borrow_mut()
                    .push((name.to_owned(), shape.to_vec(), v));
            },
            device,
        )?;
        let tensors = values
            .into_inner()
            .into_iter()
            .map(|(name, shape, v)| (name, TensorData::new(v, shape)))
            .collect();
        Ok(safetensors_bytes(&tensors, &Default::default())?)
    }
}

/// [`InceptionV3::hashed`], reporting each tensor (key, shape, values) to `seen`.
fn hashed_with<B: Backend>(seen: &Seen<'_>, device: &B::Device) -> Result<InceptionV3<B>> {
    InceptionV3::build(
        &|name, shape| {
            let values = hashed_tensor(name, shape);
            seen(name, shape, values.clone());
            Ok(values)
        },
        device,
    )
}

/// The values of the tensor `name` (a torchvision state-dict key) of `shape`.
fn hashed_tensor(name: &str, shape: &[usize]) -> Vec<f32> {
    let (prefix, field) = name.rsplit_once('.').unwrap_or((name, ""));
    let seed = u64::from(fnv1a32(prefix));
    let n: usize = shape.iter().product();
    let values: Vec<f64> = match (field, shape.len()) {
        ("weight", 4) => {
            let bound = (6.0 / shape[1..].iter().product::<usize>() as f64).sqrt();
            hash_unit(n, seed, 0)
                .into_iter()
                .map(|u| (u - 0.5) * 2.0 * bound)
                .collect()
        }
        ("weight", _) => hash_unit(n, seed, 2)
            .into_iter()
            .map(|u| 1.0 + (u - 0.5) * 0.2)
            .collect(),
        ("bias", _) => hash_unit(n, seed, 3)
            .into_iter()
            .map(|u| (u - 0.5) * 0.1)
            .collect(),
        ("running_mean", _) => hash_unit(n, seed, 4)
            .into_iter()
            .map(|u| (u - 0.5) * 0.1)
            .collect(),
        _ => hash_unit(n, seed, 5)
            .into_iter()
            .map(|u| 1.0 + u * 0.5)
            .collect(),
    };
    values.into_iter().map(|v| v as f32).collect()
}

/// 32-bit FNV-1a of a string (the per-tensor seed of [`InceptionV3::hashed`]).
pub fn fnv1a32(text: &str) -> u32 {
    text.bytes().fold(0x811C_9DC5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
