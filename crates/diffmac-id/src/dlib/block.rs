//! dlib's residual block (`ares` / `ares_down` of `dnn_face_recognition_ex.cpp`) and its
//! zero-padding addition.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use super::architecture::DlibBlockConfig;
use super::layers::affine;
use crate::batch_norm::FrozenBatchNorm;
use crate::error::Result;

/// `relu(affine2(conv2(relu(affine1(conv1(x))))) ⊕ shortcut(x))`, where the shortcut is `x`
/// (stride 1) or its 2×2 stride-2 average pool (stride 2), and `⊕` is dlib's `add_prev`: the
/// sum over the larger of the two shapes, the smaller operand padded with zeros at the end of
/// the channel, row and column axes ([`add_zero_padded`]).
#[derive(Module, Debug)]
pub struct DlibBlock<B: Backend> {
    /// 3×3 convolution carrying the block's stride.
    pub conv1: Conv2d<B>,
    /// Affine after `conv1`.
    pub affine1: FrozenBatchNorm<B>,
    /// 3×3 convolution, stride 1.
    pub conv2: Conv2d<B>,
    /// Affine after `conv2`.
    pub affine2: FrozenBatchNorm<B>,
    /// 1, or 2 for a down-sampling block.
    pub stride: usize,
}

impl<B: Backend> DlibBlock<B> {
    /// Loads `blocks.{index}` mapping `c_in` channels to `config.channels`.
    pub fn load(
        weights: &SafetensorsFile,
        index: usize,
        c_in: usize,
        config: &DlibBlockConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let p = format!("blocks.{index}");
        let c = config.channels;
        Ok(Self {
            conv1: weights.conv2d(
                &format!("{p}.conv1"),
                &Conv2dSpec::square([c_in, c], 3)
                    .with_stride(config.stride)
                    .with_zero_padding(config.padding1),
                device,
            )?,
            affine1: affine(weights, &format!("{p}.affine1"), c, device)?,
            conv2: weights.conv2d(
                &format!("{p}.conv2"),
                &Conv2dSpec::square([c, c], 3).with_zero_padding(config.padding2),
                device,
            )?,
            affine2: affine(weights, &format!("{p}.affine2"), c, device)?,
            stride: config.stride,
        })
    }

    /// `[N, C_in, H, W]` → `[N, C, H', W']`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.affine1.forward(self.conv1.forward(x.clone()));
        let y = self
            .affine2
            .forward(self.conv2.forward(burn::tensor::activation::relu(y)));
        let shortcut = if self.stride == 2 {
            avg_pool2d(x, [2, 2], [2, 2], [0, 0], true, false)
        } else {
            x
        };
        burn::tensor::activation::relu(add_zero_padded(y, shortcut))
    }
}

/// dlib's `add_prev`: `a + b` over `[max N, max C, max H, max W]`, each operand padded with
/// zeros at the end of every axis where it is smaller.
pub fn add_zero_padded<B: Backend>(a: Tensor<B, 4>, b: Tensor<B, 4>) -> Tensor<B, 4> {
    let (da, db) = (a.dims(), b.dims());
    if da == db {
        return a + b;
    }
    let out: [usize; 4] = std::array::from_fn(|i| da[i].max(db[i]));
    let pad = |t: Tensor<B, 4>, d: [usize; 4]| {
        if d == out {
            t
        } else {
            Tensor::zeros(out, &t.device()).slice_assign([0..d[0], 0..d[1], 0..d[2], 0..d[3]], t)
        }
    };
    pad(a, da) + pad(b, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn add_zero_padded_sums_over_the_larger_shape() {
        let device = Default::default();
        // a: [1, 2, 1, 2], b: [1, 1, 2, 1]
        let a = Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 2, 1, 2]),
            &device,
        );
        let b = Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![10.0f32, 20.0], [1, 1, 2, 1]),
            &device,
        );
        let out = add_zero_padded(a, b);
        assert_eq!(out.dims(), [1, 2, 2, 2]);
        let v = out.into_data().into_vec::<f32>().unwrap();
        // channel 0: [[1+10, 2], [20, 0]]; channel 1: [[3, 4], [0, 0]]
        assert_eq!(v, vec![11.0, 2.0, 20.0, 0.0, 3.0, 4.0, 0.0, 0.0]);
    }
}
