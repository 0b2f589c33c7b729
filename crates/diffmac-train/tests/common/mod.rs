//! Helpers the data-parallel tests share (`ddp.rs`, `multi_node.rs`).

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};

use diffmac_io::SafetensorsFile;
use diffmac_train::checkpoint::latest_checkpoint;
use diffmac_train::{TrainConfig, TrainOptions, train};

/// The bundled sample faces.
pub fn faces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/faces")
}

/// A fresh (or, with `resume`, continued) run in `dir`.
pub fn options(dir: &Path, resume: bool) -> TrainOptions {
    TrainOptions {
        run_dir: dir.to_path_buf(),
        resume,
    }
}

/// The reference the data-parallel runs must equal: `config` on one CPU device with
/// `accumulation` micro-batches per step, in `dir`; returns its last checkpoint.
pub fn single_device(mut config: TrainConfig, dir: &Path, accumulation: usize) -> PathBuf {
    config.optimizer.accumulation = accumulation;
    train::<Autodiff<Flex>>(
        config,
        &options(dir, false),
        &Default::default(),
        &mut |_| {},
    )
    .unwrap();
    latest_checkpoint(dir).unwrap().unwrap()
}

/// Largest absolute difference over every tensor of two safetensors files (same keys).
pub fn max_diff(a: &Path, b: &Path) -> f32 {
    let (fa, fb) = (
        SafetensorsFile::open(a).unwrap(),
        SafetensorsFile::open(b).unwrap(),
    );
    let mut ka: Vec<&str> = fa.keys().collect();
    let mut kb: Vec<&str> = fb.keys().collect();
    ka.sort_unstable();
    kb.sort_unstable();
    assert_eq!(
        ka,
        kb,
        "{} and {} hold other tensors",
        a.display(),
        b.display()
    );
    let mut worst = 0.0f32;
    for k in ka {
        let x: Vec<f32> = fa.data(k).unwrap().convert::<f32>().to_vec().unwrap();
        let y: Vec<f32> = fb.data(k).unwrap().convert::<f32>().to_vec().unwrap();
        assert_eq!(x.len(), y.len(), "{k}");
        for (x, y) in x.iter().zip(&y) {
            worst = worst.max((x - y).abs());
        }
    }
    worst
}
