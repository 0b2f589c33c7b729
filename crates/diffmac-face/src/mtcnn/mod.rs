//! MTCNN (Zhang et al. 2016), the cascade of three small networks that finds faces and their
//! five landmarks, ported from facenet-pytorch 2.6.0 with its pretrained weights.

mod detect;
mod onet;
mod pnet;
mod rnet;

pub use crate::detection::Detection;
pub use detect::DetectorConfig;
pub use onet::{ONet, ONetOutput};
pub use pnet::{PNet, PNetOutput};
pub use rnet::{RNet, RNetOutput};

use std::path::Path;

use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use crate::error::Result;

/// The three networks on one device.
#[derive(Debug)]
pub struct Mtcnn<B: Backend> {
    /// Proposal network.
    pub pnet: PNet<B>,
    /// Refinement network.
    pub rnet: RNet<B>,
    /// Output network (scores, boxes, landmarks).
    pub onet: ONet<B>,
    device: B::Device,
}

impl<B: Backend> Mtcnn<B> {
    /// The pretrained networks compiled into the crate (facenet-pytorch 2.6.0 weights).
    pub fn pretrained(device: &B::Device) -> Result<Self> {
        Ok(Self {
            pnet: PNet::pretrained(device)?,
            rnet: RNet::pretrained(device)?,
            onet: ONet::pretrained(device)?,
            device: device.clone(),
        })
    }

    /// Loads `pnet.safetensors`, `rnet.safetensors` and `onet.safetensors` from `dir` (written by
    /// `scripts/reference/mtcnn_convert.py`).
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let open = |name: &str| SafetensorsFile::open(dir.join(name));
        Ok(Self {
            pnet: PNet::from_weights(&open("pnet.safetensors")?, device)?,
            rnet: RNet::from_weights(&open("rnet.safetensors")?, device)?,
            onet: ONet::from_weights(&open("onet.safetensors")?, device)?,
            device: device.clone(),
        })
    }

    /// The device the networks live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }
}
