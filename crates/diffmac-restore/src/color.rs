//! Colour correction of a restored face towards its input ([`ColorFix`]), as DiffBIR offers:
//! per-channel AdaIN, or a wavelet split that keeps the output's detail and the input's
//! low-frequency colours (5 levels of a dilated 3×3 binomial blur, replicate border).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::options::ColorFix;

/// Levels of the wavelet decomposition (DiffBIR: 5).
const WAVELET_LEVELS: usize = 5;

/// Applies `fix` to `output` `[N, 3, H, W]` with `input` of the same shape as the colour
/// reference. Both in [-1, 1]; the result is clamped to [-1, 1].
pub fn color_fix<B: Backend>(
    output: Tensor<B, 4>,
    input: Tensor<B, 4>,
    fix: ColorFix,
) -> Tensor<B, 4> {
    match fix {
        ColorFix::None => output,
        ColorFix::Adain => adain(output, input).clamp(-1.0, 1.0),
        ColorFix::Wavelet => wavelet(output, input).clamp(-1.0, 1.0),
    }
}

/// Per image and channel: `(x − μ_x) / σ_x · σ_ref + μ_ref`.
fn adain<B: Backend>(x: Tensor<B, 4>, reference: Tensor<B, 4>) -> Tensor<B, 4> {
    let stats = |t: Tensor<B, 4>| {
        let [n, c, h, w] = t.dims();
        let flat = t.reshape([n, c, h * w]);
        let (var, mean) = flat.var_mean(2);
        (
            mean.unsqueeze_dim::<4>(3),
            (var + 1e-5).sqrt().unsqueeze_dim::<4>(3),
        )
    };
    let (mx, sx) = stats(x.clone());
    let (mr, sr) = stats(reference);
    (x - mx) / sx * sr + mr
}

/// Output's high frequencies plus the reference's low frequencies.
fn wavelet<B: Backend>(x: Tensor<B, 4>, reference: Tensor<B, 4>) -> Tensor<B, 4> {
    let device = x.device();
    let dtype = x.dtype();
    let [n, c, h, w] = x.dims();
    let read = |t: Tensor<B, 4>| {
        t.into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("float tensor data")
    };
    let (xv, rv) = (read(x), read(reference));
    let plane = h * w;
    let mut out = Vec::with_capacity(xv.len());
    for (xp, rp) in xv.chunks_exact(plane).zip(rv.chunks_exact(plane)) {
        let (high, _) = decompose(xp, h, w);
        let (_, low) = decompose(rp, h, w);
        out.extend(high.iter().zip(&low).map(|(a, b)| a + b));
    }
    Tensor::<B, 4>::from_data(TensorData::new(out, [n, c, h, w]), &device).cast(dtype)
}

/// (sum of the detail bands, final low band) of one channel.
fn decompose(plane: &[f32], h: usize, w: usize) -> (Vec<f32>, Vec<f32>) {
    let mut high = vec![0.0f32; plane.len()];
    let mut current = plane.to_vec();
    for level in 0..WAVELET_LEVELS {
        let low = dilated_blur(&current, h, w, 1 << level);
        for ((hi, c), l) in high.iter_mut().zip(&current).zip(&low) {
            *hi += c - l;
        }
        current = low;
    }
    (high, current)
}

/// The 3×3 kernel [1 2 1]ᵀ[1 2 1] / 16 with dilation `d` and replicate padding.
fn dilated_blur(src: &[f32], h: usize, w: usize, d: usize) -> Vec<f32> {
    let taps = [(-1isize, 0.25f32), (0, 0.5), (1, 0.25)];
    let clampi = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut rows = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            rows[y * w + x] = taps
                .iter()
                .map(|&(o, k)| k * src[y * w + clampi(x as isize + o * d as isize, w)])
                .sum();
        }
    }
    let mut out = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = taps
                .iter()
                .map(|&(o, k)| k * rows[clampi(y as isize + o * d as isize, h) * w + x])
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    fn mean_of(t: Tensor<B, 4>) -> Vec<f32> {
        let [n, c, h, w] = t.dims();
        t.reshape([n, c, h * w])
            .mean_dim(2)
            .into_data()
            .into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn adain_takes_the_reference_channel_statistics() {
        let d = Default::default();
        let x = Tensor::<B, 4>::random([2, 3, 16, 16], Distribution::Uniform(-0.5, 0.5), &d);
        let r = Tensor::<B, 4>::random([2, 3, 16, 16], Distribution::Uniform(-0.2, 0.6), &d);
        let y = color_fix(x, r.clone(), ColorFix::Adain);
        for (a, b) in mean_of(y).iter().zip(mean_of(r)) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn wavelet_keeps_output_detail_and_reference_colour() {
        let d = Default::default();
        // Output: the reference's detail on a wrong flat colour; the fix restores the colour.
        let r = Tensor::<B, 4>::random([1, 3, 32, 32], Distribution::Uniform(-0.3, 0.3), &d);
        let shifted = r.clone() + 0.4;
        let fixed = color_fix(shifted, r.clone(), ColorFix::Wavelet);
        let err = (fixed - r).abs().max().into_scalar();
        assert!(err < 1e-5, "{err}");
    }

    #[test]
    fn blur_of_a_constant_is_the_constant() {
        let src = vec![0.3f32; 7 * 5];
        for d in [1, 2, 4, 16] {
            assert!(
                dilated_blur(&src, 7, 5, d)
                    .iter()
                    .all(|v| (v - 0.3).abs() < 1e-6)
            );
        }
    }
}
