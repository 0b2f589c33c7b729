//! MTCNN (Zhang et al. 2016), the cascade of three small networks that finds faces and their
//! five landmarks, ported from facenet-pytorch 2.6.0 with its pretrained weights.

mod detect;
mod onet;
mod pnet;
mod rnet;

pub use detect::{Detection, DetectorConfig};
pub use onet::{ONet, ONetOutput};
pub use pnet::{PNet, PNetOutput};
pub use rnet::{RNet, RNetOutput};

use std::path::Path;

use burn::tensor::backend::Backend;

use crate::error::{FaceError, Result};
use crate::weights::WeightFile;

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
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map(|bytes| (path.clone(), bytes))
                .map_err(|source| FaceError::Io { path, source })
        };
        let (p_path, p) = read("pnet.safetensors")?;
        let (r_path, r) = read("rnet.safetensors")?;
        let (o_path, o) = read("onet.safetensors")?;
        Ok(Self {
            pnet: PNet::from_weights(&WeightFile::parse(&p, &p_path)?, device)?,
            rnet: RNet::from_weights(&WeightFile::parse(&r, &r_path)?, device)?,
            onet: ONet::from_weights(&WeightFile::parse(&o, &o_path)?, device)?,
            device: device.clone(),
        })
    }

    /// The device the networks live on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }
}
