//! The one error type of this crate. Every variant that concerns a file names it, so a batch
//! tool can print the error as it is and the user knows which file and what went wrong.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading or writing an image or a weight file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A path does not lead to what was asked for (a checkpoint through a `latest` pointer).
    #[error("{}: {what}", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
        /// What it is not, or what is missing.
        what: String,
    },
    /// The file's bytes are not in any image format this build can read.
    #[error("{}: not an image (unknown or unsupported file format)", path.display())]
    NotAnImage {
        /// The file concerned.
        path: PathBuf,
    },
    /// The file looks like an image but could not be decoded (truncated or corrupt).
    #[error("{}: cannot decode image: {source}", path.display())]
    Decode {
        /// The file concerned.
        path: PathBuf,
        /// The decoder's description of the problem.
        source: image::ImageError,
    },
    /// The image could not be encoded in the format its file name asks for.
    #[error("{}: cannot encode image: {source}", path.display())]
    Encode {
        /// The file concerned.
        path: PathBuf,
        /// The encoder's description of the problem.
        source: image::ImageError,
    },
    /// The file ends before the image data does.
    #[error("{}: truncated image (the file ends before the image data does)", path.display())]
    Truncated {
        /// The file concerned.
        path: PathBuf,
    },
    /// The file is bigger than any image within the pixel limit can be.
    #[error(
        "{}: file is {bytes} bytes, more than an image within the pixel limit can need ({max_bytes}); raise --max-pixels to accept it",
        path.display()
    )]
    FileTooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
        /// The largest size accepted.
        max_bytes: u64,
    },
    /// The image has more pixels than the configured limit allows.
    #[error(
        "{}: image is {width}x{height} = {} pixels, over the limit of {max_pixels} (raise --max-pixels to accept it)",
        path.display(), u64::from(*width) * u64::from(*height)
    )]
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// The limit in force.
        max_pixels: u64,
    },
    /// The image is smaller than the size the caller asked for.
    #[error(
        "{}: image is {width}x{height}, smaller than the target size {min_side}x{min_side}; an up-scaled image is no high-quality face",
        path.display()
    )]
    TooSmall {
        /// The file concerned.
        path: PathBuf,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// The smallest accepted side length.
        min_side: u32,
    },
    /// An output file already exists and overwriting was not allowed.
    #[error("{}: already exists; refusing to overwrite it (pass --overwrite to replace it)", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Two inputs would be written to the same output file.
    #[error("{}: output name {} is already taken by {}", path.display(), output.display(), other.display())]
    OutputClash {
        /// The input that lost the name.
        path: PathBuf,
        /// The output both inputs map to.
        output: PathBuf,
        /// The input that keeps the name.
        other: PathBuf,
    },
    /// Writing into the input folder was requested; inputs are never put at risk.
    #[error("output folder {} is the folder of the inputs; choose another one", path.display())]
    OutputIsInputFolder {
        /// The folder concerned.
        path: PathBuf,
    },
    /// Encoding an in-memory image (a PNG being written) failed.
    #[error("image codec error: {0}")]
    Codec(#[from] image::ImageError),
    /// A tensor or image batch did not have the shape the conversion needs.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The file is not a complete, well-formed safetensors file (truncated, bad header, ...).
    #[error("{}: not a valid safetensors file: {message}", path.display())]
    Safetensors {
        /// The weights file (`<built-in>/...` for weights compiled into a crate).
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A weight file lacks a tensor that was asked for.
    #[error("{}: missing tensor `{key}`", path.display())]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
    },
    /// A tensor has another shape or element type than the reader asked for.
    #[error("{}: tensor `{key}`: {problem}", path.display())]
    TensorMismatch {
        /// The weights file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// What differs.
        problem: String,
    },
    /// A float tensor holds a NaN or an infinity: every output computed with it would too.
    #[error("{}: tensor `{key}` holds a non-finite value (NaN or infinity) at index {index}", path.display())]
    NonFinite {
        /// The weights file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// The flat index of the first such value.
        index: usize,
    },
    /// A tensor is stored in an element type that cannot become float weights (or be saved).
    #[error("{}: tensor `{key}` has unsupported dtype {dtype}", path.display())]
    UnsupportedDtype {
        /// The weights file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// The safetensors dtype name.
        dtype: String,
    },
    /// A PyTorch `.pth` file that is not a readable state dict.
    #[error("{}: not a usable PyTorch state dict: {problem}", path.display())]
    Pth {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl IoError {
    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Io { path, .. }
            | Self::NotAnImage { path }
            | Self::NotFound { path, .. }
            | Self::Decode { path, .. }
            | Self::Encode { path, .. }
            | Self::Truncated { path }
            | Self::TooLarge { path, .. }
            | Self::FileTooLarge { path, .. }
            | Self::TooSmall { path, .. }
            | Self::OutputExists { path }
            | Self::OutputClash { path, .. }
            | Self::OutputIsInputFolder { path }
            | Self::Safetensors { path, .. }
            | Self::MissingTensor { path, .. }
            | Self::TensorMismatch { path, .. }
            | Self::NonFinite { path, .. }
            | Self::UnsupportedDtype { path, .. }
            | Self::Pth { path, .. } => Some(path),
            Self::Codec(_) | Self::Shape(_) => None,
        }
    }

    /// An [`IoError::Io`] naming `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
