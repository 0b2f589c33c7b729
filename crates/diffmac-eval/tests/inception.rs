//! The FID Inception-v3 against pytorch-fid 0.3.0 on two real 64×64 crops, with the full-size
//! architecture filled by the shared hash (`scripts/reference/eval_inception_reference.py`).

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::module::Module;
use diffmac_eval::fid::{FeatureStats, InceptionV3, POOL3_DIM, frechet_distance};
use diffmac_eval::{Image255, load_image255};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crop(rel: &str, top: usize, left: usize, side: usize) -> Image255 {
    let image = load_image255(&root().join(rel), u64::MAX).expect("image");
    let mut data = Vec::with_capacity(side * side * 3);
    for y in top..top + side {
        let start = (y * image.width() + left) * 3;
        data.extend_from_slice(&image.data()[start..start + side * 3]);
    }
    Image255::new(side, side, 3, data).expect("crop")
}

#[test]
fn pool3_features_match_pytorch_fid() {
    let path = root().join("crates/diffmac-eval/tests/data/inception_reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let device = Default::default();
    let model = InceptionV3::<Flex>::hashed(&device).expect("architecture");
    let mut all: Vec<Vec<f64>> = Vec::new();
    for (i, c) in reference["crops"].as_array().unwrap().iter().enumerate() {
        let image = crop(
            c["image"].as_str().unwrap(),
            c["top"].as_u64().unwrap() as usize,
            c["left"].as_u64().unwrap() as usize,
            c["side"].as_u64().unwrap() as usize,
        );
        let ours = model.features(&image, &device).expect("features");
        let theirs: Vec<f64> = reference["features"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), POOL3_DIM);
        let scale = theirs.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0_f64, f64::max);
        eprintln!("image {i}: max |error| {worst:e} (features up to {scale})");
        assert!(
            worst <= 4e-6 * scale,
            "image {i}: max error {worst} vs scale {scale}"
        );
        all.push(ours.iter().map(|v| f64::from(*v)).collect());
    }
    // FID of the two degraded crops against the two clean ones (rank-1 covariances, where
    // pytorch-fid's sqrtm needs its eps·I retry: agreement to 1e-3 relative).
    let degraded = FeatureStats::from_features(&[all[1].clone(), all[3].clone()]).unwrap();
    let clean = FeatureStats::from_features(&[all[0].clone(), all[2].clone()]).unwrap();
    let ours = frechet_distance(&degraded, &clean).unwrap();
    let theirs = reference["fid_degraded_vs_clean"].as_f64().unwrap();
    eprintln!("FID {ours} vs pytorch-fid {theirs}");
    assert!(
        (ours - theirs).abs() < 1e-3 * theirs,
        "FID {ours} vs pytorch-fid {theirs}"
    );
}

#[test]
fn loader_reads_the_real_key_layout_and_features_cache_round_trips() {
    let device = Default::default();
    let bytes = InceptionV3::<Flex>::hashed_weights_file(&device).expect("weights file");
    let dir = std::env::temp_dir().join(format!("diffmac-eval-inception-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("inception.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let loaded = InceptionV3::<Flex>::load(&path, &device).expect("loads");
    let hashed = InceptionV3::<Flex>::hashed(&device).expect("architecture");
    let image = crop("examples/faces/astronaut.png", 0, 0, 80);
    // A Burn module whose parameters are the folded convolutions: each `BasicConv2d`'s
    // weight and, from its BatchNorm, one bias.
    let file = diffmac_io::SafetensorsFile::from_bytes("inception.safetensors", bytes.clone())
        .expect("weights file parses");
    let size = |key: &str| file.shape(key).unwrap().iter().product::<usize>();
    let keys: Vec<&str> = file.keys().collect();
    assert_eq!(keys.len(), 5 * 94, "94 BasicConv2d of 5 tensors each");
    let folded: usize = keys
        .iter()
        .filter(|k| k.ends_with(".conv.weight") || k.ends_with(".bn.bias"))
        .map(|k| size(k))
        .sum();
    assert_eq!(loaded.num_params(), folded);
    let a = loaded.features(&image, &device).unwrap();
    let b = hashed.features(&image, &device).unwrap();
    assert_eq!(a, b, "file and in-memory weights give the same network");

    let cache = dir.join("features.safetensors");
    std::fs::write(
        &cache,
        diffmac_eval::fid::features_to_bytes(&[a.clone(), b]).unwrap(),
    )
    .unwrap();
    let back = diffmac_eval::fid::load_features(&cache, POOL3_DIM)
        .unwrap()
        .unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0], a);
    assert!(
        diffmac_eval::fid::load_features(&dir.join("missing"), POOL3_DIM)
            .unwrap()
            .is_none()
    );
    assert!(diffmac_eval::fid::load_features(&cache, 7).is_err());
    // A truncated weights file is an error naming the file.
    std::fs::write(&path, &bytes[..1000]).unwrap();
    let err = InceptionV3::<Flex>::load(&path, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("inception.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
