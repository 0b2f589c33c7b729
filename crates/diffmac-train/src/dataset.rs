//! Training pairs from a folder of HQ faces: random square crop resized to the model size,
//! optional horizontal flip, and the LQ face made on the fly by eq. 14
//! ([`diffmac_degrade::degrade_random`]) or read from a paired folder.
//!
//! Everything random about a sample comes from `stream_rng(run seed, "sample/<epoch>/<image>")`,
//! and the order of images in an epoch from `stream_rng(run seed, "epoch/<epoch>")`, so a
//! sample depends only on (seed, epoch, image) and a run's data is reproducible whatever the
//! thread count, and resumable from a step number alone. Sample `k` of the run (counted over
//! all batches) is image `perm_e[k mod N]` of epoch `e = k div N`.
//!
//! Unreadable files are found when the folder is opened (headers are checked) and left out
//! with one warning each; a file that fails to decode later is reported once and replaced by
//! the next image of the epoch's order, deterministically.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use diffmac_degrade::degrade_random;
use diffmac_io::{StreamRng, load_image, stream_rng};
use image::Rgb32FImage;
use image::imageops::{self, FilterType};
use rand::RngExt;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::config::DataConfig;
use crate::error::{Result, TrainError};

const EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"];

/// How a sample's square is cut and whether it may be flipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// A random square (`crop_min_scale`..1 of the shorter side, random position) and a
    /// random flip: training.
    Random,
    /// The centred largest square and a random flip (Stage II with cached `X_D1`).
    CentreWithFlip,
    /// The centred largest square, never flipped (validation, `X_D1` cache).
    Fixed,
}

/// One training pair, both `size × size`, RGB in [0, 1].
#[derive(Debug, Clone)]
pub struct Sample {
    /// The HQ face.
    pub hq: Rgb32FImage,
    /// The LQ face.
    pub lq: Rgb32FImage,
    /// Index of the image in [`Dataset::files`].
    pub image: usize,
    /// Epoch the sample was drawn in.
    pub epoch: u64,
    /// Whether it was flipped horizontally.
    pub flipped: bool,
}

/// A micro-batch of samples, in order.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Run-wide index of the first sample.
    pub first: u64,
    /// The samples.
    pub samples: Vec<Sample>,
}

/// The training images of a folder (recursive).
#[derive(Debug)]
pub struct Dataset {
    root: PathBuf,
    files: Vec<PathBuf>,
    config: DataConfig,
    seed: u64,
    reported: Mutex<HashSet<usize>>,
    perm: Mutex<Option<(u64, Arc<Vec<usize>>)>>,
}

impl Dataset {
    /// Lists the images under `config.hq_dir` (sorted by relative path; hidden files and
    /// other extensions ignored) and checks each header; unreadable ones are left out with a
    /// warning. With `config.lq_dir`, images without an LQ partner are left out too.
    ///
    /// # Errors
    /// [`TrainError::Data`] if the folder cannot be listed or holds no usable image.
    pub fn open(config: &DataConfig, seed: u64) -> Result<Self> {
        let root = config.hq_dir.clone();
        let mut all = Vec::new();
        walk(&root, &root, &mut all)?;
        all.sort();
        let mut files = Vec::with_capacity(all.len());
        for rel in all {
            let path = root.join(&rel);
            if let Err(e) = check_header(&path, config.max_pixels) {
                tracing::warn!("skipping {}: {e}", path.display());
                continue;
            }
            if let Some(lq) = &config.lq_dir {
                let lq_path = lq.join(&rel);
                if let Err(e) = check_header(&lq_path, config.max_pixels) {
                    tracing::warn!("skipping {}: its LQ partner: {e}", path.display());
                    continue;
                }
            }
            files.push(rel);
        }
        if files.is_empty() {
            return Err(TrainError::Data {
                path: root,
                message: "no readable image (png, jpg, bmp, tiff, webp, gif) in this folder".into(),
            });
        }
        tracing::info!("{} training images in {}", files.len(), root.display());
        Ok(Self {
            root,
            files,
            config: config.clone(),
            seed,
            reported: Mutex::new(HashSet::new()),
            perm: Mutex::new(None),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none (never true for an opened dataset).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The images' paths relative to the HQ folder.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The HQ folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Images in the order of epoch `epoch`.
    pub fn epoch_order(&self, epoch: u64) -> Arc<Vec<usize>> {
        let mut cache = self.perm.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, p)) = cache.as_ref()
            && *e == epoch
        {
            return Arc::clone(p);
        }
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.shuffle(&mut stream_rng(
            self.seed,
            format!("epoch/{epoch}").as_bytes(),
        ));
        let order = Arc::new(order);
        *cache = Some((epoch, Arc::clone(&order)));
        order
    }

    /// (epoch, position in the epoch) of run-wide sample `k`.
    pub fn position(&self, k: u64) -> (u64, usize) {
        let n = self.files.len() as u64;
        (k / n, (k % n) as usize)
    }

    /// Run-wide sample `k` with `geometry`; a file that fails to decode is reported once and
    /// replaced by the next image of the epoch's order.
    ///
    /// # Errors
    /// [`TrainError::Data`] when no image of the epoch can be read.
    pub fn sample_at(&self, k: u64, geometry: Geometry) -> Result<Sample> {
        let (epoch, pos) = self.position(k);
        let order = self.epoch_order(epoch);
        let n = order.len();
        for offset in 0..n {
            let image = order[(pos + offset) % n];
            match self.sample(epoch, image, geometry) {
                Ok(s) => return Ok(s),
                Err(e) => self.report(image, &e),
            }
        }
        Err(TrainError::Data {
            path: self.root.clone(),
            message: "no image of the folder could be read".into(),
        })
    }

    fn report(&self, image: usize, error: &TrainError) {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        if reported.insert(image) {
            tracing::warn!("skipping an unreadable training image: {error}");
        }
    }

    /// Image `image` as drawn in epoch `epoch`.
    ///
    /// # Errors
    /// The file cannot be read or decoded (naming it), or degradation failed.
    pub fn sample(&self, epoch: u64, image: usize, geometry: Geometry) -> Result<Sample> {
        let rel = &self.files[image];
        let mut rng = stream_rng(self.seed, format!("sample/{epoch}/{image}").as_bytes());
        let hq_full = load_image(&self.root.join(rel), self.config.max_pixels)?.rgb;
        let (w, h) = hq_full.dimensions();
        let (cx, cy, side) = self.crop_box(w, h, geometry, &mut rng);
        let flipped = geometry != Geometry::Fixed
            && self.config.flip_probability > 0.0
            && rng.random_bool(self.config.flip_probability);
        let size = self.config.size;
        let hq = finish(&hq_full, (cx, cy, side, side), size, flipped);
        let lq = match &self.config.lq_dir {
            Some(lq_dir) => {
                let lq_full = load_image(&lq_dir.join(rel), self.config.max_pixels)?.rgb;
                let (lw, lh) = lq_full.dimensions();
                let (sx, sy) = (f64::from(lw) / f64::from(w), f64::from(lh) / f64::from(h));
                let scale = |v: u32, s: f64| (f64::from(v) * s).round() as u32;
                let bw = scale(side, sx).clamp(1, lw);
                let bh = scale(side, sy).clamp(1, lh);
                let bx = scale(cx, sx).min(lw - bw);
                let by = scale(cy, sy).min(lh - bh);
                finish(&lq_full, (bx, by, bw, bh), size, flipped)
            }
            None => degrade_random(&hq, &self.config.degradation, &mut rng)?.0,
        };
        Ok(Sample {
            hq,
            lq,
            image,
            epoch,
            flipped,
        })
    }

    fn crop_box(&self, w: u32, h: u32, geometry: Geometry, rng: &mut StreamRng) -> (u32, u32, u32) {
        let full = w.min(h);
        match geometry {
            Geometry::Random => {
                let min = self.config.crop_min_scale;
                let scale = if min < 1.0 {
                    rng.random_range(min..=1.0)
                } else {
                    1.0
                };
                let side = ((f64::from(full) * scale).round() as u32).clamp(1, full);
                let x = rng.random_range(0..=w - side);
                let y = rng.random_range(0..=h - side);
                (x, y, side)
            }
            Geometry::CentreWithFlip | Geometry::Fixed => ((w - full) / 2, (h - full) / 2, full),
        }
    }

    /// `count` consecutive run-wide samples from `first`, loaded in parallel.
    ///
    /// # Errors
    /// As [`Dataset::sample_at`].
    pub fn batch(&self, first: u64, count: usize, geometry: Geometry) -> Result<Batch> {
        let samples = (0..count as u64)
            .into_par_iter()
            .map(|i| self.sample_at(first + i, geometry))
            .collect::<Result<Vec<_>>>()?;
        Ok(Batch { first, samples })
    }
}

/// Crops `(x, y, w, h)`, resizes to `size²` (Lanczos3, clamped to [0, 1]) and flips.
fn finish(
    image: &Rgb32FImage,
    (x, y, w, h): (u32, u32, u32, u32),
    size: u32,
    flip: bool,
) -> Rgb32FImage {
    let mut out = if (x, y, w, h) == (0, 0, image.width(), image.height()) {
        image.clone()
    } else {
        imageops::crop_imm(image, x, y, w, h).to_image()
    };
    if (w, h) != (size, size) {
        out = imageops::resize(&out, size, size, FilterType::Lanczos3);
        out.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    }
    if flip {
        imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::Data {
        path: dir.to_path_buf(),
        message: format!("cannot list the folder: {e}"),
    })?;
    for entry in entries {
        let entry = entry.map_err(TrainError::io(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(TrainError::io(&path))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

fn check_header(path: &Path, max_pixels: u64) -> std::result::Result<(), String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if w == 0 || h == 0 {
        return Err("empty image".into());
    }
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(format!("{w}x{h} is more than {max_pixels} pixels"));
    }
    Ok(())
}

/// Prepares micro-batches on a background thread (each batch's samples in parallel with
/// rayon), `prefetch` ahead of the consumer.
#[derive(Debug)]
pub struct Loader {
    rx: Receiver<Result<Batch>>,
    handle: Option<JoinHandle<()>>,
}

impl Loader {
    /// Micro-batches `first_batch..end_batch` of `batch_size` samples each.
    pub fn spawn(
        dataset: Arc<Dataset>,
        batch_size: usize,
        first_batch: u64,
        end_batch: u64,
        geometry: Geometry,
        prefetch: usize,
    ) -> Self {
        Self::spawn_strided(
            dataset,
            batch_size,
            first_batch,
            end_batch,
            1,
            geometry,
            prefetch,
        )
    }

    /// Micro-batches `first_batch, first_batch + stride, ...` below `end_batch` (one
    /// data-parallel peer's share of the run's micro-batches; `stride` 0 counts as 1).
    pub fn spawn_strided(
        dataset: Arc<Dataset>,
        batch_size: usize,
        first_batch: u64,
        end_batch: u64,
        stride: usize,
        geometry: Geometry,
        prefetch: usize,
    ) -> Self {
        let (tx, rx): (SyncSender<Result<Batch>>, _) = sync_channel(prefetch.max(1));
        let handle = std::thread::Builder::new()
            .name("diffmac-train-loader".into())
            .spawn(move || {
                for b in (first_batch..end_batch).step_by(stride.max(1)) {
                    let batch = dataset.batch(b * batch_size as u64, batch_size, geometry);
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        return;
                    }
                }
            })
            .ok();
        Self { rx, handle }
    }

    /// The next micro-batch.
    ///
    /// # Errors
    /// The loader's error, or [`TrainError::Stopped`] when it has no more batches.
    pub fn next_batch(&self) -> Result<Batch> {
        match self.rx.recv() {
            Ok(b) => b,
            Err(_) => Err(TrainError::Stopped(
                "the data loader thread ended early".into(),
            )),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Unblock the thread (its send fails once the receiver is gone), then wait for it.
        let (_tx, rx) = sync_channel(1);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_faces(dir: &Path, n: usize) {
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for i in 0..n {
            let img = image::RgbImage::from_fn(40 + i as u32 * 4, 36, |x, y| {
                image::Rgb([(x * 5) as u8, (y * 7) as u8, (i * 40) as u8])
            });
            let path = if i % 2 == 0 {
                dir.join(format!("f{i}.png"))
            } else {
                dir.join("sub").join(format!("f{i}.png"))
            };
            img.save(&path).unwrap();
        }
        std::fs::write(dir.join("broken.png"), b"not a png").unwrap();
        std::fs::write(dir.join("notes.txt"), b"text").unwrap();
    }

    fn config(dir: &Path) -> DataConfig {
        DataConfig {
            hq_dir: dir.to_path_buf(),
            size: 32,
            ..DataConfig::default()
        }
    }

    #[test]
    fn folder_is_recursive_skips_bad_files_and_samples_reproducibly() {
        let dir = tempfile::tempdir().unwrap();
        write_faces(dir.path(), 3);
        let ds = Dataset::open(&config(dir.path()), 5).unwrap();
        assert_eq!(ds.len(), 3, "{:?}", ds.files());
        assert!(ds.files().iter().any(|p| p.starts_with("sub")));

        let a = ds.batch(0, 4, Geometry::Random).unwrap();
        let b = Dataset::open(&config(dir.path()), 5)
            .unwrap()
            .batch(0, 4, Geometry::Random)
            .unwrap();
        for (x, y) in a.samples.iter().zip(&b.samples) {
            assert_eq!(x.hq.dimensions(), (32, 32));
            assert_eq!(x.lq.dimensions(), (32, 32));
            assert_eq!(x.hq.as_raw(), y.hq.as_raw());
            assert_eq!(x.lq.as_raw(), y.lq.as_raw());
            assert_eq!(x.image, y.image);
        }
        // Sample 3 opens epoch 1: the three images of epoch 0 are all different.
        let epoch0: HashSet<usize> = a.samples[..3].iter().map(|s| s.image).collect();
        assert_eq!(epoch0.len(), 3);
        assert_eq!(a.samples[3].epoch, 1);
        // LQ differs from HQ (degraded); another seed gives other data.
        assert_ne!(a.samples[0].hq.as_raw(), a.samples[0].lq.as_raw());
        let c = Dataset::open(&config(dir.path()), 6)
            .unwrap()
            .batch(0, 3, Geometry::Random)
            .unwrap();
        assert!(
            a.samples[..3]
                .iter()
                .zip(&c.samples)
                .any(|(x, y)| x.lq.as_raw() != y.lq.as_raw())
        );
        // The loader thread yields the same batches.
        let loader = Loader::spawn(Arc::new(ds), 2, 0, 2, Geometry::Random, 1);
        let first = loader.next_batch().unwrap();
        assert_eq!(first.samples[1].lq.as_raw(), a.samples[1].lq.as_raw());
        let second = loader.next_batch().unwrap();
        assert_eq!(second.first, 2);
        assert!(loader.next_batch().is_err(), "only two batches");
    }

    #[test]
    fn a_file_that_fails_to_decode_is_replaced_by_the_next_image() {
        let dir = tempfile::tempdir().unwrap();
        write_faces(dir.path(), 3);
        // A PNG cut after its header: the header check passes, decoding fails.
        let bytes = std::fs::read(dir.path().join("f0.png")).unwrap();
        std::fs::write(dir.path().join("f0.png"), &bytes[..bytes.len() / 3]).unwrap();
        let ds = Dataset::open(&config(dir.path()), 3).unwrap();
        assert_eq!(ds.len(), 3);
        let bad = ds
            .files()
            .iter()
            .position(|p| p.ends_with("f0.png"))
            .unwrap();
        let order = ds.epoch_order(0);
        let pos = order.iter().position(|&i| i == bad).unwrap();
        let s = ds.sample_at(pos as u64, Geometry::Random).unwrap();
        assert_eq!(s.image, order[(pos + 1) % 3], "the next image of the epoch");
        let again = ds.sample_at(pos as u64, Geometry::Random).unwrap();
        assert_eq!(again.hq.as_raw(), s.hq.as_raw());
        assert_eq!(ds.reported.lock().unwrap().len(), 1, "reported once");
    }

    #[test]
    fn paired_folder_and_empty_folder() {
        let hq = tempfile::tempdir().unwrap();
        let lq = tempfile::tempdir().unwrap();
        write_faces(hq.path(), 2);
        // Only f0 has an LQ partner, at half size.
        image::RgbImage::from_pixel(20, 18, image::Rgb([9, 9, 9]))
            .save(lq.path().join("f0.png"))
            .unwrap();
        let mut c = config(hq.path());
        c.lq_dir = Some(lq.path().to_path_buf());
        let ds = Dataset::open(&c, 1).unwrap();
        assert_eq!(ds.len(), 1);
        let s = ds.sample(0, 0, Geometry::Fixed).unwrap();
        assert!(s.lq.as_raw().iter().all(|v| (v - 9.0 / 255.0).abs() < 1e-3));

        let empty = tempfile::tempdir().unwrap();
        let err = Dataset::open(&config(empty.path()), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no readable image"), "{err}");
    }
}
