//! The two LPIPS backbones and their layer plans: torchvision's `alexnet().features` and
//! `vgg16().features`, with the taps LPIPS 0.1 reads (the ReLU after each stage).

use std::str::FromStr;

use crate::error::UnknownName;

/// Which LPIPS variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LpipsNet {
    /// AlexNet backbone (the variant LPIPS recommends and most papers report).
    Alex,
    /// VGG16 backbone.
    Vgg,
}

impl FromStr for LpipsNet {
    type Err = UnknownName;

    /// `alex` or `vgg`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "alex" => Ok(LpipsNet::Alex),
            "vgg" => Ok(LpipsNet::Vgg),
            _ => Err(UnknownName {
                what: "LPIPS network",
                given: s.to_owned(),
                expected: "alex or vgg".to_owned(),
            }),
        }
    }
}

/// One step of a backbone's `features` sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `features.{index}`: a convolution followed by ReLU.
    Conv {
        /// Index in torchvision's `features` (the state-dict key).
        index: usize,
        /// Input channels.
        c_in: usize,
        /// Output channels.
        c_out: usize,
        /// Square kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// Max pooling (square kernel, stride, no padding, floor mode).
    MaxPool {
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// LPIPS reads the current activation here.
    Tap,
}

const fn conv(
    index: usize,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Step {
    Step::Conv {
        index,
        c_in,
        c_out,
        kernel,
        stride,
        padding,
    }
}

const fn c3(index: usize, c_in: usize, c_out: usize) -> Step {
    conv(index, c_in, c_out, 3, 1, 1)
}

const ALEX: &[Step] = &[
    conv(0, 3, 64, 11, 4, 2),
    Step::Tap,
    Step::MaxPool {
        kernel: 3,
        stride: 2,
    },
    conv(3, 64, 192, 5, 1, 2),
    Step::Tap,
    Step::MaxPool {
        kernel: 3,
        stride: 2,
    },
    c3(6, 192, 384),
    Step::Tap,
    c3(8, 384, 256),
    Step::Tap,
    c3(10, 256, 256),
    Step::Tap,
];

const VGG: &[Step] = &[
    c3(0, 3, 64),
    c3(2, 64, 64),
    Step::Tap,
    Step::MaxPool {
        kernel: 2,
        stride: 2,
    },
    c3(5, 64, 128),
    c3(7, 128, 128),
    Step::Tap,
    Step::MaxPool {
        kernel: 2,
        stride: 2,
    },
    c3(10, 128, 256),
    c3(12, 256, 256),
    c3(14, 256, 256),
    Step::Tap,
    Step::MaxPool {
        kernel: 2,
        stride: 2,
    },
    c3(17, 256, 512),
    c3(19, 512, 512),
    c3(21, 512, 512),
    Step::Tap,
    Step::MaxPool {
        kernel: 2,
        stride: 2,
    },
    c3(24, 512, 512),
    c3(26, 512, 512),
    c3(28, 512, 512),
    Step::Tap,
];

impl LpipsNet {
    /// The backbone's steps in order.
    pub fn plan(self) -> &'static [Step] {
        match self {
            LpipsNet::Alex => ALEX,
            LpipsNet::Vgg => VGG,
        }
    }

    /// Channels at the five taps.
    pub fn tap_channels(self) -> [usize; 5] {
        match self {
            LpipsNet::Alex => [64, 192, 384, 256, 256],
            LpipsNet::Vgg => [64, 128, 256, 512, 512],
        }
    }

    /// The name LPIPS and the file names use (`alex`, `vgg`).
    pub fn name(self) -> &'static str {
        match self {
            LpipsNet::Alex => "alex",
            LpipsNet::Vgg => "vgg",
        }
    }

    /// The linear heads of lpips 0.1.4 (`lpips/weights/v0.1/{alex,vgg}.pth`, BSD-2-Clause),
    /// converted to safetensors by `scripts/convert_eval_weights.py`.
    pub fn heads(self) -> &'static [u8] {
        match self {
            LpipsNet::Alex => include_bytes!("../../data/lpips_alex_heads.safetensors"),
            LpipsNet::Vgg => include_bytes!("../../data/lpips_vgg_heads.safetensors"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_parse_in_any_case() {
        assert_eq!("alex".parse(), Ok(LpipsNet::Alex));
        assert_eq!("VGG".parse(), Ok(LpipsNet::Vgg));
        assert_eq!(
            "squeeze".parse::<LpipsNet>().unwrap_err().to_string(),
            "unknown LPIPS network `squeeze` (alex or vgg)"
        );
    }
}
