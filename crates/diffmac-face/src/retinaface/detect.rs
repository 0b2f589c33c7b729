//! Detection with RetinaFace: BGR mean subtraction, one forward pass, anchor decoding, a score
//! threshold and non-maximum suppression, following facexlib 0.3.0's `RetinaFace.detect_faces`
//! (the detector GFPGAN and CodeFormer use) so that results match it.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use image::Rgb32FImage;
use serde::{Deserialize, Serialize};

use super::RetinaFace;
use super::priors::priors;
use crate::detection::Detection;
use crate::error::{FaceError, Result};
use crate::nms::{Overlap, nms};
use crate::resample::Planes;

/// Means subtracted from the B, G and R channels (8-bit units), those of the training set.
const BGR_MEAN: [f32; 3] = [104.0, 117.0, 123.0];

/// RetinaFace's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetinaFaceConfig {
    /// Anchors scoring at or below this are not candidates. Kept low so that the face
    /// selection's `min_score` decides, and reports what it dropped.
    pub candidate_threshold: f32,
    /// Boxes overlapping a better one by an IoU above this are suppressed (facexlib: 0.4).
    pub nms_threshold: f32,
}

impl Default for RetinaFaceConfig {
    fn default() -> Self {
        Self {
            candidate_threshold: 0.5,
            nms_threshold: 0.4,
        }
    }
}

impl RetinaFaceConfig {
    /// Checks the ranges of all fields.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("candidate_threshold", self.candidate_threshold),
            ("nms_threshold", self.nms_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FaceError::InvalidConfig(format!(
                    "RetinaFace {name} {v} must lie in [0, 1]"
                )));
            }
        }
        Ok(())
    }
}

impl<B: Backend> RetinaFace<B> {
    /// Finds faces in an RGB image with values in [0, 1] (quantised to 8-bit levels). Faces
    /// come largest box first; an image without faces gives an empty list.
    pub fn detect(&self, image: &Rgb32FImage, config: &RetinaFaceConfig) -> Result<Vec<Detection>> {
        self.detect_planes(&Planes::from_rgb(image, 255.0, true), config)
    }

    /// Finds faces in RGB planes with values in [0, 255].
    pub fn detect_planes(&self, img: &Planes, config: &RetinaFaceConfig) -> Result<Vec<Detection>> {
        config.validate()?;
        img.require_rgb()?;
        let (h, w) = (img.height, img.width);
        if h == 0 || w == 0 {
            return Ok(Vec::new());
        }
        let plane = h * w;
        let mut bgr = Vec::with_capacity(3 * plane);
        for (c, mean) in BGR_MEAN.iter().enumerate() {
            let rgb = 2 - c;
            bgr.extend(
                img.data[rgb * plane..(rgb + 1) * plane]
                    .iter()
                    .map(|v| v - mean),
            );
        }
        let input = Tensor::<B, 4>::from_data(TensorData::new(bgr, [1, 3, h, w]), self.device());
        let out = self.net.forward(input);
        let (loc, conf, marks) = (
            host(out.loc.into_data()),
            host(out.conf.into_data()),
            host(out.landmarks.into_data()),
        );
        let (wf, hf) = (w as f32, h as f32);
        let mut boxes = Vec::new();
        let mut scores = Vec::new();
        let mut landmarks = Vec::new();
        for (a, prior) in priors(h, w).iter().enumerate() {
            let score = conf[2 * a + 1];
            // A NaN score (from non-finite pixels) is no candidate either.
            if score.is_nan() || score <= config.candidate_threshold {
                continue;
            }
            let l = &loc[4 * a..4 * a + 4];
            let b = prior.decode_box([l[0], l[1], l[2], l[3]]);
            boxes.push([b[0] * wf, b[1] * hf, b[2] * wf, b[3] * hf]);
            scores.push(score);
            let m = &marks[10 * a..10 * a + 10];
            landmarks.push(std::array::from_fn(|k| {
                let [x, y] = prior.decode_point([m[2 * k], m[2 * k + 1]]);
                [x * wf, y * hf]
            }));
        }
        let mut found: Vec<Detection> = nms(&boxes, &scores, config.nms_threshold, Overlap::Union)
            .into_iter()
            .map(|i| Detection {
                bbox: boxes[i],
                score: scores[i],
                landmarks: landmarks[i],
            })
            .collect();
        found.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok(found)
    }
}

fn host(data: TensorData) -> Vec<f32> {
    data.convert::<f32>()
        .into_vec()
        .expect("f32 tensor data after conversion")
}
