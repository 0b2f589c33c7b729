//! The float precision of a model's weights and activations, as configs and tool flags name it.

use std::fmt;
use std::str::FromStr;

use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

/// Working precision of the models' weights and activations: one type for the trainer's
/// config (`"precision": "bf16"`) and every tool's `--precision` flag, so the names and their
/// dtypes cannot drift apart. Its `Debug` form (`F32`, `F16`, `Bf16`) is what the tools print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// 32-bit floats (the CPU default).
    #[default]
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16 (what the authors' PyTorch autocast would use on a 24 GB GPU).
    Bf16,
}

impl Precision {
    /// Every precision, in the order the tools list them.
    pub const ALL: [Self; 3] = [Self::F32, Self::F16, Self::Bf16];

    /// The Burn dtype.
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F32 => FloatDType::F32,
            Self::F16 => FloatDType::F16,
            Self::Bf16 => FloatDType::BF16,
        }
    }

    /// The name configs and flags use: `f32`, `f16` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    /// `f32`, `f16` or `bf16`, as in configs and `--precision`.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown precision {s:?}: use f32, f16 or bf16"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_config_names_and_dtypes_agree() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>(), Ok(p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::from(p.name())
            );
        }
        assert_eq!(Precision::Bf16.dtype(), FloatDType::BF16);
        assert_eq!(Precision::default(), Precision::F32);
        let err = "f64".parse::<Precision>().unwrap_err();
        assert!(err.contains("\"f64\"") && err.contains("bf16"), "{err}");
    }
}
