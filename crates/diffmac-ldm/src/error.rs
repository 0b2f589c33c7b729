//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading configs and weights or running a model.
///
/// Variants about a file carry its path, and variants about a tensor carry its key, so a
/// message names what to look at.
#[derive(Debug, thiserror::Error)]
pub enum LdmError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `config.json` is not valid JSON or does not have the expected fields.
    #[error("{path}: invalid config: {source}")]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A config asks for something this port does not implement (e.g. another block type).
    #[error("{path}: unsupported config: {message}")]
    UnsupportedConfig {
        /// The config file (or `<in memory>`).
        path: PathBuf,
        /// What is not supported.
        message: String,
    },
    /// A weight file could not be read or is malformed, or a tensor of it has an element
    /// type that cannot become float weights (the message names the file and the tensor).
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
    /// The model needs a tensor that the file does not have.
    #[error("{path}: missing tensor `{key}` (expected shape {expected:?})")]
    MissingKey {
        /// The weights file.
        path: PathBuf,
        /// The key that the model needs.
        key: String,
        /// The shape the model expects.
        expected: Vec<usize>,
    },
    /// The file has tensors that the model does not use (usually a config that does not
    /// match the weights).
    #[error("{path}: {count} unexpected tensor(s) that the model does not use, e.g. {}", .keys.join(", "))]
    UnexpectedKeys {
        /// The weights file.
        path: PathBuf,
        /// How many keys were not used.
        count: usize,
        /// The first few of them, sorted.
        keys: Vec<String>,
    },
    /// A tensor has another shape than the config implies.
    #[error("{path}: tensor `{key}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// The weights file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A model input has the wrong shape for the loaded model.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, LdmError>;
