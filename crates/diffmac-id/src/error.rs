//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running an identity encoder.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    /// A weight file could not be read from disk.
    #[error("{path}: cannot read weights: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A weight file is not valid safetensors.
    #[error("{path}: not a safetensors file: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A tensor of a weight file is missing or has the wrong dtype or shape.
    #[error("{path}: tensor `{name}`: {problem}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor handed to the encoder has the wrong shape.
    #[error("shape: {0}")]
    Shape(String),
}

/// Result with [`IdError`].
pub type Result<T> = std::result::Result<T, IdError>;
