//! What a face detector gives, and the detectors there are: RetinaFace (the default) and MTCNN,
//! behind one trait so that the whole-photo pipeline ([`crate::faces`]) takes either.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::faces::FaceOptions;
use crate::mtcnn::Mtcnn;
use crate::resample::Planes;
use crate::retinaface::RetinaFace;

/// One detected face, in the pixel coordinates of the image given to the detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Box `[x1, y1, x2, y2]`.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The detector's face probability.
    pub score: f32,
    /// Left eye, right eye, nose tip, left and right mouth corner (left and right as seen in
    /// the picture), each `[x, y]`.
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    /// Box area in square pixels.
    pub fn area(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1])
    }
}

/// Which detector to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// RetinaFace MobileNet-0.25: finds profile, tilted and small faces MTCNN misses.
    #[default]
    RetinaFace,
    /// MTCNN, the cascade of facenet-pytorch.
    Mtcnn,
}

impl DetectorKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RetinaFace => "retinaface",
            Self::Mtcnn => "mtcnn",
        }
    }

    /// The score below which faces are dropped when `FaceOptions::min_score` is not set:
    /// 0.97 for MTCNN (facexlib's threshold; MTCNN's own 0.7 lets through the odd pattern) and
    /// 0.8 for RetinaFace (facexlib's `detect_faces` default).
    pub fn default_min_score(self) -> f32 {
        match self {
            Self::RetinaFace => 0.8,
            Self::Mtcnn => 0.97,
        }
    }
}

impl std::str::FromStr for DetectorKind {
    type Err = String;

    /// `retinaface` or `mtcnn`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "retinaface" => Ok(Self::RetinaFace),
            "mtcnn" => Ok(Self::Mtcnn),
            other => Err(format!(
                "unknown face detector {other:?}: use retinaface or mtcnn"
            )),
        }
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A face detector over RGB planes with values in [0, 255]; faces come largest first.
pub trait FaceDetector {
    /// Which detector this is.
    fn kind(&self) -> DetectorKind;

    /// Finds faces with the settings of `options` that concern this detector.
    ///
    /// # Errors
    /// Invalid settings or an image without three channels.
    fn detect_planes(&self, img: &Planes, options: &FaceOptions) -> Result<Vec<Detection>>;
}

impl<B: Backend> FaceDetector for Mtcnn<B> {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Mtcnn
    }

    fn detect_planes(&self, img: &Planes, options: &FaceOptions) -> Result<Vec<Detection>> {
        Mtcnn::detect_planes(self, img, &options.mtcnn)
    }
}

impl<B: Backend> FaceDetector for RetinaFace<B> {
    fn kind(&self) -> DetectorKind {
        DetectorKind::RetinaFace
    }

    fn detect_planes(&self, img: &Planes, options: &FaceOptions) -> Result<Vec<Detection>> {
        RetinaFace::detect_planes(self, img, &options.retinaface)
    }
}

/// Either detector, chosen at run time (`--detector`).
#[derive(Debug)]
pub enum Detector<B: Backend> {
    /// RetinaFace MobileNet-0.25 (both boxed: networks are large values).
    RetinaFace(Box<RetinaFace<B>>),
    /// MTCNN.
    Mtcnn(Box<Mtcnn<B>>),
}

impl<B: Backend> Detector<B> {
    /// The pretrained detector of that kind (its weights are compiled into the crate).
    pub fn pretrained(kind: DetectorKind, device: &B::Device) -> Result<Self> {
        Ok(match kind {
            DetectorKind::RetinaFace => Self::RetinaFace(Box::new(RetinaFace::pretrained(device)?)),
            DetectorKind::Mtcnn => Self::Mtcnn(Box::new(Mtcnn::pretrained(device)?)),
        })
    }
}

impl<B: Backend> FaceDetector for Detector<B> {
    fn kind(&self) -> DetectorKind {
        match self {
            Self::RetinaFace(d) => d.kind(),
            Self::Mtcnn(d) => d.kind(),
        }
    }

    fn detect_planes(&self, img: &Planes, options: &FaceOptions) -> Result<Vec<Detection>> {
        match self {
            Self::RetinaFace(d) => FaceDetector::detect_planes(d.as_ref(), img, options),
            Self::Mtcnn(d) => FaceDetector::detect_planes(d.as_ref(), img, options),
        }
    }
}
