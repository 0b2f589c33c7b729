//! From a 512×512 FFHQ-aligned face (what `diffmac_face` produces and DiffMAC restores) to
//! ArcFace's 112×112 input.
//!
//! ArcFace models are trained on faces warped so that the five landmarks land on insightface's
//! fixed template [`ARCFACE_112`]; FFHQ-aligned faces put them on
//! `diffmac_face::template::FFHQ_512`. Both templates are upright and left–right symmetric, so
//! the least-squares similarity between them has a rotation of about −0.009°: the mapping is,
//! to well under a pixel, an axis-aligned scale and shift. [`FaceCrop::ffhq_to_arcface`] fits
//! exactly that (least squares over the five points, scale and translation only): for a 512
//! face the scale is 0.2921 and the crop is the square of side ≈ 383.5 pixels whose top-left
//! corner is at ≈ (64.8, 61.2), i.e. the face with a little less forehead and chin than FFHQ.
//! Landmarks then land on the ArcFace template to within 2.5 pixels of the 112 crop (the
//! templates' eye-to-mouth proportions differ slightly).
//!
//! The crop and the downscale are done together as one separable linear map on the tensor,
//! `out = W_y · x · W_xᵀ`, with a triangle (bilinear) filter widened by the downscale factor
//! (anti-aliased, like PIL's bilinear resize). It runs on any backend and is differentiable,
//! so it can sit between the VAE decoder and F_ID in training.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use diffmac_face::template::ffhq_template;

use crate::error::{IdError, Result};

/// insightface's five-point template for 112×112 ArcFace input (`arcface_dst`): left eye, right
/// eye, nose tip, left and right mouth corner, `[x, y]` in pixels with pixel centres at integer
/// coordinates (OpenCV's convention, which the template was made for).
pub const ARCFACE_112: [[f64; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// An axis-aligned crop-and-resize from a square `source` face to a square `target` one:
/// output pixel `(x, y)` samples input position `((x − tx) / scale, (y − ty) / scale)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceCrop {
    /// Side of the input faces.
    pub source: usize,
    /// Side of the output faces.
    pub target: usize,
    /// Output pixels per input pixel.
    pub scale: f64,
    /// Output x of input x = 0.
    pub tx: f64,
    /// Output y of input y = 0.
    pub ty: f64,
}

impl FaceCrop {
    /// The least-squares scale and shift taking the FFHQ template of a `face_size` face onto
    /// the ArcFace template scaled to `target` (112 for ArcFace).
    pub fn ffhq_to_arcface(face_size: usize, target: usize) -> Result<Self> {
        let k = target as f64 / 112.0;
        let dst = ARCFACE_112.map(|[x, y]| [x * k, y * k]);
        Self::fit_ffhq(face_size, &dst, target)
    }

    /// The least-squares scale and shift (no rotation) taking the FFHQ template of a
    /// `face_size` face onto `dst`, five landmarks in the same order (left eye, right eye, nose
    /// tip, left and right mouth corner) in the pixels of a `target × target` output.
    pub fn fit_ffhq(face_size: usize, dst: &[[f64; 2]; 5], target: usize) -> Result<Self> {
        if face_size == 0 || target == 0 {
            return Err(IdError::Shape(format!(
                "face sizes must be positive, got {face_size} → {target}"
            )));
        }
        let src = ffhq_template(face_size as u32);
        let n = src.len() as f64;
        let mean = |p: &[[f64; 2]; 5], i: usize| p.iter().map(|q| q[i]).sum::<f64>() / n;
        let (sx, sy, dx, dy) = (mean(&src, 0), mean(&src, 1), mean(dst, 0), mean(dst, 1));
        let (mut dot, mut var) = (0.0, 0.0);
        for (p, q) in src.iter().zip(dst) {
            dot += (p[0] - sx) * (q[0] - dx) + (p[1] - sy) * (q[1] - dy);
            var += (p[0] - sx).powi(2) + (p[1] - sy).powi(2);
        }
        let scale = dot / var;
        if !scale.is_finite() || scale <= 0.0 {
            return Err(IdError::Shape(format!(
                "the target landmarks {dst:?} give no positive scale"
            )));
        }
        Ok(Self {
            source: face_size,
            target,
            scale,
            tx: dx - scale * sx,
            ty: dy - scale * sy,
        })
    }

    /// Where input point `[x, y]` lands in the output.
    pub fn apply(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [self.scale * x + self.tx, self.scale * y + self.ty]
    }

    /// The input region that becomes the output: `[x0, y0, x1, y1]` in input pixels (pixel
    /// centres at integers).
    pub fn source_box(&self) -> [f64; 4] {
        let last = (self.target - 1) as f64;
        [
            -self.tx / self.scale,
            -self.ty / self.scale,
            (last - self.tx) / self.scale,
            (last - self.ty) / self.scale,
        ]
    }

    /// The `[target, source]` resampling matrix along one axis with output offset `t`: row `i`
    /// holds triangle-filter weights centred on input position `(i − t) / scale`, widened to
    /// `1 / scale` input pixels when downscaling, restricted to the image and normalised to sum
    /// to one.
    fn axis_weights(&self, t: f64) -> Vec<f32> {
        let support = (1.0 / self.scale).max(1.0);
        let mut w = vec![0.0f32; self.target * self.source];
        for i in 0..self.target {
            let centre = (i as f64 - t) / self.scale;
            let lo = (centre - support).floor().max(0.0) as usize;
            let hi = ((centre + support).ceil() as usize).min(self.source - 1);
            let row = &mut w[i * self.source..(i + 1) * self.source];
            let mut total = 0.0;
            for (j, slot) in row.iter_mut().enumerate().take(hi + 1).skip(lo) {
                let v = (1.0 - (j as f64 - centre).abs() / support).max(0.0);
                *slot = v as f32;
                total += v;
            }
            if total > 0.0 {
                row.iter_mut()
                    .for_each(|v| *v = (f64::from(*v) / total) as f32);
            } else {
                // Entirely outside the image: take the nearest edge pixel.
                let j = centre.round().clamp(0.0, (self.source - 1) as f64) as usize;
                row[j] = 1.0;
            }
        }
        w
    }

    /// Crops and resizes `[N, C, source, source]` to `[N, C, target, target]`.
    pub fn forward<B: Backend>(&self, faces: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let [n, c, h, w] = faces.dims();
        if h != self.source || w != self.source {
            return Err(IdError::Shape(format!(
                "expected {s}×{s} faces, got {w}×{h}",
                s = self.source
            )));
        }
        let device = faces.device();
        let (s, t) = (self.source, self.target);
        let wy =
            Tensor::<B, 2>::from_data(TensorData::new(self.axis_weights(self.ty), [t, s]), &device);
        let wx =
            Tensor::<B, 2>::from_data(TensorData::new(self.axis_weights(self.tx), [t, s]), &device);
        let wy = wy.unsqueeze::<4>().expand([n, c, t, s]);
        let wxt = wx.transpose().unsqueeze::<4>().expand([n, c, s, t]);
        Ok(wy.matmul(faces).matmul(wxt))
    }
}

/// 512×512 (or any square) FFHQ-aligned faces `[N, 3, S, S]` in [-1, 1] → `[N, 3, target,
/// target]` ArcFace-aligned input in [-1, 1], through [`FaceCrop::ffhq_to_arcface`].
pub fn ffhq_to_arcface<B: Backend>(faces: Tensor<B, 4>, target: usize) -> Result<Tensor<B, 4>> {
    let [_, _, h, _] = faces.dims();
    FaceCrop::ffhq_to_arcface(h, target)?.forward(faces)
}
