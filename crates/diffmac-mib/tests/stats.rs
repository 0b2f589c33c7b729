//! The running sums behind `μ_QC`, `σ_QC`, and their JSON file.

use burn::tensor::{Tensor, TensorData};
use diffmac_mib::{MibError, QC_STATS_FILE, QcStats, QcStatsAccumulator};

type B = burn::backend::Flex;

/// `[n, c, h, w]` with channel `ch` of item `i` filled with `f(i, ch)`.
fn batch(n: usize, c: usize, side: usize, f: impl Fn(usize, usize) -> f32) -> Tensor<B, 4> {
    let plane = side * side;
    let values: Vec<f32> = (0..n * c * plane)
        .map(|k| f(k / (c * plane), (k / plane) % c))
        .collect();
    Tensor::from_data(
        TensorData::new(values, [n, c, side, side]),
        &Default::default(),
    )
}

#[test]
fn sums_give_exact_population_statistics_across_batches() {
    let mut acc = QcStatsAccumulator::default();
    // Channel 0: items worth 1, 3 and 5 (mean 3, population std √(8/3)); channel 1 constant 2.
    acc.add(batch(
        2,
        2,
        2,
        |i, ch| if ch == 0 { [1.0, 3.0][i] } else { 2.0 },
    ))
    .unwrap();
    acc.add(batch(1, 2, 2, |_, ch| if ch == 0 { 5.0 } else { 2.0 }))
        .unwrap();
    let s = acc.finish().unwrap();
    assert_eq!((s.channels(), s.count, s.images), (2, 12, 3));
    assert!((s.mean[0] - 3.0).abs() < 1e-9 && (s.mean[1] - 2.0).abs() < 1e-9);
    assert!(
        (s.std[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-6,
        "{}",
        s.std[0]
    );
    assert!(s.std[1].abs() < 1e-6);
    assert!(matches!(
        acc.add(batch(1, 3, 2, |_, _| 0.0)),
        Err(MibError::InvalidInput(_))
    ));
    assert!(matches!(
        QcStatsAccumulator::default().finish(),
        Err(MibError::Invalid(_))
    ));
}

#[test]
fn json_round_trip_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = QcStats {
        mean: vec![0.5, -0.25],
        std: vec![1.5, 0.75],
        count: 40,
        images: 2,
    };
    let path = dir.path().join(QC_STATS_FILE);
    s.save(&path).expect("save");
    assert_eq!(QcStats::load(&path).expect("load"), s);
    s.save(&path).expect("overwrite");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"mean": [0.0]}"#).expect("write");
    let err = QcStats::load(&bad).expect_err("incomplete");
    assert!(matches!(err, MibError::Json { .. }) && err.to_string().contains("bad.json"));
    assert!(s.check(2).is_ok());
    assert!(matches!(s.check(3), Err(MibError::Invalid(_))));
}
