//! Seeded Gaussian noise, drawn on the host and uploaded.
//!
//! Drawing on the host with ChaCha8 (instead of the backend's own RNG, which is global state
//! and differs between backends) makes a run depend on its seed only: the same seed gives the
//! same noise on the CPU and on a GPU, and two samplers running side by side do not disturb
//! each other. The upload is small next to one denoiser call.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorCreationOptions, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Result, SamplerError};

/// A seeded source of standard-normal tensors and uniform training timesteps.
#[derive(Debug, Clone)]
pub struct NoiseRng {
    rng: ChaCha8Rng,
}

impl NoiseRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A `shape` tensor of independent N(0, 1) values, created with `options` (device and,
    /// optionally, dtype; values are drawn in f64 and cast once).
    pub fn gaussian<B: Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        options: impl Into<TensorCreationOptions<B>>,
    ) -> Tensor<B, D> {
        let count = shape.iter().product();
        let values: Vec<f64> = (0..count)
            .map(|_| StandardNormal.sample(&mut self.rng))
            .collect();
        Tensor::from_data(TensorData::new(values, shape), options)
    }

    /// N(0, 1) noise with the shape, device and dtype of `like`.
    pub fn gaussian_like<B: Backend, const D: usize>(
        &mut self,
        like: &Tensor<B, D>,
    ) -> Tensor<B, D> {
        self.gaussian(like.dims(), (&like.device(), like.dtype()))
    }

    /// `batch` training timesteps drawn uniformly from 0..num_timesteps (eq. 1's t ~ U); an
    /// error when there is no timestep to draw.
    pub fn timesteps(&mut self, batch: usize, num_timesteps: usize) -> Result<Vec<usize>> {
        if num_timesteps == 0 {
            return Err(SamplerError::InvalidOption {
                name: "num_timesteps",
                value: 0.0,
                reason: "timesteps are drawn from 0..num_timesteps, which is empty",
            });
        }
        Ok((0..batch)
            .map(|_| self.rng.random_range(0..num_timesteps))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timesteps_are_seeded_in_range_and_need_a_schedule() {
        let draw = NoiseRng::new(4).timesteps(64, 10).unwrap();
        assert_eq!(draw.len(), 64);
        assert!(draw.iter().all(|&t| t < 10));
        assert_eq!(draw, NoiseRng::new(4).timesteps(64, 10).unwrap());
        assert!(matches!(
            NoiseRng::new(4).timesteps(2, 0),
            Err(SamplerError::InvalidOption {
                name: "num_timesteps",
                ..
            })
        ));
    }
}
