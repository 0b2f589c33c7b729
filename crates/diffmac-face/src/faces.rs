//! The whole-photo pipeline: find faces (on a downscaled copy of a large photo), keep the ones
//! asked for, and align each to the FFHQ template.

use image::Rgb32FImage;
use serde::{Deserialize, Serialize};

use diffmac_degrade::Interpolation;
use diffmac_degrade::resize::resize;

use crate::align::Similarity;
use crate::detection::{Detection, FaceDetector};
use crate::error::{FaceError, Result};
use crate::mtcnn::DetectorConfig;
use crate::resample::Planes;
use crate::retinaface::RetinaFaceConfig;
use crate::selection::{DroppedFace, SelectionRules, select_faces};
use crate::template::ffhq_template;
use crate::warp::{WarpOptions, warp};

pub use crate::selection::FaceSelection;

/// Settings of [`find_faces`] and [`align_face`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceOptions {
    /// RetinaFace's settings (facexlib's defaults), used when RetinaFace detects.
    pub retinaface: RetinaFaceConfig,
    /// MTCNN's settings (facenet-pytorch's defaults), used when MTCNN detects.
    #[serde(alias = "detector")]
    pub mtcnn: DetectorConfig,
    /// Faces scoring below this are dropped; unset, the detector's own default
    /// ([`crate::DetectorKind::default_min_score`]: 0.8 for RetinaFace, 0.97 for MTCNN, whose
    /// own last threshold of 0.7 lets through the odd pattern such as obama.jpg's blurred chair).
    pub min_score: Option<f32>,
    /// Faces whose box's larger side is below this many pixels of the photo are dropped
    /// (0: none; MTCNN itself finds nothing under `mtcnn.min_face_size` pixels of the
    /// detection copy, RetinaFace little under its 16-pixel anchors).
    pub min_face: u32,
    /// Which faces to keep.
    pub selection: FaceSelection,
    /// At most this many faces (the largest ones), if set.
    pub max_faces: Option<usize>,
    /// Side of the aligned square crop.
    pub face_size: u32,
    /// Photos with more pixels are detected on an area-downscaled copy of about this many
    /// pixels (coordinates are mapped back), which bounds time and memory; smaller photos are
    /// enlarged towards it (see `detect_max_upscale`).
    pub detect_max_pixels: u64,
    /// Smaller photos are detected on a bilinearly up-sampled copy of about
    /// `detect_max_pixels`, scaled by at most this factor (1: never), so that small faces
    /// reach the detectors' smallest windows (RetinaFace's 16-pixel anchors, MTCNN's 20-pixel
    /// minimum): on the annotated group photos, 2× finds all 19 faces of `city.jpg` (800×564)
    /// where the photo as it is gives RetinaFace 12 (docs/faces.md).
    pub detect_max_upscale: f64,
    /// How crops are sampled from the photo.
    pub warp: WarpOptions,
}

impl Default for FaceOptions {
    fn default() -> Self {
        Self {
            retinaface: RetinaFaceConfig::default(),
            mtcnn: DetectorConfig::default(),
            min_score: None,
            min_face: 0,
            selection: FaceSelection::All,
            max_faces: None,
            face_size: 512,
            detect_max_pixels: 1600 * 1200,
            detect_max_upscale: 2.0,
            warp: WarpOptions::default(),
        }
    }
}

/// A face aligned to the template.
#[derive(Clone, Debug)]
pub struct AlignedFace {
    /// Where it was found.
    pub detection: Detection,
    /// Photo coordinates → crop coordinates (its inverse pastes the crop back).
    pub to_crop: Similarity,
    /// The `face_size × face_size` crop.
    pub crop: Rgb32FImage,
}

/// Finds the faces of `photo` that `options` asks for. A photo without faces gives an empty
/// list.
pub fn find_faces<D: FaceDetector + ?Sized>(
    detector: &D,
    photo: &Rgb32FImage,
    options: &FaceOptions,
) -> Result<Vec<Detection>> {
    Ok(find_faces_explained(detector, photo, options)?.0)
}

/// As [`find_faces`], with every detected face that is not kept and why
/// ([`crate::selection::DropReason`]).
pub fn find_faces_explained<D: FaceDetector + ?Sized>(
    detector: &D,
    photo: &Rgb32FImage,
    options: &FaceOptions,
) -> Result<(Vec<Detection>, Vec<DroppedFace>)> {
    if options.detect_max_pixels < 144 {
        return Err(FaceError::InvalidConfig(format!(
            "detect_max_pixels {} is below one 12x12 window",
            options.detect_max_pixels
        )));
    }
    if !(options.detect_max_upscale >= 1.0 && options.detect_max_upscale <= 8.0) {
        return Err(FaceError::InvalidConfig(format!(
            "detect_max_upscale {} must lie in [1, 8]",
            options.detect_max_upscale
        )));
    }
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    // Detection copy scale: down to about detect_max_pixels, or up towards it, at most
    // detect_max_upscale times; a photo within budget that would grow by at most 5 % is used
    // as it is.
    let scale = (options.detect_max_pixels as f64 / (w * h).max(1) as f64)
        .sqrt()
        .min(options.detect_max_upscale);
    let found = if (0.95..=1.05).contains(&scale) && (w * h) as u64 <= options.detect_max_pixels {
        detector.detect_planes(&Planes::from_rgb(photo, 255.0, true), options)?
    } else {
        let (ws, hs) = (
            ((w as f64 * scale).round() as usize).max(1),
            ((h as f64 * scale).round() as usize).max(1),
        );
        let copy = if scale < 1.0 {
            Planes::area_from_rgb(photo, 255.0, true, hs, ws)
        } else {
            let up = resize(photo, ws as u32, hs as u32, Interpolation::Bilinear);
            Planes::from_rgb(&up, 255.0, true)
        };
        // Pixel centres: x_photo = (x_copy + 0.5) · w / ws − 0.5.
        let (fx, fy) = (w as f32 / ws as f32, h as f32 / hs as f32);
        let back = |x: f32, f: f32| (x + 0.5) * f - 0.5;
        detector
            .detect_planes(&copy, options)?
            .into_iter()
            .map(|d| Detection {
                bbox: [
                    back(d.bbox[0], fx),
                    back(d.bbox[1], fy),
                    back(d.bbox[2], fx),
                    back(d.bbox[3], fy),
                ],
                score: d.score,
                landmarks: d.landmarks.map(|[x, y]| [back(x, fx), back(y, fy)]),
            })
            .collect()
    };
    let rules = SelectionRules {
        min_score: options
            .min_score
            .unwrap_or_else(|| detector.kind().default_min_score()),
        min_face: options.min_face,
        selection: options.selection,
        max_faces: options.max_faces,
    };
    Ok(select_faces(found, photo.dimensions(), &rules))
}

/// The similarity that maps a detection's five landmarks onto the FFHQ template of a
/// `face_size` crop, in the least-squares sense.
pub fn alignment(detection: &Detection, face_size: u32) -> Result<Similarity> {
    let src = detection
        .landmarks
        .map(|[x, y]| [f64::from(x), f64::from(y)]);
    Similarity::estimate(&src, &ffhq_template(face_size))
}

/// Aligns one detected face: estimates the transform and warps the crop.
pub fn align_face(
    photo: &Rgb32FImage,
    detection: &Detection,
    options: &FaceOptions,
) -> Result<AlignedFace> {
    let to_crop = alignment(detection, options.face_size)?;
    let crop = warp(
        photo,
        &to_crop,
        options.face_size,
        options.face_size,
        &options.warp,
    );
    Ok(AlignedFace {
        detection: detection.clone(),
        to_crop,
        crop,
    })
}
