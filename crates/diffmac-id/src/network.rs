//! Choosing the identity encoder at run time: [`IdentityNetwork`] holds any network of this
//! crate behind one type, and [`load_identity_encoder`] builds it from a kind string and a
//! safetensors file (what the restorer's model bundle stores).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::dlib::architecture::ARCHITECTURE_KEY;
use crate::dlib::{DlibResNet, ffhq_to_dlib_chip};
use crate::encoder::IdentityEncoder;
use crate::error::{IdError, Result};
use crate::iresnet::IResNet;
use crate::preprocess::ffhq_to_arcface;
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

/// Which network an identity-encoder file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityNetworkKind {
    /// ArcFace IResNet from `scripts/reference/iresnet_convert.py` (kind string
    /// `arcface_iresnet`).
    ArcFaceIResNet,
    /// dlib's ResNet v1 from `scripts/reference/dlib_convert.py` (kind string
    /// `dlib_resnet_v1`).
    DlibResNetV1,
}

impl IdentityNetworkKind {
    /// The kind string stored in model bundles: `arcface_iresnet` or `dlib_resnet_v1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ArcFaceIResNet => "arcface_iresnet",
            Self::DlibResNetV1 => "dlib_resnet_v1",
        }
    }

    /// Tells the kind from a weight file: dlib files carry the `dlib_architecture` metadata,
    /// IResNet files the `layer1.0.bn1.weight` key.
    pub fn detect(file: &SafetensorsFile) -> Result<Self> {
        if file.metadata(ARCHITECTURE_KEY).is_some() {
            return Ok(Self::DlibResNetV1);
        }
        if file.shape("layer1.0.bn1.weight").is_some() {
            return Ok(Self::ArcFaceIResNet);
        }
        Err(IdError::Architecture {
            path: file.path().to_owned(),
            problem: "neither a converted dlib ResNet nor an ArcFace IResNet".into(),
        })
    }
}

impl fmt::Display for IdentityNetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentityNetworkKind {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "arcface_iresnet" => Ok(Self::ArcFaceIResNet),
            "dlib_resnet_v1" => Ok(Self::DlibResNetV1),
            other => Err(IdError::UnknownKind(other.to_owned())),
        }
    }
}

/// One of this crate's identity encoders, chosen at run time.
#[derive(Module, Debug)]
pub enum IdentityNetwork<B: Backend> {
    /// ArcFace IResNet (112×112 input, 512-D).
    IResNet(IResNet<B>),
    /// dlib's ResNet v1 (150×150 chips, 128-D).
    Dlib(DlibResNet<B>),
}

impl<B: Backend> IdentityNetwork<B> {
    /// The kind of the network held.
    pub fn kind(&self) -> IdentityNetworkKind {
        match self {
            Self::IResNet(_) => IdentityNetworkKind::ArcFaceIResNet,
            Self::Dlib(_) => IdentityNetworkKind::DlibResNetV1,
        }
    }

    /// Loads a network of `kind` from a weight file.
    pub fn from_file(
        kind: IdentityNetworkKind,
        file: &SafetensorsFile,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(match kind {
            IdentityNetworkKind::ArcFaceIResNet => Self::IResNet(IResNet::from_file(file, device)?),
            IdentityNetworkKind::DlibResNetV1 => Self::Dlib(DlibResNet::from_file(file, device)?),
        })
    }

    /// Crops square FFHQ-aligned faces `[N, 3, S, S]` in [-1, 1] (512×512 in DiffMAC) to this
    /// network's input: ArcFace's 112 crop ([`crate::preprocess`]) or dlib's 150 chip
    /// ([`crate::dlib::chip`]).
    pub fn prepare_ffhq(&self, faces: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        match self {
            Self::IResNet(n) => ffhq_to_arcface(faces, n.input_size()),
            Self::Dlib(n) => ffhq_to_dlib_chip(faces, n.input_size()),
        }
    }

    /// [`prepare_ffhq`](Self::prepare_ffhq) then [`embed`](IdentityEncoder::embed): FFHQ-aligned
    /// faces `[N, 3, S, S]` → `[N, D]`.
    pub fn embed_ffhq(&self, faces: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        Ok(self.embed(self.prepare_ffhq(faces)?))
    }
}

impl<B: Backend> IdentityEncoder<B> for IdentityNetwork<B> {
    fn input_size(&self) -> usize {
        match self {
            Self::IResNet(n) => n.input_size(),
            Self::Dlib(n) => n.input_size(),
        }
    }

    fn embedding_dim(&self) -> usize {
        match self {
            Self::IResNet(n) => n.embedding_dim(),
            Self::Dlib(n) => n.embedding_dim(),
        }
    }

    fn embed(&self, faces: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Self::IResNet(n) => n.embed(faces),
            Self::Dlib(n) => n.embed(faces),
        }
    }
}

/// Where `scripts/fetch_identity_weights.sh` puts dlib's network, relative to the working
/// folder: the identity network the tools fall back to when none is named (the scores of
/// `diffmac-restore`'s report and `--best-of`, `diffmac-eval`'s identity metric), so both
/// look in the same place.
pub const DEFAULT_DLIB_WEIGHTS: &str = "weights/identity/dlib_resnet_v1.safetensors";

/// Loads an identity encoder from a safetensors file (or insightface's `.pth`/`.pt` state
/// dict, read by `diffmac_io::read_pth`): `kind` is `arcface_iresnet`,
/// `dlib_resnet_v1` (see [`IdentityNetworkKind`]) or `auto` (told from the file,
/// [`IdentityNetworkKind::detect`]).
///
/// Errors name the file: unreadable, not safetensors or a tensor missing or mis-shaped
/// ([`IdError::File`]), missing or bad dlib architecture metadata
/// ([`IdError::Architecture`]); an unknown kind string is [`IdError::UnknownKind`].
pub fn load_identity_encoder<B: Backend>(
    kind: &str,
    path: &Path,
    device: &B::Device,
) -> Result<IdentityNetwork<B>> {
    let parsed = match kind {
        "auto" => None,
        other => Some(other.parse::<IdentityNetworkKind>()?),
    };
    let is_pth = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pth") || e.eq_ignore_ascii_case("pt"));
    let file = if is_pth {
        diffmac_io::read_pth(path)?
    } else {
        SafetensorsFile::open(path)?
    };
    file.check_finite()?;
    let kind = match parsed {
        Some(k) => k,
        None => IdentityNetworkKind::detect(&file)?,
    };
    IdentityNetwork::from_file(kind, &file, device)
}
