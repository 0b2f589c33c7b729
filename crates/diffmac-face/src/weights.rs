//! MTCNN's pretrained weights, as safetensors files with PyTorch state-dict key names
//! (`conv1.weight`, `prelu1.weight`, `dense4.bias`, ...). Every layer of this crate's networks
//! is read by `diffmac_io::SafetensorsFile`'s `conv2d`, `linear` and `prelu`.
//!
//! The weights are compiled into the crate ([`PNET`], [`RNET`], [`ONET`]); they were
//! converted once from facenet-pytorch 2.6.0's pickles by `scripts/reference/mtcnn_convert.py`.

/// P-Net weights of facenet-pytorch 2.6.0 (`data/pnet.pt`), as safetensors.
pub static PNET: &[u8] = include_bytes!("../weights/pnet.safetensors");
/// R-Net weights of facenet-pytorch 2.6.0 (`data/rnet.pt`), as safetensors.
pub static RNET: &[u8] = include_bytes!("../weights/rnet.safetensors");
/// O-Net weights of facenet-pytorch 2.6.0 (`data/onet.pt`), as safetensors.
pub static ONET: &[u8] = include_bytes!("../weights/onet.safetensors");
