//! # diffmac-io
//!
//! The files of diffmac, shared by every crate of the workspace:
//!
//! - [`load`]: images loaded the way a batch tool must (pixel limits checked before decoding,
//!   EXIF orientation, 16-bit / grey / CMYK / alpha handled and reported, truncation caught);
//! - [`save`]: images written in the format their name asks for, 8 or 16 bits, with alpha;
//! - [`write`](mod@write): atomic writes that never replace a file unasked;
//! - [`inputs`]: the image files of a file or folder argument, sorted;
//! - [`latest`]: the checkpoint a run folder's `latest` pointer names;
//! - [`checkpoint`]: the checkpoint contract between trainer and restorer (file names,
//!   Stage II variants, the UNet trained on, the fields of `state.json` that readers rely on);
//! - [`tensor`]: images ↔ `Tensor<B, 4>` (`[N, 3, H, W]` in [-1, 1], the SD VAE's range);
//! - [`stream`]: seeded per-item random streams, so results do not depend on threads or batches;
//! - [`weights`] and [`pth`]: safetensors files (read with checked headers, written atomically)
//!   and PyTorch state dicts (read without executing pickle code);
//! - [`module_path`](mod@module_path): a Burn module's float parameters walked with their
//!   module paths, the keys of module files, moving averages and optimiser state;
//! - [`precision`]: the float type of a model's weights and activations (`f32`, `f16`, `bf16`);
//! - [`checksum`]: SHA-256 of files, streamed.
//!
//! Every error names the file and the problem ([`IoError`]).
//!
//! ```
//! use diffmac_io::{stream_rng, stream_seed};
//! use rand::RngExt;
//!
//! // The same (seed, key) gives the same stream on every machine.
//! let a: u32 = stream_rng(7, b"face.png").random();
//! let b: u32 = stream_rng(7, b"face.png").random();
//! assert_eq!(a, b);
//! assert_ne!(stream_seed(7, b"face.png"), stream_seed(7, b"other.png"));
//! ```

pub mod checkpoint;
pub mod checksum;
pub mod error;
pub mod inputs;
pub mod latest;
pub mod load;
pub mod module_path;
pub mod precision;
pub mod pth;
pub mod save;
pub mod stream;
pub mod tensor;
pub mod weights;
pub mod write;

pub use checksum::{sha256_file, sha256_hex};
pub use error::{IoError, Result};
pub use inputs::{IMAGE_EXTENSIONS, Inputs, collect_images, collect_inputs};
pub use latest::{LATEST_FILE, resolve_latest};
pub use load::{Alpha32FImage, DEFAULT_MAX_PIXELS, LoadedImage, load_image};
pub use precision::Precision;
pub use pth::read_pth;
pub use save::{Storage, save_image};
pub use stream::{StreamRng, stream_rng, stream_seed};
pub use tensor::{images_to_tensor, tensor_to_images};
pub use weights::{
    Conv2dSpec, SafetensorsFile, first_non_finite, safetensors_bytes, save_safetensors,
};
pub use write::{write_atomically, write_atomically_with};
