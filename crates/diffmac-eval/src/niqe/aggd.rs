//! Fitting an asymmetric generalised Gaussian (AGGD) to a patch by moment matching over the
//! grid α ∈ {0.2, 0.201, …, 10} (basicsr `estimate_aggd_param`, after Mittal et al.), and the
//! 18 NIQE features of one patch (basicsr `compute_feature`).

use std::sync::OnceLock;

use libm::tgamma;

use super::npsum::np_mean_f32;

/// The α grid and ρ(α) = Γ(2/α)² / (Γ(1/α) Γ(3/α)) on it.
fn grid() -> &'static (Vec<f64>, Vec<f64>) {
    static GRID: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    GRID.get_or_init(|| {
        // np.arange(0.2, 10.001, 0.001): 9801 values start + i·delta, where NumPy takes delta
        // as the difference of the first two values.
        let delta = (0.2 + 0.001) - 0.2;
        let gam: Vec<f64> = (0..9801).map(|i| 0.2 + i as f64 * delta).collect();
        let r = gam
            .iter()
            .map(|&g| {
                let inv = 1.0 / g;
                tgamma(inv * 2.0).powi(2) / (tgamma(inv) * tgamma(inv * 3.0))
            })
            .collect();
        (gam, r)
    })
}

/// (α, β_left, β_right) of the AGGD fitted to `block`, with basicsr's `float32` arithmetic
/// (NumPy means, `float32` scalars up to the grid search). Blocks without negative or positive
/// values give `NaN` betas, as in basicsr (NIQE later drops those patches).
pub fn estimate_aggd(block: &[f32]) -> (f64, f64, f64) {
    let (gam, r_gam) = grid();
    let neg: Vec<f32> = block.iter().filter(|v| **v < 0.0).map(|v| v * v).collect();
    let pos: Vec<f32> = block.iter().filter(|v| **v > 0.0).map(|v| v * v).collect();
    let left_std = np_mean_f32(&neg).sqrt();
    let right_std = np_mean_f32(&pos).sqrt();
    let gammahat = left_std / right_std;
    let abs: Vec<f32> = block.iter().map(|v| v.abs()).collect();
    let sq: Vec<f32> = block.iter().map(|v| v * v).collect();
    let rhat = np_mean_f32(&abs).powi(2) / np_mean_f32(&sq);
    let rhatnorm = (rhat * (gammahat.powf(3.0) + 1.0) * (gammahat + 1.0))
        / (gammahat * gammahat + 1.0).powi(2);
    let rhatnorm = f64::from(rhatnorm);
    // np.argmin: first minimum; index 0 when everything is NaN.
    let mut best = 0;
    let mut best_val = f64::INFINITY;
    for (i, r) in r_gam.iter().enumerate() {
        let d = (r - rhatnorm) * (r - rhatnorm);
        if d < best_val {
            best_val = d;
            best = i;
        }
    }
    let alpha = gam[best];
    let ratio = (tgamma(1.0 / alpha) / tgamma(3.0 / alpha)).sqrt();
    (
        alpha,
        f64::from(left_std) * ratio,
        f64::from(right_std) * ratio,
    )
}

/// The 18 features of a `height`×`width` normalised block: (α, mean β) of the block, then
/// (α, mean, β_l, β_r) of its products with the neighbour in the four directions
/// (circular shifts within the block, as `np.roll` does).
pub fn block_features(block: &[f32], width: usize, height: usize) -> [f64; 18] {
    let mut feat = [0.0; 18];
    let (alpha, bl, br) = estimate_aggd(block);
    feat[0] = alpha;
    feat[1] = (bl + br) / 2.0;
    let shifts: [(usize, isize); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];
    let mut product = vec![0.0_f32; block.len()];
    for (k, &(dy, dx)) in shifts.iter().enumerate() {
        for y in 0..height {
            let sy = (y + height - dy) % height;
            for x in 0..width {
                let sx = (x as isize - dx).rem_euclid(width as isize) as usize;
                product[y * width + x] = block[y * width + x] * block[sy * width + sx];
            }
        }
        let (alpha, bl, br) = estimate_aggd(&product);
        let mean = (br - bl) * (tgamma(2.0 / alpha) / tgamma(1.0 / alpha));
        feat[2 + 4 * k..6 + 4 * k].copy_from_slice(&[alpha, mean, bl, br]);
    }
    feat
}
