//! The one error type of this crate. Every variant that concerns a file names it, so a batch
//! tool can print the error as it is and the user knows which file and what went wrong.

use std::path::{Path, PathBuf};

use diffmac_io::IoError;
/// Everything that can go wrong while degrading images.
#[derive(Debug, thiserror::Error)]
pub enum DegradeError {
    /// Reading an input or writing an output failed (the message names the file).
    #[error(transparent)]
    File(#[from] IoError),
    /// A configuration value is out of its valid range.
    #[error("invalid degradation config: {0}")]
    InvalidConfig(String),
    /// A configuration file could not be parsed.
    #[error("{}: invalid degradation config: {source}", path.display())]
    ConfigFile {
        /// The file concerned.
        path: PathBuf,
        /// The parser's description of the problem.
        source: serde_json::Error,
    },
    /// The JPEG stage could not encode the image (empty, or sides over 65,535 pixels).
    #[error("JPEG stage: {0}")]
    Jpeg(String),
    /// Encoding or decoding an in-memory image (the JPEG round trip, a PNG being written) failed.
    #[error("image codec error: {0}")]
    Codec(#[from] image::ImageError),
}

impl DegradeError {
    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(e) => e.path(),
            Self::ConfigFile { path, .. } => Some(path),
            Self::InvalidConfig(_) | Self::Jpeg(_) | Self::Codec(_) => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DegradeError> = std::result::Result<T, E>;
