//! The one error type of this crate. Variants about a file name it.

use std::path::PathBuf;

/// Everything that can go wrong while detecting, aligning or pasting faces.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A weights file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A weights file is not valid safetensors.
    #[error("{}: not a valid safetensors file: {message}", path.display())]
    Safetensors {
        /// The file concerned (`<built-in>/...` for the weights compiled into the crate).
        path: PathBuf,
        /// The parser's description of the problem.
        message: String,
    },
    /// A weights file lacks a tensor, or holds one of the wrong shape or type.
    #[error("{}: tensor `{name}`: {problem}", path.display())]
    Weights {
        /// The file concerned.
        path: PathBuf,
        /// The tensor concerned.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An image file could not be decoded or encoded.
    #[error("{}: {source}", path.display())]
    Decode {
        /// The file concerned.
        path: PathBuf,
        /// The image library's description of the problem.
        source: image::ImageError,
    },
    /// Loading or writing an image failed (the message names the file).
    #[error(transparent)]
    Image(#[from] diffmac_degrade::DegradeError),
    /// A configuration value is out of its valid range.
    #[error("invalid face config: {0}")]
    InvalidConfig(String),
    /// Arguments do not fit together (sizes, counts).
    #[error("{0}")]
    Shape(String),
    /// The landmarks do not determine a similarity transform (all points coincide).
    #[error("degenerate landmarks: {0}")]
    DegenerateLandmarks(String),
}

/// Result type of this crate.
pub type Result<T, E = FaceError> = std::result::Result<T, E>;
