//! The shape of a converted dlib ResNet, as `scripts/reference/dlib_convert.py` records it in
//! the safetensors metadata (`dlib_architecture`).

use diffmac_io::SafetensorsFile;
use serde::{Deserialize, Serialize};

use crate::error::{IdError, Result};

/// The metadata key holding the architecture as JSON.
pub const ARCHITECTURE_KEY: &str = "dlib_architecture";

/// The `format` value this crate reads.
pub const FORMAT: &str = "diffmac-dlib-resnet-1";

/// The stem convolution (7×7, stride 2, no padding in dlib's network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StemConfig {
    /// Output channels of the stem convolution.
    pub channels: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
}

/// The max pool after the stem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Square window side.
    pub size: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Padding on every side.
    pub padding: usize,
}

/// One residual block: `conv1 (stride) → affine1 → relu → conv2 → affine2`, plus the shortcut
/// (the input, or its 2×2 stride-2 average pool when `stride` is 2), then relu.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlibBlockConfig {
    /// Output channels of both convolutions.
    pub channels: usize,
    /// Stride of `conv1` (1, or 2 for a down-sampling block).
    pub stride: usize,
    /// Zero padding of `conv1` (dlib: 1 for stride 1, 0 for stride 2).
    pub padding1: usize,
    /// Zero padding of `conv2`.
    pub padding2: usize,
    /// `identity` or `avg_pool_2x2_stride2`; must agree with `stride`.
    pub shortcut: String,
}

/// The whole network's shape and input scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlibArchitecture {
    /// Always [`FORMAT`].
    pub format: String,
    /// Side of the square input chip (150).
    pub input_size: usize,
    /// Per-channel mean subtracted from 0..255 RGB pixels (dlib: 122.782, 117.001, 104.298).
    pub input_mean_rgb: [f32; 3],
    /// What the centred pixels are divided by (dlib: 256).
    pub input_divisor: f32,
    /// The 7×7 stride-2 stem convolution.
    pub stem: StemConfig,
    /// The max pool after the stem.
    pub max_pool: PoolConfig,
    /// Residual blocks, input to output.
    pub blocks: Vec<DlibBlockConfig>,
    /// Descriptor length (128).
    pub embedding_dim: usize,
    /// Margin of dlib's metric loss in training (informational).
    pub margin: f64,
    /// Euclidean distance under which dlib calls two descriptors the same person (0.6).
    pub distance_threshold: f64,
}

impl DlibArchitecture {
    /// Reads and checks the architecture stored in the metadata of a weight file.
    pub fn from_file(file: &SafetensorsFile) -> Result<Self> {
        let bad = |problem: String| IdError::Architecture {
            path: file.path().to_owned(),
            problem,
        };
        let json = file.metadata(ARCHITECTURE_KEY).ok_or_else(|| {
            bad(format!(
                "no `{ARCHITECTURE_KEY}` metadata: not written by \
                     scripts/reference/dlib_convert.py"
            ))
        })?;
        let arch: Self = serde_json::from_str(json)
            .map_err(|e| bad(format!("`{ARCHITECTURE_KEY}` metadata: {e}")))?;
        arch.validate().map_err(bad)?;
        Ok(arch)
    }

    /// Checks the values this port relies on; returns the first problem.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format `{}`, expected `{FORMAT}`", self.format));
        }
        if self.input_size == 0 || self.embedding_dim == 0 || self.blocks.is_empty() {
            return Err("input size, embedding size and block list must be non-empty".into());
        }
        if !(self.input_divisor.is_finite() && self.input_divisor > 0.0) {
            return Err(format!("input divisor {}", self.input_divisor));
        }
        let s = &self.stem;
        let p = &self.max_pool;
        if s.kernel == 0 || s.stride == 0 || s.channels == 0 || p.size == 0 || p.stride == 0 {
            return Err("stem and max pool sizes and strides must be positive".into());
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let expected = match b.stride {
                1 => "identity",
                2 => "avg_pool_2x2_stride2",
                other => return Err(format!("block {i}: stride {other}, expected 1 or 2")),
            };
            if b.shortcut != expected || b.channels == 0 {
                return Err(format!(
                    "block {i}: shortcut `{}` with stride {} and {} channels",
                    b.shortcut, b.stride, b.channels
                ));
            }
        }
        // The feature map must not vanish before the last block.
        let mut side = self.input_size + 2 * s.padding;
        side = side
            .checked_sub(s.kernel)
            .ok_or("input smaller than the stem")?
            / s.stride
            + 1;
        side = (side + 2 * p.padding)
            .checked_sub(p.size)
            .ok_or("feature map smaller than the max pool")?
            / p.stride
            + 1;
        for (i, b) in self.blocks.iter().enumerate() {
            side = (side + 2 * b.padding1)
                .checked_sub(3)
                .ok_or_else(|| format!("feature map vanishes in block {i}"))?
                / b.stride
                + 1;
        }
        Ok(())
    }
}
