//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running an identity encoder.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    /// A weight file could not be read, is not valid safetensors (or a PyTorch state dict), or
    /// one of its tensors is missing or has the wrong dtype or shape (the message names the
    /// file and the key).
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
    /// A converted dlib weight file lacks its architecture metadata, or the architecture is
    /// not one this crate runs.
    #[error("{}: dlib architecture: {problem}", path.display())]
    Architecture {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// An identity-encoder kind that [`crate::network::load_identity_encoder`] does not know.
    #[error(
        "unknown identity encoder kind `{0}` (known: `arcface_iresnet`, `dlib_resnet_v1`, `auto`)"
    )]
    UnknownKind(String),
    /// A tensor handed to the encoder has the wrong shape.
    #[error("shape: {0}")]
    Shape(String),
}

/// Result with [`IdError`].
pub type Result<T> = std::result::Result<T, IdError>;
