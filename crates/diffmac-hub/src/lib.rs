//! Fetching model files from the Hugging Face hub, for `diffmac-convert sd --download`.
//!
//! [`Hub::list`] resolves a revision to a commit and lists its files with their sizes and
//! hashes; [`download()`] fetches some of them into a folder, resuming interrupted downloads
//! and checking each file against the hub's hash before it takes its name. The endpoint and
//! token come from `HF_ENDPOINT` and `HF_TOKEN` ([`Hub::from_env`]).
//!
//! ```no_run
//! use diffmac_hub::{Hub, SD21_BASE, download};
//!
//! let hub = Hub::from_env();
//! let listing = hub.list(SD21_BASE.repo, "main")?;
//! download(&hub, &listing, SD21_BASE.files, "models/sd21-base".as_ref(), &mut |_| {})?;
//! # Ok::<(), diffmac_hub::HubError>(())
//! ```

pub mod client;
pub mod download;
pub mod error;
pub mod hash;
pub mod listing;
pub mod model;
pub mod test_hub;

pub use client::{DEFAULT_ENDPOINT, Hub};
pub use download::{DownloadEvent, download, part_path};
pub use error::{HubError, Result};
pub use listing::{ContentHash, HubFile, RepoListing};
pub use model::{HubModel, SD21_BASE};
