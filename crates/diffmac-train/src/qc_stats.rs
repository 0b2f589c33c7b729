//! `μ_QC`, `σ_QC` (Algorithm 1, "Require: pre-calculated mean μ_QC and std. σ_QC"): the VAE's
//! QC output over a set of faces, accumulated by `diffmac_mib::QcStatsAccumulator` and handed
//! to the bottleneck. Which faces is a data question, so it is answered here: a run's first
//! training faces ([`qc_stats_for_run`]) or any folder ([`qc_stats_from_folder`]).

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType, Tensor};
use diffmac_io::{DEFAULT_MAX_PIXELS, collect_inputs, images_to_tensor, load_image};
use diffmac_ldm::AutoencoderKL;
use diffmac_mib::{QcStats, QcStatsAccumulator};

use crate::config::TrainConfig;
use crate::dataset::{Dataset, Geometry};
use crate::error::Result;

/// `μ_QC`, `σ_QC` of a Stage II run: the config's file (`stage2.qc_stats`), or the VAE's QC
/// output over the first `stage2.qc_stats_images` training faces, written to
/// `RUN_DIR/qc_stats.json`.
///
/// # Errors
/// An unreadable statistics file or training face, naming the file.
pub fn qc_stats_for_run<B: Backend>(
    config: &TrainConfig,
    dataset: &Dataset,
    vae: &AutoencoderKL<B>,
    run_dir: Option<&Path>,
    device: &B::Device,
    dtype: FloatDType,
) -> Result<QcStats> {
    if let Some(path) = &config.stage2.qc_stats {
        return Ok(QcStats::load(path)?);
    }
    let mut acc = QcStatsAccumulator::default();
    let n = config.stage2.qc_stats_images.clamp(1, dataset.len());
    for i in 0..n {
        let s = dataset.sample(0, i, Geometry::Fixed)?;
        let x = images_to_tensor::<B>(std::slice::from_ref(&s.hq), device)?.cast(dtype);
        acc.add(vae.moments(x))?;
    }
    let stats = acc.finish()?;
    if let Some(run_dir) = run_dir {
        stats.save(run_dir.join(diffmac_mib::QC_STATS_FILE))?;
    }
    Ok(stats)
}

/// Statistics of `encode(image)` over the images of `folder` (not recursive, sorted by name),
/// each loaded with [`load_image`] and turned into a `[1, 3, H, W]` tensor in [-1, 1] by
/// [`images_to_tensor`]. Images may differ in size.
///
/// # Errors
/// The first image that cannot be listed, read or decoded (naming the file), or an empty folder.
pub fn qc_stats_with<B: Backend>(
    folder: impl AsRef<Path>,
    device: &Device<B>,
    mut encode: impl FnMut(Tensor<B, 4>) -> Tensor<B, 4>,
) -> Result<QcStats> {
    let inputs = collect_inputs(folder.as_ref())?;
    let mut acc = QcStatsAccumulator::default();
    for path in &inputs.images {
        let loaded = load_image(path, DEFAULT_MAX_PIXELS)?;
        let x = images_to_tensor::<B>(std::slice::from_ref(&loaded.rgb), device)?;
        acc.add(encode(x))?;
    }
    Ok(acc.finish()?)
}

/// `μ_QC`, `σ_QC` of the VAE's QC output ([`AutoencoderKL::moments`]) over the images of
/// `folder`; see [`qc_stats_with`]. Save them with [`QcStats::save`] as
/// `diffmac_mib::QC_STATS_FILE` next to the bottleneck's weights.
///
/// # Errors
/// As [`qc_stats_with`].
pub fn qc_stats_from_folder<B: Backend>(
    vae: &AutoencoderKL<B>,
    folder: impl AsRef<Path>,
    device: &Device<B>,
) -> Result<QcStats> {
    qc_stats_with(folder, device, |x| vae.moments(x))
}
