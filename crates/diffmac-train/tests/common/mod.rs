//! Helpers the data-parallel tests share (`ddp.rs`, `multi_node.rs`).

use std::path::Path;

use diffmac_ldm::SafetensorsFile;
use diffmac_train::TrainOptions;

/// A fresh (or, with `resume`, continued) run in `dir`.
pub fn options(dir: &Path, resume: bool) -> TrainOptions {
    TrainOptions {
        run_dir: dir.to_path_buf(),
        resume,
    }
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
