//! FID (Heusel et al. 2017) with pytorch-fid's conventions: pool3 features of the FID
//! Inception-v3 ([`InceptionV3`], Burn), Gaussian statistics per image set
//! ([`FeatureStats`]), and the Fréchet distance between them ([`frechet_distance`]).

mod cache;
mod frechet;
mod inception;
mod stats;

pub use cache::{cache_file, content_key, features_to_bytes, load_features};
pub use frechet::{frechet_distance, frechet_distance_features};
pub use inception::{INCEPTION_SIZE, InceptionV3, POOL3_DIM, fnv1a32, resize_bilinear};
pub use stats::FeatureStats;
