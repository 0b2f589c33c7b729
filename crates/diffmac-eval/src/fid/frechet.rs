//! The Fréchet distance between two Gaussians (Dowson & Landau 1982), the formula of FID:
//! `‖μ₁ - μ₂‖² + tr Σ₁ + tr Σ₂ - 2 tr (Σ₁ Σ₂)^{1/2}`.
//!
//! pytorch-fid takes `scipy.linalg.sqrtm(Σ₁ Σ₂)` (a Schur method on a non-symmetric product,
//! with an `eps·I` retry when it is singular, and the real part). Here the trace comes from a
//! symmetric problem with the same eigenvalues: `tr (Σ₁Σ₂)^{1/2} = tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`,
//! both square roots by nalgebra's symmetric eigendecomposition, with eigenvalues below
//! rounding level taken as zero. This is stable for rank-deficient covariances
//! (fewer images than feature dimensions), where `sqrtm` needs its retry.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::error::{EvalError, Result};
use crate::fid::stats::FeatureStats;

/// Square roots of eigenvalues, with those below rounding level (`n·ε·λ_max`, which includes
/// the small negative ones of a semi-definite matrix) taken as exactly zero, so rank-deficient
/// covariances do not add `√noise` terms.
fn roots(values: &nalgebra::DVector<f64>) -> nalgebra::DVector<f64> {
    let max = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let tol = max * values.len() as f64 * f64::EPSILON;
    values.map(|v| if v > tol { v.sqrt() } else { 0.0 })
}

/// `A^{1/2}` of a symmetric positive semi-definite matrix.
fn sqrt_psd(a: DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(a);
    let roots = roots(&eigen.eigenvalues);
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

/// `tr (Σ₁ Σ₂)^{1/2}`: with a Cholesky factor `Σ₁ = L Lᵀ`, `Σ₁Σ₂` is similar to the symmetric
/// `Lᵀ Σ₂ L`, so only its eigenvalues are needed (no eigenvectors, the fast path); a singular
/// `Σ₁` falls back to [`trace_sqrt_product_eigen`].
fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>) -> f64 {
    match s1.clone().cholesky() {
        Some(chol) => {
            let l = chol.l();
            let m = l.transpose() * s2 * &l;
            let m = (&m + m.transpose()) * 0.5;
            roots(&m.symmetric_eigenvalues()).sum()
        }
        None => trace_sqrt_product_eigen(s1, s2),
    }
}

/// `tr (Σ₁ Σ₂)^{1/2}` through `Σ₁^{1/2} Σ₂ Σ₁^{1/2}`, for semi-definite `Σ₁`.
fn trace_sqrt_product_eigen(s1: &DMatrix<f64>, s2: &DMatrix<f64>) -> f64 {
    let r1 = sqrt_psd(s1.clone());
    let m = &r1 * s2 * &r1;
    // Symmetrise what rounding left unsymmetric before the eigen solver.
    let m = (&m + m.transpose()) * 0.5;
    roots(&m.symmetric_eigenvalues()).sum()
}

/// The Fréchet distance between the Gaussians of `a` and `b`.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    let dim = a.dim();
    if b.dim() != dim || a.sigma.len() != dim * dim || b.sigma.len() != dim * dim {
        return Err(EvalError::Undefined {
            metric: "FID",
            reason: format!(
                "statistics of different sizes ({} and {} features)",
                a.dim(),
                b.dim()
            ),
        });
    }
    let s1 = DMatrix::from_row_slice(dim, dim, &a.sigma);
    let s2 = DMatrix::from_row_slice(dim, dim, &b.sigma);
    let mean_term: f64 = a.mu.iter().zip(&b.mu).map(|(x, y)| (x - y) * (x - y)).sum();
    let value = mean_term + s1.trace() + s2.trace() - 2.0 * trace_sqrt_product(&s1, &s2);
    if value.is_finite() {
        Ok(value)
    } else {
        Err(EvalError::Undefined {
            metric: "FID",
            reason: "the statistics hold non-finite values".to_owned(),
        })
    }
}

/// The Fréchet distance between the Gaussians fitted to two sets of feature vectors (the same
/// value as [`frechet_distance`] of their [`FeatureStats`]). When a set has no more vectors than
/// dimensions (the usual case for face test sets against Inception's 2048), the covariances
/// are low-rank: with centred data matrices `A` (n₁×d) and `B` (n₂×d), the eigenvalues of
/// `Σ₁Σ₂` are the squared singular values of `A Bᵀ / √((n₁-1)(n₂-1))`, so the trace term is
/// that small matrix's nuclear norm — exact, and fast where a 2048×2048 eigenproblem is not.
pub fn frechet_distance_features(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64> {
    let sa = FeatureStats::from_features(a)?;
    let sb = FeatureStats::from_features(b)?;
    let dim = sa.dim();
    if sb.dim() != dim {
        return frechet_distance(&sa, &sb);
    }
    if a.len() > dim && b.len() > dim {
        return frechet_distance(&sa, &sb);
    }
    let centred =
        |set: &[Vec<f64>], mu: &[f64]| DMatrix::from_fn(set.len(), dim, |i, j| set[i][j] - mu[j]);
    let ca = centred(a, &sa.mu);
    let cb = centred(b, &sb.mu);
    let scale = ((a.len() as f64 - 1.0) * (b.len() as f64 - 1.0)).sqrt();
    let cross = (&ca * cb.transpose()) / scale;
    let trace_sqrt: f64 = cross.singular_values().iter().sum();
    let trace =
        |m: &DMatrix<f64>, n: usize| m.iter().map(|v| v * v).sum::<f64>() / (n as f64 - 1.0);
    let mean_term: f64 = sa
        .mu
        .iter()
        .zip(&sb.mu)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let value = mean_term + trace(&ca, a.len()) + trace(&cb, b.len()) - 2.0 * trace_sqrt;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(EvalError::Undefined {
            metric: "FID",
            reason: "the features hold non-finite values".to_owned(),
        })
    }
}
