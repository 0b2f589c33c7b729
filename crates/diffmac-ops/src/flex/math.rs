//! Element-wise functions written so that the compiler vectorises them: no branches, no libm
//! calls, `f32` lanes. Callers run them inside [`simd`], which compiles the loop for the
//! widest vector unit the processor has (AVX-512, AVX2, SSE) and picks one at run time.

/// Runs `f` compiled for the best instruction set found at run time (`pulp`'s dispatch, the
/// same that `gemm` uses). Everything `f` calls must be `#[inline(always)]` to share it.
#[inline(always)]
pub(super) fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// `eˣ` to about one unit in the last place (Cephes' `expf`: 2ⁿ times a degree-6
/// polynomial on `[-ln2/2, ln2/2]`). Inputs are clamped to `[-87.3, 88]`, so the smallest
/// results are ~10⁻³⁸ rather than 0 and the largest ~1.7·10³⁸ rather than ∞.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a branch.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.336_55, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ⁿ built from its exponent bits: the clamp keeps n in -126..=127, a normal number. The
    // integer n is read from `shifted`'s low mantissa bits (no float-to-int conversion, which
    // does not vectorise).
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_int.wrapping_add(127) << 23);
    y * scale
}

/// `x · σ(x)`.
#[inline(always)]
pub(super) fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `erf(x)` within 3·10⁻⁷ (Abramowitz & Stegun 7.1.26: 1.5·10⁻⁷, plus f32 rounding).
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// The exact GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))`.
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Sum of `term(v)` over `values`, accurate for millions of terms: f32 sums over 16 lanes of
/// blocks of 4096, added up in f64.
#[inline(always)]
fn lane_sum(values: &[f32], term: impl Fn(f32) -> f32) -> f64 {
    values
        .chunks(4096)
        .map(|block| {
            let mut lanes = [0.0f32; 16];
            let mut chunks = block.chunks_exact(16);
            for c in &mut chunks {
                for (l, &v) in lanes.iter_mut().zip(c) {
                    *l += term(v);
                }
            }
            let tail: f32 = chunks.remainder().iter().map(|&v| term(v)).sum();
            lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
        })
        .sum()
}

/// Sum of `values` (see [`lane_sum`]).
#[inline(always)]
pub(super) fn sum(values: &[f32]) -> f64 {
    lane_sum(values, |v| v)
}

/// Sum of `(v − mean)²` over `values` (see [`lane_sum`]).
#[inline(always)]
pub(super) fn sum_squared_deviations(values: &[f32], mean: f32) -> f64 {
    lane_sum(values, |v| (v - mean) * (v - mean))
}

/// The largest of `values` (−∞ for none).
#[inline(always)]
pub(super) fn max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = values.chunks_exact(16);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    lanes.iter().fold(tail, |m, &l| m.max(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0.0f64;
        for i in -8700..=8790 {
            let x = i as f32 * 0.01 + 0.003;
            let (ours, reference) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((ours - reference) / reference).abs());
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        assert!(exp(-200.0) < 1e-37);
        assert!(exp(100.0).is_finite() && exp(100.0) > 1e38);
    }

    #[test]
    fn erf_and_gelu_match_the_series() {
        // erf by its Taylor series in f64 (converges quickly for |x| ≤ 3).
        let series = |x: f64| {
            let (mut term, mut total) = (x, x);
            for n in 1..200 {
                term *= -x * x / n as f64;
                total += term / (2 * n + 1) as f64;
            }
            total * 2.0 / std::f64::consts::PI.sqrt()
        };
        let (mut worst_erf, mut worst_gelu) = (0.0f64, 0.0f64);
        for i in -300..=300 {
            // Inputs exactly representable in f32, so that only the functions' error counts.
            let x = (i as f32 * 0.01) as f64;
            worst_erf = worst_erf.max((erf(x as f32) as f64 - series(x)).abs());
            let g = 0.5 * x * (1.0 + series(x / std::f64::consts::SQRT_2));
            worst_gelu = worst_gelu.max((gelu(x as f32) as f64 - g).abs());
        }
        assert!(worst_erf < 3e-7, "erf: worst absolute error {worst_erf:e}");
        assert!(
            worst_gelu < 6e-7,
            "gelu: worst absolute error {worst_gelu:e}"
        );
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn sums_are_exact_enough_for_millions_of_terms() {
        let values: Vec<f32> = (0..3_000_001)
            .map(|i| (i % 1000) as f32 * 0.001 + 1.0)
            .collect();
        let exact: f64 = values.iter().map(|&v| v as f64).sum();
        assert!((sum(&values) - exact).abs() / exact < 1e-7);
        let mean = (exact / values.len() as f64) as f32;
        let exact_sq: f64 = values
            .iter()
            .map(|&v| (v as f64 - mean as f64).powi(2))
            .sum();
        assert!((sum_squared_deviations(&values, mean) - exact_sq).abs() / exact_sq < 1e-5);
        assert_eq!(max(&values[..17]), 1.016);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }
}
