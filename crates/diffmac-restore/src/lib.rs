//! # diffmac-restore
//!
//! DiffMAC's Diffusion-Information-Diffusion (DID) restoration, Algorithm 1 at inference, and
//! the model bundles it runs from.
//!
//! - [`bundle`]: a model is one folder ([`bundle::ModelBundle`]); it is validated as a whole
//!   when loaded, built from Stable Diffusion 2.1 and trained stages by [`bundle::convert`],
//!   or generated with random weights by [`bundle::write_tiny_bundle`] for tests.
//! - [`pipeline`]: both stages and the bottleneck in Algorithm 1's order ([`Restorer`]).
//! - [`color`]: optional colour correction of the output.
//! - [`faces`]: aligned faces and whole photos (detect, align, restore in batches, paste
//!   back), one seed per face, best of N seeds.
//! - [`judge`]: identity similarity and NIQE of a restored face, and the best of candidates.
//! - [`layout`]: a run's inputs and its CodeFormer-style output folders.
//! - [`run`]: a whole run over a file or a folder, as `diffmac-restore` does it ([`run::run`]:
//!   skip existing outputs, batches, whole photos or aligned faces, every output file, the
//!   identity network of the scores), told to a [`run::Progress`] as it goes.
//! - [`report`]: `report.json`, the run's per-face scores and the faces left out, merged over
//!   runs into one output folder.
//!
//! ```no_run
//! use burn::backend::Flex;
//! use burn::tensor::FloatDType;
//! use diffmac_restore::{ModelBundle, Quiet, RestoreOptions, Restorer};
//!
//! let device = Default::default();
//! let bundle = ModelBundle::<Flex>::load("models/diffmac".as_ref(), &device, FloatDType::F32)?;
//! let restorer = Restorer::new(&bundle, RestoreOptions::default())?;
//! let faces = ["a.png", "b.png"].map(|f| image::open(f).unwrap().to_rgb32f());
//! // One seed per face: each face comes out as it would restored alone.
//! let seeds = ["a.png", "b.png"].map(|name| diffmac_restore::faces::face_seed(7, name));
//! let restored =
//!     diffmac_restore::faces::restore_aligned_seeded(&restorer, &faces, None, &seeds, &mut Quiet)?;
//! # Ok::<(), diffmac_restore::RestoreError>(())
//! ```

pub mod bundle;
pub mod color;
pub mod error;
pub mod faces;
pub mod judge;
pub mod layout;
pub mod options;
pub mod pipeline;
pub mod report;
pub mod run;

pub use bundle::{BundleConfig, ModelBundle};
pub use error::{RestoreError, Result};
pub use judge::{FaceJudge, FaceScore};
pub use options::{ColorFix, PresetOverrides, RestoreOptions, RestorePreset, SamplerKind};
pub use pipeline::{Observer, PipelineEvent, Quiet, Restored, Restorer};
