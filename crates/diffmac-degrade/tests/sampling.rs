//! Parameter draws honour the configured ranges and probabilities, and are reproducible.

mod common;

use common::textured;
use diffmac_degrade::{DegradationConfig, DegradationParams, degrade_random};
use diffmac_io::stream_rng;

#[test]
fn defaults_are_the_papers_ranges() {
    let c = DegradationConfig::default();
    assert_eq!((c.blur.sigma.low, c.blur.sigma.high), (1.0, 15.0));
    assert_eq!(c.blur.kernel_size, 41);
    assert_eq!(
        (c.downsample.scale.low, c.downsample.scale.high),
        (0.8, 8.0)
    );
    assert_eq!((c.noise.sigma.low, c.noise.sigma.high), (0.0, 20.0));
    assert_eq!((c.jpeg.quality.low, c.jpeg.quality.high), (60.0, 100.0));
}

#[test]
fn draws_stay_in_range_and_cover_it() {
    let config = DegradationConfig::default();
    let mut rng = stream_rng(11, b"ranges");
    let draws: Vec<DegradationParams> = (0..4000)
        .map(|_| DegradationParams::sample(&config, &mut rng))
        .collect();
    let mut sigmas = Vec::new();
    let (mut iso, mut aniso) = (0, 0);
    for p in &draws {
        let blur = p.blur.expect("blur probability is 1");
        assert!(
            config.blur.sigma.contains(blur.sigma_x) && config.blur.sigma.contains(blur.sigma_y)
        );
        assert!(blur.rotation.abs() <= std::f64::consts::PI);
        if blur.is_isotropic() {
            iso += 1
        } else {
            aniso += 1
        }
        sigmas.push(blur.sigma_x);
        let scale = p.downsample.expect("on").scale;
        assert!(config.downsample.scale.contains(scale));
        assert!(config.noise.sigma.contains(p.noise_sigma.expect("on")));
        let q = p.jpeg_quality.expect("on");
        assert!((60..=100).contains(&q));
    }
    // Isotropic and anisotropic kernels with equal odds; the range is covered end to end.
    assert!(
        (iso as f64 / draws.len() as f64 - 0.5).abs() < 0.04,
        "{iso} isotropic of {}",
        draws.len()
    );
    assert!(aniso > 0);
    let (lo, hi) = sigmas
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
    assert!(lo < 1.1 && hi > 14.9, "sigma draws span [{lo}, {hi}]");
    let qualities: std::collections::BTreeSet<u8> =
        draws.iter().map(|p| p.jpeg_quality.unwrap()).collect();
    assert_eq!(qualities.first(), Some(&60));
    assert_eq!(
        qualities.last(),
        Some(&99),
        "floor(U[60, 100)) as in basicsr"
    );
}

#[test]
fn stage_probabilities_are_honoured() {
    let mut config = DegradationConfig::default();
    config.blur.probability = 0.3;
    config.downsample.probability = 0.0;
    config.noise.probability = 0.7;
    config.jpeg.probability = 1.0;
    let mut rng = stream_rng(12, b"probabilities");
    let n = 5000;
    let draws: Vec<DegradationParams> = (0..n)
        .map(|_| DegradationParams::sample(&config, &mut rng))
        .collect();
    let rate = |f: &dyn Fn(&DegradationParams) -> bool| {
        draws.iter().filter(|p| f(p)).count() as f64 / n as f64
    };
    assert!((rate(&|p| p.blur.is_some()) - 0.3).abs() < 0.03);
    assert_eq!(rate(&|p| p.downsample.is_some()), 0.0);
    assert!((rate(&|p| p.noise_sigma.is_some()) - 0.7).abs() < 0.03);
    assert_eq!(rate(&|p| p.jpeg_quality.is_some()), 1.0);
}

#[test]
fn switching_one_stage_off_does_not_shift_the_others() {
    let on = DegradationConfig::default();
    let mut off = on.clone();
    off.blur.probability = 0.0;
    let a = DegradationParams::sample(&on, &mut stream_rng(5, b"x"));
    let b = DegradationParams::sample(&off, &mut stream_rng(5, b"x"));
    assert!(b.blur.is_none());
    assert_eq!(
        (a.downsample, a.noise_sigma, a.jpeg_quality),
        (b.downsample, b.noise_sigma, b.jpeg_quality)
    );
}

#[test]
fn same_seed_same_bytes_other_seed_other_result() {
    let hq = textured(128, 128);
    let config = DegradationConfig::default();
    let run = |seed, key: &[u8]| degrade_random(&hq, &config, &mut stream_rng(seed, key)).unwrap();
    let (a, pa) = run(42, b"face.png");
    let (b, pb) = run(42, b"face.png");
    assert_eq!(pa, pb);
    assert_eq!(a.as_raw(), b.as_raw(), "identical output for the same seed");
    let (_, pc) = run(43, b"face.png");
    let (_, pd) = run(42, b"other.png");
    assert_ne!(pa, pc);
    assert_ne!(pa, pd);
}
