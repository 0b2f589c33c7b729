//! ArcFace's IResNet backbones in insightface's `arcface_torch` layout.

pub mod block;
pub mod config;
pub mod model;

pub use block::{Downsample, IBasicBlock};
pub use config::IResNetConfig;
pub use model::IResNet;
