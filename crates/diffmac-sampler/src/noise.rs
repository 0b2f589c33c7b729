//! Seeded Gaussian noise, drawn on the host and uploaded.
//!
//! Drawing on the host with ChaCha8 (instead of the backend's own RNG, which is global state
//! and differs between backends) makes a run depend on its seed only: the same seed gives the
//! same noise on the CPU and on a GPU, and two samplers running side by side do not disturb
//! each other. The upload is small next to one denoiser call.
//!
//! [`BatchNoise`] draws a batch either from one stream ([`BatchNoise::shared`], what a
//! [`NoiseRng`] does) or from one stream per item ([`BatchNoise::per_item`]); with the
//! latter, item i's values are exactly those a batch of one would draw from seed i, so a
//! result does not depend on which items share its batch.

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
        let mut values = Vec::new();
        self.extend(&mut values, shape.iter().product());
        Tensor::from_data(TensorData::new(values, shape), options)
    }

    /// Appends `count` N(0, 1) draws to `values`.
    fn extend(&mut self, values: &mut Vec<f64>, count: usize) {
        values.extend((0..count).map(|_| -> f64 { StandardNormal.sample(&mut self.rng) }));
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

/// Gaussian noise for a batch, from one seeded stream or from one stream per batch item.
#[derive(Debug, Clone)]
pub struct BatchNoise {
    /// One stream, or one per item.
    streams: Vec<NoiseRng>,
    per_item: bool,
}

/// A seed alone means one stream for the whole batch ([`BatchNoise::shared`]).
impl From<u64> for BatchNoise {
    fn from(seed: u64) -> Self {
        Self::shared(seed)
    }
}

impl BatchNoise {
    /// One stream for the whole batch: draws equal [`NoiseRng::new`]`(seed)`'s, so the
    /// values an item gets depend on its place in the batch and on the batch size.
    pub fn shared(seed: u64) -> Self {
        Self {
            streams: vec![NoiseRng::new(seed)],
            per_item: false,
        }
    }

    /// One stream per batch item, item i seeded with `seeds[i]`: each draw of a batch of N
    /// is the concatenation (dim 0) of what N batch-1 draws from these seeds would give, so
    /// an item's noise does not depend on the rest of the batch. Draws must then have
    /// `seeds.len()` items.
    pub fn per_item(seeds: &[u64]) -> Self {
        Self {
            streams: seeds.iter().map(|&s| NoiseRng::new(s)).collect(),
            per_item: true,
        }
    }

    /// A `shape` tensor of independent N(0, 1) values, created with `options`; `shape[0]`
    /// is the batch.
    ///
    /// # Errors
    /// [`SamplerError::BatchMismatch`] when per-item streams are not one per batch item.
    pub fn gaussian<B: Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        options: impl Into<TensorCreationOptions<B>>,
    ) -> Result<Tensor<B, D>> {
        if !self.per_item {
            return Ok(self.streams[0].gaussian(shape, options));
        }
        let rngs = &mut self.streams;
        let batch = shape.first().copied().unwrap_or(0);
        if D == 0 || batch != rngs.len() {
            return Err(SamplerError::BatchMismatch {
                what: "noise seeds",
                batch,
                got: rngs.len(),
            });
        }
        // Drawn and concatenated on the host: the same f64 values cast once, as a batch of
        // one does.
        let per_item: usize = shape[1..].iter().product();
        let mut values = Vec::with_capacity(batch * per_item);
        for rng in rngs {
            rng.extend(&mut values, per_item);
        }
        Ok(Tensor::from_data(TensorData::new(values, shape), options))
    }

    /// N(0, 1) noise with the shape, device and dtype of `like`.
    ///
    /// # Errors
    /// As [`BatchNoise::gaussian`].
    pub fn gaussian_like<B: Backend, const D: usize>(
        &mut self,
        like: &Tensor<B, D>,
    ) -> Result<Tensor<B, D>> {
        self.gaussian(like.dims(), (&like.device(), like.dtype()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::DType;

    fn values(t: Tensor<Flex, 3>) -> Vec<f64> {
        t.into_data().convert::<f64>().into_vec().unwrap()
    }

    /// A shared stream must keep drawing exactly what `NoiseRng` draws (today's results).
    #[test]
    fn a_shared_stream_draws_what_noise_rng_draws() {
        let device = Default::default();
        let mut shared = BatchNoise::shared(9);
        let mut rng = NoiseRng::new(9);
        for _ in 0..2 {
            let a = shared.gaussian::<Flex, 3>([3, 2, 5], &device).unwrap();
            let b = rng.gaussian::<Flex, 3>([3, 2, 5], &device);
            assert_eq!(values(a), values(b));
        }
    }

    /// Item i of every per-item draw is, bit for bit, the draw of a batch of one from seed i,
    /// also over successive draws and in another dtype.
    #[test]
    fn per_item_draws_equal_batch_one_draws() {
        let device = Default::default();
        let seeds = [4, 17, 4_000_000_007];
        let mut batch = BatchNoise::per_item(&seeds);
        let mut alone: Vec<BatchNoise> = seeds.iter().map(|&s| BatchNoise::shared(s)).collect();
        for dtype in [DType::F32, DType::F64] {
            let drawn = batch
                .gaussian::<Flex, 3>([3, 2, 5], (&device, dtype))
                .unwrap();
            let like = batch.gaussian_like(&drawn).unwrap();
            for (i, one) in alone.iter_mut().enumerate() {
                let a = one
                    .gaussian::<Flex, 3>([1, 2, 5], (&device, dtype))
                    .unwrap();
                assert_eq!(values(drawn.clone().narrow(0, i, 1)), values(a));
                let b = one.gaussian_like(&drawn.clone().narrow(0, i, 1)).unwrap();
                assert_eq!(values(like.clone().narrow(0, i, 1)), values(b));
            }
        }
        // Items with equal seeds get equal noise; different seeds differ.
        let twins = BatchNoise::per_item(&[3, 3, 5])
            .gaussian::<Flex, 3>([3, 1, 8], &device)
            .unwrap();
        let item = |i| values(twins.clone().narrow(0, i, 1));
        assert_eq!(item(0), item(1));
        assert_ne!(item(0), item(2));
    }

    /// Per-item streams must match the batch; a silent reuse would correlate faces.
    #[test]
    fn per_item_streams_must_match_the_batch() {
        let mut noise = BatchNoise::per_item(&[1, 2]);
        let err = noise
            .gaussian::<Flex, 3>([3, 1, 1], &Default::default())
            .unwrap_err();
        assert!(matches!(
            err,
            SamplerError::BatchMismatch {
                batch: 3,
                got: 2,
                ..
            }
        ));
    }

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
