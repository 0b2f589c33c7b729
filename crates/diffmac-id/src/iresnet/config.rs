//! Shape of an IResNet: depths and widths of its four stages, embedding size and input size.

use diffmac_io::SafetensorsFile;

use crate::error::Result;

/// The hyper-parameters of an insightface `arcface_torch` IResNet.
///
/// The published models use a 64-channel stem, stage widths 64, 128, 256, 512, 112×112 input
/// and 512-D embeddings; only the depths differ ([`IResNetConfig::iresnet50`],
/// [`IResNetConfig::iresnet100`]). Smaller values are for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IResNetConfig {
    /// Number of IBasicBlocks in each of the four stages.
    pub layers: [usize; 4],
    /// Output channels of each stage.
    pub widths: [usize; 4],
    /// Output channels of the stem convolution.
    pub stem: usize,
    /// Embedding size D (the `fc` output and the `features` BatchNorm1d).
    pub num_features: usize,
    /// Side of the square input; a multiple of 16 (each stage halves the resolution).
    pub input_size: usize,
}

impl IResNetConfig {
    fn published(layers: [usize; 4]) -> Self {
        Self {
            layers,
            widths: [64, 128, 256, 512],
            stem: 64,
            num_features: 512,
            input_size: 112,
        }
    }

    /// IResNet-50: stages of 3, 4, 14 and 3 blocks.
    pub fn iresnet50() -> Self {
        Self::published([3, 4, 14, 3])
    }

    /// IResNet-100: stages of 3, 13, 30 and 3 blocks.
    pub fn iresnet100() -> Self {
        Self::published([3, 13, 30, 3])
    }

    /// Side of the last feature map, `input_size / 16`.
    pub fn final_side(&self) -> usize {
        self.input_size / 16
    }

    /// Input features of the `fc` layer: last width × final side².
    pub fn fc_inputs(&self) -> usize {
        self.widths[3] * self.final_side() * self.final_side()
    }

    /// Number of trainable parameters of the PyTorch module (convolutions, BatchNorm affine
    /// weights, PReLU slopes, `fc`), without BatchNorm running statistics.
    pub fn num_parameters(&self) -> usize {
        let bn = |c: usize| 2 * c;
        let mut total = 3 * self.stem * 9 + bn(self.stem) + self.stem;
        let mut c_in = self.stem;
        for (&n, &w) in self.layers.iter().zip(&self.widths) {
            for i in 0..n {
                let c = if i == 0 { c_in } else { w };
                total += bn(c) + c * w * 9 + bn(w) + w + w * w * 9 + bn(w);
                if i == 0 {
                    total += c * w + bn(w);
                }
            }
            c_in = w;
        }
        total
            + bn(c_in)
            + self.fc_inputs() * self.num_features
            + self.num_features
            + bn(self.num_features)
    }

    /// Reads the configuration off a state dict in insightface's key layout: the number of
    /// blocks per stage from the `layer{s}.{i}.bn1.weight` keys, widths from the convolution
    /// shapes, D from `features.weight` and the input size from `fc.weight`.
    pub fn infer(weights: &SafetensorsFile) -> Result<Self> {
        let shape = |name: &str| {
            weights
                .shape(name)
                .ok_or_else(|| weights.tensor_error(name, "missing"))
        };
        let stem = shape("conv1.weight")?[0];
        let mut layers = [0; 4];
        let mut widths = [0; 4];
        for s in 0..4 {
            while weights
                .shape(&format!("layer{}.{}.bn1.weight", s + 1, layers[s]))
                .is_some()
            {
                layers[s] += 1;
            }
            if layers[s] == 0 {
                let name = format!("layer{}.0.bn1.weight", s + 1);
                return Err(weights.tensor_error(&name, "missing").into());
            }
            widths[s] = shape(&format!("layer{}.0.conv1.weight", s + 1))?[0];
        }
        let fc = shape("fc.weight")?;
        let num_features = fc[0];
        let cells = fc[1] / widths[3];
        let side = (cells as f64).sqrt().round() as usize;
        if side * side * widths[3] != fc[1] {
            return Err(weights
                .tensor_error(
                    "fc.weight",
                    format!(
                        "{} inputs is not {} channels times a square feature map",
                        fc[1], widths[3]
                    ),
                )
                .into());
        }
        Ok(Self {
            layers,
            widths,
            stem,
            num_features,
            input_size: side * 16,
        })
    }
}
