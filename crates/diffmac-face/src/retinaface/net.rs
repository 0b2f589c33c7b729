//! RetinaFace's network (Deng et al. 2020) with the MobileNet-0.25 backbone of
//! biubug6/Pytorch_Retinaface: a MobileNetV1 at a quarter width, a three-level feature pyramid,
//! an SSH context module per level and 1×1 heads for face scores, boxes and five landmarks.
//!
//! The weights carry each batch norm folded into its convolution, so every layer is a biased
//! convolution followed (or not) by a leaky ReLU of slope 0.1.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::{leaky_relu, relu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::error::Result;

/// Slope of every leaky ReLU in the network.
const LEAKY: f64 = 0.1;
/// Anchors per feature-map position (two sizes per level).
pub const ANCHORS_PER_CELL: usize = 2;

/// The backbone: a 3×3 stem then depthwise-separable pairs; `(input, output, stride)` of each
/// pair, stage by stage. Stage outputs (after pairs 5, 11 and 13) feed the pyramid.
const DEPTHWISE_PAIRS: [(usize, usize, usize); 13] = [
    (8, 16, 1),
    (16, 32, 2),
    (32, 32, 1),
    (32, 64, 2),
    (64, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
];
/// Index (in `DEPTHWISE_PAIRS`) of the last pair of each stage.
const STAGE_ENDS: [usize; 3] = [4, 10, 12];
/// Pyramid width.
const FPN: usize = 64;

/// A convolution read from `{name}.weight` and `{name}.bias`, padded by `k / 2` as all of
/// RetinaFace's are.
fn conv<B: Backend>(
    file: &SafetensorsFile,
    name: &str,
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &B::Device,
) -> Result<Conv2d<B>> {
    let spec = Conv2dSpec::square(channels, kernel)
        .with_stride(stride)
        .with_groups(groups)
        .with_zero_padding(kernel / 2);
    Ok(file.conv2d(name, &spec, device)?)
}

/// SSH context module: a 3×3 branch and 5×5- and 7×7-like branches made of stacked 3×3
/// convolutions, concatenated and rectified.
#[derive(Module, Debug)]
struct Ssh<B: Backend> {
    conv3x3: Conv2d<B>,
    conv5x5_1: Conv2d<B>,
    conv5x5_2: Conv2d<B>,
    conv7x7_2: Conv2d<B>,
    conv7x7_3: Conv2d<B>,
}

impl<B: Backend> Ssh<B> {
    fn load(file: &SafetensorsFile, name: &str, device: &B::Device) -> Result<Self> {
        let c =
            |part: &str, channels| conv(file, &format!("{name}.{part}"), channels, 3, 1, 1, device);
        Ok(Self {
            conv3x3: c("conv3x3", [FPN, FPN / 2])?,
            conv5x5_1: c("conv5x5_1", [FPN, FPN / 4])?,
            conv5x5_2: c("conv5x5_2", [FPN / 4, FPN / 4])?,
            conv7x7_2: c("conv7x7_2", [FPN / 4, FPN / 4])?,
            conv7x7_3: c("conv7x7_3", [FPN / 4, FPN / 4])?,
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self.conv3x3.forward(x.clone());
        let b5_1 = leaky_relu(self.conv5x5_1.forward(x), LEAKY);
        let b5 = self.conv5x5_2.forward(b5_1.clone());
        let b7_2 = leaky_relu(self.conv7x7_2.forward(b5_1), LEAKY);
        let b7 = self.conv7x7_3.forward(b7_2);
        relu(Tensor::cat(vec![b3, b5, b7], 1))
    }
}

/// RetinaFace's raw outputs for a `[N, 3, H, W]` input, one row per anchor (see
/// [`super::priors`] for their order).
#[derive(Debug, Clone)]
pub struct RetinaFaceOutput<B: Backend> {
    /// Box offsets `[N, A, 4]` (centre x, y, log-width, log-height, before the variances).
    pub loc: Tensor<B, 3>,
    /// Softmax over (background, face) `[N, A, 2]`.
    pub conf: Tensor<B, 3>,
    /// Landmark offsets `[N, A, 10]`, five `(x, y)` pairs.
    pub landmarks: Tensor<B, 3>,
}

/// RetinaFace MobileNet-0.25.
#[derive(Module, Debug)]
pub struct RetinaFaceNet<B: Backend> {
    stem: Conv2d<B>,
    depthwise: Vec<Conv2d<B>>,
    pointwise: Vec<Conv2d<B>>,
    fpn_outputs: Vec<Conv2d<B>>,
    fpn_merges: Vec<Conv2d<B>>,
    ssh: Vec<Ssh<B>>,
    class_heads: Vec<Conv2d<B>>,
    bbox_heads: Vec<Conv2d<B>>,
    landmark_heads: Vec<Conv2d<B>>,
}

impl<B: Backend> RetinaFaceNet<B> {
    /// Builds the network from a weights file in the layout written by
    /// `scripts/reference/retinaface_convert.py`.
    pub fn from_weights(file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let stem = conv(file, "backbone.0", [3, 8], 3, 2, 1, device)?;
        let mut depthwise = Vec::new();
        let mut pointwise = Vec::new();
        for (i, &(c_in, c_out, stride)) in DEPTHWISE_PAIRS.iter().enumerate() {
            let dw = format!("backbone.{}", 2 * i + 1);
            let pw = format!("backbone.{}", 2 * i + 2);
            depthwise.push(conv(file, &dw, [c_in, c_in], 3, stride, c_in, device)?);
            pointwise.push(conv(file, &pw, [c_in, c_out], 1, 1, 1, device)?);
        }
        let levels = 1..=3;
        let fpn_outputs = levels
            .clone()
            .zip(STAGE_ENDS)
            .map(|(l, end)| {
                let c_in = DEPTHWISE_PAIRS[end].1;
                conv(
                    file,
                    &format!("fpn.output{l}"),
                    [c_in, FPN],
                    1,
                    1,
                    1,
                    device,
                )
            })
            .collect::<Result<_>>()?;
        let fpn_merges = (1..=2)
            .map(|l| conv(file, &format!("fpn.merge{l}"), [FPN, FPN], 3, 1, 1, device))
            .collect::<Result<_>>()?;
        let ssh = levels
            .clone()
            .map(|l| Ssh::load(file, &format!("ssh{l}"), device))
            .collect::<Result<_>>()?;
        let heads = |name: &str, per_anchor: usize| -> Result<Vec<Conv2d<B>>> {
            (0..3)
                .map(|l| {
                    let channels = [FPN, ANCHORS_PER_CELL * per_anchor];
                    conv(file, &format!("{name}.{l}"), channels, 1, 1, 1, device)
                })
                .collect()
        };
        Ok(Self {
            stem,
            depthwise,
            pointwise,
            fpn_outputs,
            fpn_merges,
            ssh,
            class_heads: heads("class_head", 2)?,
            bbox_heads: heads("bbox_head", 4)?,
            landmark_heads: heads("landmark_head", 10)?,
        })
    }

    /// Runs the network on `[N, 3, H, W]` BGR images with the means (104, 117, 123)
    /// subtracted, values in 8-bit units.
    pub fn forward(&self, x: Tensor<B, 4>) -> RetinaFaceOutput<B> {
        let mut x = leaky_relu(self.stem.forward(x), LEAKY);
        let mut stages = Vec::with_capacity(3);
        for (i, (dw, pw)) in self.depthwise.iter().zip(&self.pointwise).enumerate() {
            x = leaky_relu(dw.forward(x), LEAKY);
            x = leaky_relu(pw.forward(x), LEAKY);
            if STAGE_ENDS.contains(&i) {
                stages.push(x.clone());
            }
        }
        let [o1, o2, o3]: [Tensor<B, 4>; 3] = stages
            .into_iter()
            .zip(&self.fpn_outputs)
            .map(|(s, c)| leaky_relu(c.forward(s), LEAKY))
            .collect::<Vec<_>>()
            .try_into()
            .expect("three stages");
        let o2 = o2.clone() + upsample_nearest_like(o3.clone(), &o2);
        let o2 = leaky_relu(self.fpn_merges[1].forward(o2), LEAKY);
        let o1 = o1.clone() + upsample_nearest_like(o2.clone(), &o1);
        let o1 = leaky_relu(self.fpn_merges[0].forward(o1), LEAKY);
        let features: Vec<Tensor<B, 4>> = [o1, o2, o3]
            .into_iter()
            .zip(&self.ssh)
            .map(|(f, ssh)| ssh.forward(f))
            .collect();
        let head = |convs: &[Conv2d<B>], per_anchor: usize| {
            let parts = features
                .iter()
                .zip(convs)
                .map(|(f, c)| {
                    let y = c.forward(f.clone()).permute([0, 2, 3, 1]);
                    let n = y.dims()[0];
                    y.reshape([n as i32, -1, per_anchor as i32])
                })
                .collect();
            Tensor::cat(parts, 1)
        };
        RetinaFaceOutput {
            loc: head(&self.bbox_heads, 4),
            conf: softmax(head(&self.class_heads, 2), 2),
            landmarks: head(&self.landmark_heads, 10),
        }
    }
}

/// Nearest-neighbour resize of `x` to the height and width of `like`, as PyTorch's
/// `F.interpolate(mode="nearest")`: output row `i` reads input row `⌊i · in / out⌋`.
fn upsample_nearest_like<B: Backend>(x: Tensor<B, 4>, like: &Tensor<B, 4>) -> Tensor<B, 4> {
    let [_, _, h_in, w_in] = x.dims();
    let [_, _, h_out, w_out] = like.dims();
    let device = x.device();
    let index = |n_in: usize, n_out: usize| {
        let rows: Vec<i64> = (0..n_out).map(|i| (i * n_in / n_out) as i64).collect();
        Tensor::<B, 1, Int>::from_data(rows.as_slice(), &device)
    };
    x.select(2, index(h_in, h_out))
        .select(3, index(w_in, w_out))
}
