//! Gaussian blur kernels, `k_G` of eq. 14, and their separable form.
//!
//! The kernel is basicsr's bivariate Gaussian: on the grid `-(s/2)..=s/2` (s odd), the weight at
//! (x, y) is `exp(-½ [x y] Σ⁻¹ [x y]ᵀ)` with `Σ = R diag(σx², σy²) Rᵀ`, normalised to sum 1.
//!
//! An isotropic Gaussian is an outer product of two 1-D kernels. A rotated anisotropic one is
//! not, so the kernel is split by singular value decomposition into a short sum of separable
//! terms `Σ_i c_i r_iᵀ`, kept until the dropped part is below [`SEPARABLE_TOLERANCE`] of the
//! kernel's norm. Each term costs two 1-D passes: far cheaper than a dense 41×41 correlation.

use nalgebra::DMatrix;

use crate::params::BlurParams;

/// Relative Frobenius norm of the part of a kernel that the separable form may drop.
pub const SEPARABLE_TOLERANCE: f64 = 1e-5;

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
        // Σ = R diag(vx, vy) Rᵀ, and its inverse.
        let (a, b, d) = (cos * cos * vx + sin * sin * vy, cos * sin * (vx - vy), sin * sin * vx + cos * cos * vy);
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

    /// Splits the kernel into separable terms (see the module docs).
    pub fn separable(&self) -> SeparableKernel {
        let n = self.size;
        let svd = DMatrix::from_row_slice(n, n, &self.weights).svd(true, true);
        let (u, v_t) = (svd.u.expect("requested U"), svd.v_t.expect("requested Vᵀ"));
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| svd.singular_values[j].total_cmp(&svd.singular_values[i]));
        let total: f64 = svd.singular_values.iter().map(|s| s * s).sum();
        let mut kept = 0.0;
        let mut terms = Vec::new();
        for i in order {
            let s = svd.singular_values[i];
            let scale = s.sqrt();
            terms.push(SeparableTerm {
                column: (0..n).map(|k| (u[(k, i)] * scale) as f32).collect(),
                row: (0..n).map(|k| (v_t[(i, k)] * scale) as f32).collect(),
            });
            kept += s * s;
            if (total - kept).max(0.0) <= SEPARABLE_TOLERANCE.powi(2) * total {
                break;
            }
        }
        SeparableKernel { size: n, terms }
    }
}

/// One rank-1 term: `column` runs along y (rows), `row` along x (columns).
#[derive(Clone, Debug, PartialEq)]
pub struct SeparableTerm {
    /// Vertical 1-D kernel.
    pub column: Vec<f32>,
    /// Horizontal 1-D kernel.
    pub row: Vec<f32>,
}

/// A kernel as a sum of separable terms; one term for an isotropic Gaussian.
#[derive(Clone, Debug, PartialEq)]
pub struct SeparableKernel {
    /// Side length (odd).
    pub size: usize,
    /// The rank-1 terms, largest first.
    pub terms: Vec<SeparableTerm>,
}
