//! Gaussian blur kernels, `k_G` of eq. 14.
//!
//! The kernel is basicsr's bivariate Gaussian: on the grid `-(s/2)..=s/2` (s odd), the weight at
//! (x, y) is `exp(-½ [x y] Σ⁻¹ [x y]ᵀ)` with `Σ = R diag(σx², σy²) Rᵀ`, normalised to sum 1.
//! Isotropic and axis-aligned kernels are outer products of two 1-D kernels ([`Kernel2d::separable`]),
//! which [`crate::blur`] applies in two cheap passes; rotated anisotropic ones are not, and go
//! through the FFT path.

use crate::params::BlurParams;

/// Relative tolerance of the rank-1 test in [`Kernel2d::separable`].
const RANK_ONE_TOLERANCE: f64 = 1e-9;

/// A dense square kernel, row-major: `weights[row * size + col]`, rows along y.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel2d {
    /// Side length (odd).
    pub size: usize,
    /// `size * size` weights summing to 1.
    pub weights: Vec<f64>,
}

impl Kernel2d {
    /// basicsr's `bivariate_Gaussian` for the given parameters.
    pub fn gaussian(params: &BlurParams) -> Self {
        let size = params.kernel_size;
        let half = (size / 2) as f64;
        let (sin, cos) = params.rotation.sin_cos();
        let (vx, vy) = (params.sigma_x.powi(2), params.sigma_y.powi(2));
        // Σ = R diag(vx, vy) Rᵀ = [[a, b], [b, d]], and its inverse.
        let a = cos * cos * vx + sin * sin * vy;
        let b = cos * sin * (vx - vy);
        let d = sin * sin * vx + cos * cos * vy;
        let det = a * d - b * b;
        let (ia, ib, id) = (d / det, -b / det, a / det);
        let mut weights = Vec::with_capacity(size * size);
        for row in 0..size {
            let y = row as f64 - half;
            for col in 0..size {
                let x = col as f64 - half;
                weights.push((-0.5 * (ia * x * x + 2.0 * ib * x * y + id * y * y)).exp());
            }
        }
        let sum: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= sum);
        Self { size, weights }
    }

    /// The weight at `(row, col)`.
    pub fn at(&self, row: usize, col: usize) -> f64 {
        self.weights[row * self.size + col]
    }

    /// The kernel as `column ⊗ row` when it is an outer product (rank 1), else `None`.
    ///
    /// A rank-1 matrix satisfies `K[i][j] · K[c][c] = K[i][c] · K[c][j]` for its centre c, which
    /// also gives the factors: `column = K[·][c] / √K[c][c]`, `row = K[c][·] / √K[c][c]`.
    pub fn separable(&self) -> Option<SeparableKernel> {
        let (n, c) = (self.size, self.size / 2);
        let centre = self.at(c, c);
        if centre <= 0.0 {
            return None;
        }
        let peak = self.weights.iter().copied().fold(0.0, f64::max);
        let rank_one = (0..n).all(|i| {
            (0..n).all(|j| {
                let predicted = self.at(i, c) * self.at(c, j) / centre;
                (self.at(i, j) - predicted).abs() <= RANK_ONE_TOLERANCE * peak
            })
        });
        rank_one.then(|| {
            let scale = centre.sqrt();
            SeparableKernel {
                column: (0..n).map(|i| (self.at(i, c) / scale) as f32).collect(),
                row: (0..n).map(|j| (self.at(c, j) / scale) as f32).collect(),
            }
        })
    }
}

/// A kernel that is the outer product `column ⊗ row`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeparableKernel {
    /// Vertical 1-D kernel (along y).
    pub column: Vec<f32>,
    /// Horizontal 1-D kernel (along x).
    pub row: Vec<f32>,
}
