//! The MTCNN cascade: image pyramid → P-Net proposals → R-Net refinement → O-Net boxes and
//! landmarks, with the box arithmetic of facenet-pytorch 2.6.0 so that results match it.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use image::Rgb32FImage;
use serde::{Deserialize, Serialize};

use super::Mtcnn;
use crate::detection::Detection;
use crate::error::{FaceError, Result};
use crate::nms::{Overlap, nms};
use crate::resample::Planes;

/// Detector settings; the defaults are facenet-pytorch's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Smallest face side searched for, in pixels (sets the finest pyramid level).
    pub min_face_size: f64,
    /// Score thresholds of P-, R- and O-Net.
    pub thresholds: [f32; 3],
    /// Scale step between pyramid levels.
    pub factor: f64,
    /// Candidates per R-/O-Net batch (bounds memory, not results).
    pub batch_size: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            min_face_size: 20.0,
            thresholds: [0.6, 0.7, 0.7],
            factor: 0.709,
            batch_size: 512,
        }
    }
}

impl DetectorConfig {
    /// Checks the ranges of all fields.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(FaceError::InvalidConfig(m));
        if !(self.min_face_size >= 12.0 && self.min_face_size.is_finite()) {
            return bad(format!(
                "min_face_size {} must be at least 12",
                self.min_face_size
            ));
        }
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return bad(format!("factor {} must lie in (0, 1)", self.factor));
        }
        if self.thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return bad(format!(
                "thresholds {:?} must lie in [0, 1]",
                self.thresholds
            ));
        }
        if self.batch_size == 0 {
            return bad("batch_size must be positive".into());
        }
        Ok(())
    }
}

/// A candidate box with its score.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    b: [f32; 4],
    score: f32,
}

impl<B: Backend> Mtcnn<B> {
    /// Finds faces in an RGB image with values in [0, 1] (quantised to 8-bit levels, the input
    /// the networks were trained on). Faces come largest box first; an image without faces
    /// gives an empty list.
    pub fn detect(&self, image: &Rgb32FImage, config: &DetectorConfig) -> Result<Vec<Detection>> {
        self.detect_planes(&Planes::from_rgb(image, 255.0, true), config)
    }

    /// Finds faces in RGB planes with values in [0, 255].
    pub fn detect_planes(&self, img: &Planes, config: &DetectorConfig) -> Result<Vec<Detection>> {
        config.validate()?;
        img.require_rgb()?;
        let (h, w) = (img.height, img.width);
        // Stage 1: P-Net over the pyramid.
        let mut candidates = Vec::new();
        for scale in pyramid_scales(h, w, config) {
            let hs = (h as f64 * scale + 1.0) as usize;
            let ws = (w as f64 * scale + 1.0) as usize;
            let level = img.area_resize(hs, ws);
            let found = self.pnet_level(&level, scale as f32, config.thresholds[0]);
            let boxes: Vec<[f32; 4]> = found.iter().map(|(c, _)| c.b).collect();
            let scores: Vec<f32> = found.iter().map(|(c, _)| c.score).collect();
            for i in nms(&boxes, &scores, 0.5, Overlap::Union) {
                candidates.push(found[i]);
            }
        }
        let boxes: Vec<[f32; 4]> = candidates.iter().map(|(c, _)| c.b).collect();
        let scores: Vec<f32> = candidates.iter().map(|(c, _)| c.score).collect();
        let mut boxes: Vec<Candidate> = nms(&boxes, &scores, 0.7, Overlap::Union)
            .into_iter()
            .map(|i| {
                let (c, r) = candidates[i];
                let (rw, rh) = (c.b[2] - c.b[0], c.b[3] - c.b[1]);
                let b = [
                    c.b[0] + r[0] * rw,
                    c.b[1] + r[1] * rh,
                    c.b[2] + r[2] * rw,
                    c.b[3] + r[3] * rh,
                ];
                Candidate {
                    b: square(b),
                    score: c.score,
                }
            })
            .collect();

        // Stage 2: R-Net on 24×24 crops.
        if !boxes.is_empty() {
            let (kept, data) = crops(img, &boxes, 24);
            boxes = kept;
            let mut passed = Vec::new();
            for (chunk, data) in batches(&boxes, &data, 24, config.batch_size) {
                let out = self.rnet.forward(self.tensor(data, chunk.len(), 24));
                let prob = to_vec(out.prob);
                let reg = to_vec(out.reg);
                for (k, c) in chunk.iter().enumerate() {
                    let score = prob[2 * k + 1];
                    if score > config.thresholds[1] {
                        let r = [reg[4 * k], reg[4 * k + 1], reg[4 * k + 2], reg[4 * k + 3]];
                        passed.push((Candidate { b: c.b, score }, r));
                    }
                }
            }
            let b: Vec<[f32; 4]> = passed.iter().map(|(c, _)| c.b).collect();
            let s: Vec<f32> = passed.iter().map(|(c, _)| c.score).collect();
            boxes = nms(&b, &s, 0.7, Overlap::Union)
                .into_iter()
                .map(|i| {
                    let (c, r) = passed[i];
                    Candidate {
                        b: square(regress(c.b, r)),
                        score: c.score,
                    }
                })
                .collect();
        }

        // Stage 3: O-Net on 48×48 crops, landmarks.
        let mut found: Vec<Detection> = Vec::new();
        if !boxes.is_empty() {
            let (kept, data) = crops(img, &boxes, 48);
            boxes = kept;
            for (chunk, data) in batches(&boxes, &data, 48, config.batch_size) {
                let out = self.onet.forward(self.tensor(data, chunk.len(), 48));
                let prob = to_vec(out.prob);
                let reg = to_vec(out.reg);
                let lm = to_vec(out.landmarks);
                for (k, c) in chunk.iter().enumerate() {
                    let score = prob[2 * k + 1];
                    if score <= config.thresholds[2] {
                        continue;
                    }
                    let b = c.b;
                    let (bw, bh) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
                    let mut landmarks = [[0.0f32; 2]; 5];
                    for (j, p) in landmarks.iter_mut().enumerate() {
                        *p = [
                            bw * lm[10 * k + j] + b[0] - 1.0,
                            bh * lm[10 * k + 5 + j] + b[1] - 1.0,
                        ];
                    }
                    let r = [reg[4 * k], reg[4 * k + 1], reg[4 * k + 2], reg[4 * k + 3]];
                    found.push(Detection {
                        bbox: regress(b, r),
                        score,
                        landmarks,
                    });
                }
            }
            let b: Vec<[f32; 4]> = found.iter().map(|d| d.bbox).collect();
            let s: Vec<f32> = found.iter().map(|d| d.score).collect();
            found = nms(&b, &s, 0.7, Overlap::Min)
                .into_iter()
                .map(|i| found[i].clone())
                .collect();
        }
        // Largest first, as facenet-pytorch's `select_largest`.
        found.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok(found)
    }

    fn tensor(&self, data: Vec<f32>, n: usize, side: usize) -> Tensor<B, 4> {
        Tensor::from_data(TensorData::new(data, [n, 3, side, side]), &self.device)
    }

    /// P-Net on one pyramid level: candidates (in the level's window grid, scaled back to the
    /// image) with their regressions, in row-major window order.
    fn pnet_level(&self, level: &Planes, scale: f32, threshold: f32) -> Vec<(Candidate, [f32; 4])> {
        let data: Vec<f32> = level.data.iter().map(|v| (v - 127.5) * 0.0078125).collect();
        let x = Tensor::from_data(
            TensorData::new(data, [1, 3, level.height, level.width]),
            &self.device,
        );
        let out = self.pnet.forward(x);
        let [_, _, oh, ow] = out.prob.dims();
        let prob = to_vec(out.prob);
        let reg = to_vec(out.reg);
        let plane = oh * ow;
        let mut found = Vec::new();
        for y in 0..oh {
            for x in 0..ow {
                let p = y * ow + x;
                let score = prob[plane + p];
                if score >= threshold {
                    let (xf, yf) = (x as f32, y as f32);
                    let b = [
                        ((2.0 * xf + 1.0) / scale).floor(),
                        ((2.0 * yf + 1.0) / scale).floor(),
                        ((2.0 * xf + 12.0) / scale).floor(),
                        ((2.0 * yf + 12.0) / scale).floor(),
                    ];
                    let r = [
                        reg[p],
                        reg[plane + p],
                        reg[2 * plane + p],
                        reg[3 * plane + p],
                    ];
                    found.push((Candidate { b, score }, r));
                }
            }
        }
        found
    }
}

/// The pyramid's scales: the first maps `min_face_size` to P-Net's 12-pixel window, each next
/// one is `factor` times smaller, while the shorter side stays at least 12 pixels.
pub(crate) fn pyramid_scales(h: usize, w: usize, config: &DetectorConfig) -> Vec<f64> {
    let m = 12.0 / config.min_face_size;
    let mut min_side = h.min(w) as f64 * m;
    let mut scale = m;
    let mut scales = Vec::new();
    while min_side >= 12.0 {
        scales.push(scale);
        scale *= config.factor;
        min_side *= config.factor;
    }
    scales
}

/// Box regression with inclusive sizes (`bbreg`).
fn regress(b: [f32; 4], r: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0] + 1.0, b[3] - b[1] + 1.0);
    [
        b[0] + r[0] * w,
        b[1] + r[1] * h,
        b[2] + r[2] * w,
        b[3] + r[3] * h,
    ]
}

/// Grows a box to a square around its centre (`rerec`).
fn square(b: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

/// Cuts every candidate's box (truncated to integers and clipped to the image, as the original
/// does: parts outside the image are left out, not padded) and area-resamples it to
/// `side × side`, normalised. Candidates whose box lies wholly outside the image are dropped.
fn crops(img: &Planes, boxes: &[Candidate], side: usize) -> (Vec<Candidate>, Vec<f32>) {
    let mut kept = Vec::with_capacity(boxes.len());
    let mut data = Vec::with_capacity(boxes.len() * 3 * side * side);
    let (w, h) = (img.width as i64, img.height as i64);
    for c in boxes {
        let x = (c.b[0].trunc() as i64).max(1);
        let y = (c.b[1].trunc() as i64).max(1);
        let ex = (c.b[2].trunc() as i64).min(w);
        let ey = (c.b[3].trunc() as i64).min(h);
        // Rows y-1 .. ey and columns x-1 .. ex, as 0-based half-open ranges.
        if ey > y - 1 && ex > x - 1 && x - 1 < w && y - 1 < h && ex > 0 && ey > 0 {
            let crop = img.area_resize_region(
                ((y - 1) as usize, ey as usize),
                ((x - 1) as usize, ex as usize),
                side,
                side,
            );
            data.extend(crop.data.iter().map(|v| (v - 127.5) * 0.0078125));
            kept.push(*c);
        }
    }
    (kept, data)
}

/// Splits candidates and their crop data into batches of at most `batch` items.
fn batches<'a>(
    boxes: &'a [Candidate],
    data: &'a [f32],
    side: usize,
    batch: usize,
) -> impl Iterator<Item = (&'a [Candidate], Vec<f32>)> {
    let per = 3 * side * side;
    boxes
        .chunks(batch)
        .zip(data.chunks(batch * per))
        .map(|(b, d)| (b, d.to_vec()))
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 tensor data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_matches_facenet_for_a_512_square() {
        // facenet-pytorch: m = 0.6, min side 307.2, factor 0.709 until below 12.
        let s = pyramid_scales(512, 512, &DetectorConfig::default());
        assert_eq!(s.len(), 10);
        assert!((s[0] - 0.6).abs() < 1e-12);
        assert!((s[9] - 0.6 * 0.709f64.powi(9)).abs() < 1e-12);
    }

    #[test]
    fn square_keeps_the_centre() {
        assert_eq!(square([0.0, 0.0, 10.0, 20.0]), [-5.0, 0.0, 15.0, 20.0]);
    }

    #[test]
    fn config_ranges_are_checked() {
        let c = DetectorConfig {
            factor: 1.0,
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = DetectorConfig {
            min_face_size: 5.0,
            ..Default::default()
        };
        assert!(c.validate().is_err());
        assert!(DetectorConfig::default().validate().is_ok());
    }
}
