//! Fréchet distance and feature statistics against pytorch-fid 0.3.0
//! (`scripts/reference/eval_fid_reference.py`).

use std::path::Path;

use diffmac_eval::fid::{FeatureStats, frechet_distance, frechet_distance_features};

fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn frechet_distance_matches_pytorch_fid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fid_reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let a = FeatureStats::from_features(&matrix(&case["a"])).unwrap();
        let b = FeatureStats::from_features(&matrix(&case["b"])).unwrap();
        let trace: f64 = (0..a.dim()).map(|i| a.sigma[i * a.dim() + i]).sum();
        let want_trace = case["trace_sigma_a"].as_f64().unwrap();
        assert!(
            (trace - want_trace).abs() < 1e-9 * want_trace,
            "{name}: trace {trace} vs {want_trace}"
        );
        let ours = frechet_distance(&a, &b).unwrap();
        let theirs = case["fid"].as_f64().unwrap();
        let from_features =
            frechet_distance_features(&matrix(&case["a"]), &matrix(&case["b"])).unwrap();
        eprintln!("{name}: FID {ours} (stats), {from_features} (features) vs pytorch-fid {theirs}");
        assert!(
            (from_features - theirs).abs() < 1e-6 * theirs,
            "{name}: FID from features {from_features} vs pytorch-fid {theirs}"
        );
        assert!(
            (ours - theirs).abs() < 1e-6 * theirs,
            "{name}: FID {ours} vs pytorch-fid {theirs}"
        );
        // Identical sets: pytorch-fid's sqrtm leaves |value| ≤ 3e-6 here; ours is at least as close to 0.
        let own = frechet_distance(&a, &a).unwrap();
        let their_self = case["fid_self"].as_f64().unwrap();
        assert!(
            own.abs() <= their_self.abs().max(1e-9),
            "{name}: self FID {own} vs {their_self}"
        );
    }
}

#[test]
fn mismatched_or_too_few_features_are_errors() {
    assert!(FeatureStats::from_features(&[vec![1.0, 2.0]]).is_err());
    assert!(FeatureStats::from_features(&[vec![1.0, 2.0], vec![1.0]]).is_err());
    let a = FeatureStats::from_features(&[vec![1.0, 2.0], vec![2.0, 0.0]]).unwrap();
    let b = FeatureStats::from_features(&[vec![1.0], vec![2.0]]).unwrap();
    assert!(frechet_distance(&a, &b).is_err());
}
