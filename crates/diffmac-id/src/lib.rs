//! Identity encoder (F_ID) for DiffMAC and its face preprocessing.
//!
//! - [`IdentityEncoder`]: the trait every face-recognition network implements here — aligned
//!   faces `[N, 3, S, S]` in [-1, 1] in, `[N, D]` embeddings out — with
//!   [`cosine_similarity`] / [`l2_normalize`] to compare embeddings.
//! - [`IResNet`]: ArcFace's IResNet-50/100 in insightface's `arcface_torch` layout, loaded from
//!   safetensors converted from the published `.pth` state dicts by
//!   `scripts/reference/iresnet_convert.py`; checked against PyTorch on a tiny random-weight
//!   network.
//! - [`preprocess`]: from a 512×512 FFHQ-aligned face to ArcFace's 112×112 input.
//!
//! No identity network that the package registries ship is included yet (see
//! `docs/identity.md`): with an ArcFace checkpoint converted by the script above, identity
//! similarity works through the same trait.
//!
//! ```no_run
//! use burn::backend::Flex;
//! use diffmac_id::{IResNet, IdentityEncoder, cosine_similarity, preprocess::ffhq_to_arcface};
//! # fn faces() -> burn::tensor::Tensor<Flex, 4> {
//! #     burn::tensor::Tensor::zeros([2, 3, 512, 512], &Default::default())
//! # }
//! let device = Default::default();
//! let net = IResNet::<Flex>::load("arcface_r50.safetensors".as_ref(), &device)?;
//! let x = ffhq_to_arcface(faces(), net.input_size())?; // [2, 3, 512, 512] → [2, 3, 112, 112]
//! let e = net.embed(x); // [2, 512]
//! let sim = cosine_similarity(e.clone().narrow(0, 0, 1), e.narrow(0, 1, 1)); // [1]
//! # Ok::<(), diffmac_id::IdError>(())
//! ```
//!
//! See `docs/identity.md` for the choices made and `docs/architecture.md` for where the crate
//! fits.

pub mod batch_norm;
pub mod encoder;
pub mod error;
pub mod iresnet;
pub mod preprocess;
pub mod similarity;
pub mod weights;

pub use encoder::IdentityEncoder;
pub use error::{IdError, Result};
pub use iresnet::{IResNet, IResNetConfig};
pub use similarity::{cosine_matrix, cosine_similarity, l2_normalize};
