//! # diffmac
//!
//! DiffMAC blind face restoration ("Diffusion Manifold Hallucination Correction") in Rust on
//! Burn. This root crate re-exports the workspace's crates under short names and picks the
//! compute backend that the binaries run on; embed a single crate directly if you need only
//! one part.
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`io`] | `diffmac-io` | image and weight files, input folders, image ↔ tensor, seeded streams |
//! | [`degrade`] | `diffmac-degrade` | eq. 14 degradation |
//! | [`face`] | `diffmac-face` | whole photos: face detection with five landmarks (RetinaFace by default, or MTCNN), FFHQ alignment, face outlines (FaceMesh), paste-back |
//! | [`ops`] | `diffmac-ops` | the operation layer the models run on, with multi-core CPU kernels |
//! | [`ldm`] | `diffmac-ldm` | Stable Diffusion 2.1 VAE, UNet (with the encoder modulation hook), CLIP text encoder, loaders |
//! | [`mib`] | `diffmac-mib` | manifold information bottleneck, Stage II losses |
//! | [`id`] | `diffmac-id` | identity encoders (ArcFace IResNet, dlib ResNet) and their preprocessing |
//! | [`sampler`] | `diffmac-sampler` | schedules, spaced DDPM / DDIM, eqs. 1 and 5 |
//! | [`train`] | `diffmac-train` | two-stage training: dataset, steps, optimiser, checkpoints |
//! | [`restore`] | `diffmac-restore` | the DID restoration pipeline, model bundles |
//! | [`eval`] | `diffmac-eval` | the paper's metrics |

pub mod backend;

pub use diffmac_degrade as degrade;
pub use diffmac_eval as eval;
pub use diffmac_face as face;
pub use diffmac_id as id;
pub use diffmac_io as io;
pub use diffmac_ldm as ldm;
pub use diffmac_mib as mib;
pub use diffmac_ops as ops;
pub use diffmac_restore as restore;
pub use diffmac_sampler as sampler;
pub use diffmac_train as train;
