//! # diffmac-face
//!
//! Whole photos for DiffMAC, which restores FFHQ-aligned 512×512 faces:
//!
//! 1. **Detect** ([`detection`]): [`retinaface`] (the default; RetinaFace MobileNet-0.25, one
//!    pass, profile and small faces) or [`mtcnn`] (facenet-pytorch's cascade), both with
//!    compiled-in weights, NMS ([`nms`]) and five landmarks. Large photos are detected on a
//!    downscaled copy ([`faces::find_faces`]); [`selection`] keeps the faces asked for.
//! 2. **Align** ([`align`], [`template`], [`warp`]): a least-squares similarity (Umeyama) from
//!    the landmarks to facexlib's FFHQ five-point template, and a bicubic, anti-aliased warp
//!    with a reflecting border.
//! 3. **Paste back** ([`paste`]): the inverse warp through an eroded, feathered mask, limited
//!    to the face's outline from [`facemesh`] when given; pixels outside the masks keep their
//!    values bit for bit.
//!
//! Photos are loaded and saved with `diffmac_io` (EXIF orientation, grey, 16-bit, alpha).
//!
//! ```no_run
//! use burn::backend::Flex;
//! use diffmac_face::{Detector, DetectorKind, FaceOptions, faces, paste};
//!
//! let detector = Detector::<Flex>::pretrained(DetectorKind::RetinaFace, &Default::default())?;
//! let photo = diffmac_io::load_image("photo.jpg".as_ref(), 64 << 20)?;
//! let options = FaceOptions::default();
//! let mut aligned = Vec::new();
//! for det in faces::find_faces(&detector, &photo.rgb, &options)? {
//!     aligned.push(faces::align_face(&photo.rgb, &det, &options)?);
//! }
//! // ... restore each `aligned[i].crop` ...
//! let pasted: Vec<_> = aligned
//!     .iter()
//!     .map(|a| paste::PasteFace { face: &a.crop, to_crop: a.to_crop, outline: None })
//!     .collect();
//! let result = paste::paste_faces(&photo.rgb, &pasted, &paste::PasteOptions::default())?;
//! # Ok::<(), diffmac_face::FaceError>(())
//! ```

pub mod align;
pub mod detection;
pub mod error;
pub mod facemesh;
pub mod faces;
pub mod mtcnn;
pub mod nms;
pub mod paste;
pub mod resample;
pub mod retinaface;
pub mod selection;
pub mod template;
pub mod warp;
pub mod weights;

pub use align::Similarity;
pub use detection::{Detection, Detector, DetectorKind, FaceDetector};
pub use error::{FaceError, Result};
pub use facemesh::FaceMesh;
pub use faces::{AlignedFace, FaceOptions};
pub use mtcnn::{DetectorConfig, Mtcnn};
pub use retinaface::{RetinaFace, RetinaFaceConfig};
pub use selection::{DropReason, DroppedFace, FaceSelection};
