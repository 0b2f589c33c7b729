//! Burn layers read from PyTorch state-dict keys: the one place a hand-built network's
//! convolution, linear or PReLU layer is made from a weight file, so that every network
//! reports a missing tensor or a wrong shape the same way (naming the file and the key).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, PRelu, PReluConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::SafetensorsFile;
use crate::error::Result;

/// The shape and options of a 2-D convolution read from a weight file: what
/// [`SafetensorsFile::conv2d`] checks the stored tensors against and builds the layer with.
///
/// Built from [`Conv2dSpec::new`] or [`Conv2dSpec::square`] (stride 1, one group, no
/// padding, with a bias), then adjusted with the `with_*` methods.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dSpec {
    /// Input and output channels, `[in, out]`.
    pub channels: [usize; 2],
    /// Kernel rows and columns.
    pub kernel: [usize; 2],
    /// Stride along both axes.
    pub stride: usize,
    /// Channel groups (the input channels for a depthwise convolution).
    pub groups: usize,
    /// Padding of the input.
    pub padding: PaddingConfig2d,
    /// Whether the layer has a bias (`{prefix}.bias`).
    pub bias: bool,
}

impl Conv2dSpec {
    /// A `channels = [in, out]` convolution with a `kernel = [rows, cols]` kernel, stride 1,
    /// one group, no padding and a bias.
    pub fn new(channels: [usize; 2], kernel: [usize; 2]) -> Self {
        Self {
            channels,
            kernel,
            stride: 1,
            groups: 1,
            padding: PaddingConfig2d::Valid,
            bias: true,
        }
    }

    /// [`Conv2dSpec::new`] with a square `kernel × kernel` kernel.
    pub fn square(channels: [usize; 2], kernel: usize) -> Self {
        Self::new(channels, [kernel, kernel])
    }

    /// The same convolution with another stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// The same convolution in `groups` channel groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// The same convolution with another padding.
    pub fn with_padding(mut self, padding: PaddingConfig2d) -> Self {
        self.padding = padding;
        self
    }

    /// The same convolution zero-padded by `pad` pixels on every side (PyTorch's
    /// `padding=pad`).
    pub fn with_zero_padding(self, pad: usize) -> Self {
        self.with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
    }

    /// The same convolution without a bias (PyTorch's `bias=False`).
    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    /// The weight's shape in PyTorch's layout, `[out, in / groups, rows, cols]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        let [c_in, c_out] = self.channels;
        let [rows, cols] = self.kernel;
        [c_out, c_in / self.groups.max(1), rows, cols]
    }

    /// Whether the groups divide both channel counts (what Burn's convolution requires).
    fn groups_fit(&self) -> bool {
        let [c_in, c_out] = self.channels;
        self.groups > 0 && c_in.is_multiple_of(self.groups) && c_out.is_multiple_of(self.groups)
    }

    /// The layer with the given weight ([`Conv2dSpec::weight_shape`]) and bias (`[out]`,
    /// when [`Conv2dSpec::bias`]): for networks that compute their weights from the stored
    /// ones (a batch norm folded into the convolution) before building the layer.
    ///
    /// # Panics
    /// If the groups do not divide the channels (checked by [`SafetensorsFile::conv2d`]
    /// before it calls this).
    pub fn build<B: Backend>(
        &self,
        weight: Tensor<B, 4>,
        bias: Option<Tensor<B, 1>>,
        device: &B::Device,
    ) -> Conv2d<B> {
        let mut conv = Conv2dConfig::new(self.channels, self.kernel)
            .with_stride([self.stride, self.stride])
            .with_groups(self.groups)
            .with_padding(self.padding.clone())
            .with_bias(self.bias)
            .init(device);
        conv.weight = Param::from_tensor(weight);
        conv.bias = bias.map(Param::from_tensor);
        conv
    }
}

impl SafetensorsFile {
    /// A PyTorch `nn.Conv2d` from `{prefix}.weight` (F32, [`Conv2dSpec::weight_shape`]) and,
    /// when `spec` has a bias, `{prefix}.bias` (F32, `[out]`), with the stride, groups and
    /// padding of `spec`. The weights are used as stored: Burn's convolution is PyTorch's
    /// cross-correlation with the same layout.
    ///
    /// # Errors
    /// [`IoError::MissingTensor`](crate::IoError::MissingTensor), or
    /// [`IoError::TensorMismatch`](crate::IoError::TensorMismatch) for another dtype or shape
    /// (or groups that do not divide the channels), each naming the file and the key.
    pub fn conv2d<B: Backend>(
        &self,
        prefix: &str,
        spec: &Conv2dSpec,
        device: &B::Device,
    ) -> Result<Conv2d<B>> {
        let weight_key = format!("{prefix}.weight");
        if !spec.groups_fit() {
            return Err(self.tensor_error(
                &weight_key,
                format!(
                    "a convolution of {:?} channels cannot have {} groups",
                    spec.channels, spec.groups
                ),
            ));
        }
        let weight = self.f32_tensor(&weight_key, spec.weight_shape(), device)?;
        let bias = if spec.bias {
            let c_out = spec.channels[1];
            Some(self.f32_tensor(&format!("{prefix}.bias"), [c_out], device)?)
        } else {
            None
        };
        Ok(spec.build(weight, bias, device))
    }

    /// A PyTorch `nn.Linear` from `{prefix}.weight` `[out, in]` and `{prefix}.bias` (F32),
    /// with the weight stored transposed, as Burn's row layout wants `[in, out]`.
    ///
    /// # Errors
    /// As [`SafetensorsFile::f32_values`].
    pub fn linear<B: Backend>(
        &self,
        prefix: &str,
        d_input: usize,
        d_output: usize,
        device: &B::Device,
    ) -> Result<Linear<B>> {
        let weight: Tensor<B, 2> =
            self.f32_tensor(&format!("{prefix}.weight"), [d_output, d_input], device)?;
        let bias = self.f32_tensor(&format!("{prefix}.bias"), [d_output], device)?;
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// A per-channel PyTorch `nn.PReLU` from `{prefix}.weight` `[channels]` (F32).
    ///
    /// # Errors
    /// As [`SafetensorsFile::f32_values`].
    pub fn prelu<B: Backend>(
        &self,
        prefix: &str,
        channels: usize,
        device: &B::Device,
    ) -> Result<PRelu<B>> {
        let alpha = self.f32_tensor(&format!("{prefix}.weight"), [channels], device)?;
        let mut prelu = PReluConfig::new()
            .with_num_parameters(channels)
            .init(device);
        prelu.alpha = Param::from_tensor(alpha);
        Ok(prelu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    type B = Flex;

    /// A file holding a 2 → 4 depthwise-by-2 3×3 convolution `conv` with a bias.
    fn file() -> SafetensorsFile {
        let weight: Vec<f32> = (0..4 * 3 * 3).map(|i| i as f32 / 10.0).collect();
        let tensors = BTreeMap::from([
            (
                "conv.weight".to_string(),
                TensorData::new(weight, [4, 1, 3, 3]),
            ),
            (
                "conv.bias".to_string(),
                TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [4]),
            ),
        ]);
        SafetensorsFile::from_tensors(PathBuf::from("net.safetensors"), &tensors).unwrap()
    }

    #[test]
    fn conv2d_uses_the_stored_weights_with_the_spec_options() {
        let device = Default::default();
        let spec = Conv2dSpec::square([2, 4], 3)
            .with_groups(2)
            .with_stride(2)
            .with_zero_padding(1);
        let conv = file().conv2d::<B>("conv", &spec, &device).unwrap();
        assert_eq!(conv.weight.dims(), [4, 1, 3, 3]);
        assert_eq!(conv.stride, [2, 2]);
        assert_eq!(conv.groups, 2);
        let bias = conv.bias.as_ref().unwrap().val().into_data();
        assert_eq!(bias.to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0, 4.0]);
        // A 4×4 input, padded by 1, stride 2: a 2×2 output.
        let out = conv.forward(Tensor::<B, 4>::ones([1, 2, 4, 4], &device));
        assert_eq!(out.dims(), [1, 4, 2, 2]);
    }

    #[test]
    fn a_convolution_without_bias_reads_no_bias() {
        let device = Default::default();
        let mut tensors = BTreeMap::new();
        tensors.insert(
            "c.weight".to_string(),
            TensorData::new(vec![0.5f32; 6], [3, 2, 1, 1]),
        );
        let file =
            SafetensorsFile::from_tensors(PathBuf::from("nb.safetensors"), &tensors).unwrap();
        let spec = Conv2dSpec::square([2, 3], 1).without_bias();
        let conv = file.conv2d::<B>("c", &spec, &device).unwrap();
        assert!(conv.bias.is_none());
        // The same spec with a bias asks for `c.bias`, which the file lacks.
        let err = file
            .conv2d::<B>("c", &Conv2dSpec::square([2, 3], 1), &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nb.safetensors") && err.contains("c.bias"),
            "{err}"
        );
    }

    #[test]
    fn wrong_shapes_and_groups_name_the_file_and_the_tensor() {
        let device = Default::default();
        // Without groups the weight would be [4, 2, 3, 3]: the stored one is [4, 1, 3, 3].
        let err = file()
            .conv2d::<B>("conv", &Conv2dSpec::square([2, 4], 3), &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("net.safetensors") && err.contains("conv.weight"),
            "{err}"
        );
        assert!(
            err.contains("[4, 1, 3, 3]") && err.contains("[4, 2, 3, 3]"),
            "{err}"
        );

        let spec = Conv2dSpec::square([2, 4], 3).with_groups(3);
        let err = file()
            .conv2d::<B>("conv", &spec, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("net.safetensors")
                && err.contains("conv.weight")
                && err.contains("3 groups"),
            "{err}"
        );
    }
}
