//! The one error type of this crate. Variants about a file name it.

/// Everything that can go wrong while detecting, aligning or pasting faces.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// Reading or writing an image or a weight file failed (the message names the file, and
    /// the tensor where there is one).
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
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
