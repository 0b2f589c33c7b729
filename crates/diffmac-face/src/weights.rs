//! Layers read from safetensors files: MTCNN's with PyTorch state-dict key names
//! (`conv1.weight`, `prelu1.weight`, `dense4.bias`, ...), through `diffmac_io::SafetensorsFile`.
//!
//! The pretrained weights are compiled into the crate ([`PNET`], [`RNET`], [`ONET`]); they were
//! converted once from facenet-pytorch 2.6.0's pickles by `scripts/reference/mtcnn_convert.py`.

use crate::error::Result;
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

/// P-Net weights of facenet-pytorch 2.6.0 (`data/pnet.pt`), as safetensors.
pub static PNET: &[u8] = include_bytes!("../weights/pnet.safetensors");
/// R-Net weights of facenet-pytorch 2.6.0 (`data/rnet.pt`), as safetensors.
pub static RNET: &[u8] = include_bytes!("../weights/rnet.safetensors");
/// O-Net weights of facenet-pytorch 2.6.0 (`data/onet.pt`), as safetensors.
pub static ONET: &[u8] = include_bytes!("../weights/onet.safetensors");

/// The layers of MTCNN's networks, read from a weight file with PyTorch state-dict keys
/// (its linear and PReLU layers are `SafetensorsFile::linear` and `::prelu`).
pub trait MtcnnLayers {
    /// A valid-padding, stride-1 `Conv2d` from `{prefix}.weight` `[out, in, k, k]` and
    /// `{prefix}.bias`.
    ///
    /// # Errors
    /// A missing tensor or one of another shape or dtype, naming the file and the key.
    fn conv2d<B: Backend>(
        &self,
        prefix: &str,
        channels: [usize; 2],
        kernel: usize,
        device: &B::Device,
    ) -> Result<Conv2d<B>>;
}

/// A biased `Conv2d` from `{name}.weight` `[out, in / groups, k, k]` and `{name}.bias`, with
/// the given stride, groups and padding (RetinaFace's and the face mesh's layers).
///
/// # Errors
/// A missing tensor or one of another shape or dtype, naming the file and the key.
#[allow(clippy::too_many_arguments)]
pub fn conv2d<B: Backend>(
    file: &SafetensorsFile,
    name: &str,
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    padding: PaddingConfig2d,
    device: &B::Device,
) -> Result<Conv2d<B>> {
    let [c_in, c_out] = channels;
    let weight = file.f32_tensor(
        &format!("{name}.weight"),
        [c_out, c_in / groups, kernel, kernel],
        device,
    )?;
    let bias = file.f32_tensor(&format!("{name}.bias"), [c_out], device)?;
    let mut layer = burn::nn::conv::Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(padding)
        .init(device);
    layer.weight = Param::from_tensor(weight);
    layer.bias = Some(Param::from_tensor(bias));
    Ok(layer)
}

impl MtcnnLayers for SafetensorsFile {
    fn conv2d<B: Backend>(
        &self,
        prefix: &str,
        channels: [usize; 2],
        kernel: usize,
        device: &B::Device,
    ) -> Result<Conv2d<B>> {
        let [c_in, c_out] = channels;
        let weight = self.f32_tensor(
            &format!("{prefix}.weight"),
            [c_out, c_in, kernel, kernel],
            device,
        )?;
        let bias = self.f32_tensor(&format!("{prefix}.bias"), [c_out], device)?;
        let mut conv = burn::nn::conv::Conv2dConfig::new(channels, [kernel, kernel])
            .with_padding(PaddingConfig2d::Valid)
            .init(device);
        conv.weight = Param::from_tensor(weight);
        conv.bias = Some(Param::from_tensor(bias));
        Ok(conv)
    }
}
