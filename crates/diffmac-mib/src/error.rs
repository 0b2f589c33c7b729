//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while building or running the bottleneck.
#[derive(Debug, thiserror::Error)]
pub enum MibError {
    /// A statistics file could not be written.
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
    /// A statistics file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A statistics file is not valid JSON of the expected form.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// Statistics or settings that cannot be used (wrong channel count, no images...).
    #[error("invalid MIB setup: {0}")]
    Invalid(String),
    /// Inputs whose shapes or kinds do not fit the bottleneck.
    #[error("invalid MIB input: {0}")]
    InvalidInput(String),
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, MibError>;
