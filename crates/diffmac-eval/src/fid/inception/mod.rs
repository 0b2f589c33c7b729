//! pytorch-fid's FID Inception-v3 up to the 2048-D pool3 features, on Burn and generic over
//! the backend: torchvision's Inception-v3 with pytorch-fid's `FIDInceptionA/C/E_1/E_2` blocks
//! (average pools that do not count padding, max pool in the last block), inputs in [0, 1]
//! resized to 299×299 (bilinear, `align_corners=False`, [`resize_bilinear`]) and mapped to
//! [-1, 1]. Weights: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` converted to
//! safetensors (`scripts/convert_eval_weights.py --pytorch-fid-inception`), torchvision key
//! names (`Mixed_5b.branch1x1.conv.weight`, `....bn.running_var`, ...). Each BatchNorm
//! (ε = 0.001) is folded into its convolution at load time.
//!
//! - this file: the network and its loader;
//! - `blocks`: its layers;
//! - `preprocess`: the image → input resize ([`resize_bilinear`]);
//! - `hashed`: the test-weight generator ([`InceptionV3::hashed`]).

mod blocks;
mod hashed;
mod preprocess;

pub use hashed::fnv1a32;
pub use preprocess::{INCEPTION_SIZE, resize_bilinear};

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use diffmac_io::SafetensorsFile;

use crate::error::{EvalError, Result};
use crate::image::Image255;
use blocks::{Basic, BlockA, BlockB, BlockC, BlockD, BlockE, Fetch, Loader, max3};

/// Length of a pool3 feature vector.
pub const POOL3_DIM: usize = 2048;

/// The FID Inception-v3 feature extractor (pool3), a Burn module: it moves between devices
/// (`to_device`), counts its parameters (`num_params`) and saves through Burn's recorders.
/// Its parameters are the folded convolutions (weight and bias per `BasicConv2d`).
#[derive(Module, Debug)]
pub struct InceptionV3<B: Backend> {
    stem: Vec<Basic<B>>,
    mixed_5: [BlockA<B>; 3],
    mixed_6a: BlockB<B>,
    mixed_6: [BlockC<B>; 4],
    mixed_7a: BlockD<B>,
    mixed_7b: BlockE<B>,
    mixed_7c: BlockE<B>,
}

impl<B: Backend> InceptionV3<B> {
    /// Loads the converted pytorch-fid weights from a safetensors file.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        let file = SafetensorsFile::open(path)?;
        Self::build(&|name, shape| Ok(file.f32_values(name, shape)?), device)
    }

    /// The network with every tensor taken from `fetch` by its torchvision key.
    fn build(fetch: &Fetch<'_>, device: &B::Device) -> Result<Self> {
        let l = Loader { fetch, device };
        Ok(Self {
            stem: vec![
                l.sq("Conv2d_1a_3x3", [3, 32], 3, 2, 0)?,
                l.sq("Conv2d_2a_3x3", [32, 32], 3, 1, 0)?,
                l.sq("Conv2d_2b_3x3", [32, 64], 3, 1, 1)?,
                l.sq("Conv2d_3b_1x1", [64, 80], 1, 1, 0)?,
                l.sq("Conv2d_4a_3x3", [80, 192], 3, 1, 0)?,
            ],
            mixed_5: [
                BlockA::load(&l, "Mixed_5b", 192, 32)?,
                BlockA::load(&l, "Mixed_5c", 256, 64)?,
                BlockA::load(&l, "Mixed_5d", 288, 64)?,
            ],
            mixed_6a: BlockB::load(&l, "Mixed_6a", 288)?,
            mixed_6: [
                BlockC::load(&l, "Mixed_6b", 128)?,
                BlockC::load(&l, "Mixed_6c", 160)?,
                BlockC::load(&l, "Mixed_6d", 160)?,
                BlockC::load(&l, "Mixed_6e", 192)?,
            ],
            mixed_7a: BlockD::load(&l, "Mixed_7a")?,
            mixed_7b: BlockE::load(&l, "Mixed_7b", 1280, false)?,
            mixed_7c: BlockE::load(&l, "Mixed_7c", 2048, true)?,
        })
    }

    /// pool3 features of `[N, 3, 299, 299]` images in [-1, 1] → `[N, 2048]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self.stem[0].forward(x);
        x = self.stem[1].forward(x);
        x = self.stem[2].forward(x);
        x = max3(2, 0).forward(x);
        x = self.stem[3].forward(x);
        x = self.stem[4].forward(x);
        x = max3(2, 0).forward(x);
        for block in &self.mixed_5 {
            x = block.forward(x);
        }
        x = self.mixed_6a.forward(x);
        for block in &self.mixed_6 {
            x = block.forward(x);
        }
        x = self.mixed_7a.forward(x);
        x = self.mixed_7b.forward(x);
        x = self.mixed_7c.forward(x);
        let [n, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// pool3 features of one RGB image (0–255): `/255`, [`resize_bilinear`] to 299, `2x − 1`.
    pub fn features(&self, image: &Image255, device: &B::Device) -> Result<Vec<f32>> {
        let input = resize_bilinear(image, INCEPTION_SIZE, INCEPTION_SIZE)?;
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(input, [1, 3, INCEPTION_SIZE, INCEPTION_SIZE]),
            device,
        );
        self.forward(x)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| EvalError::Undefined {
                metric: "FID",
                reason: format!("{e:?}"),
            })
    }
}
