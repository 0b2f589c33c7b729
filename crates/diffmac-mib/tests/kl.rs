//! `L_info` (eq. 11): non-negative, and the KL divergence it claims to be.

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use diffmac_mib::kl_elements;

type B = burn::backend::Flex;

fn dev() -> burn::tensor::Device<B> {
    Default::default()
}

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec().expect("f64")
}

fn kl(logit: f32, f_r: f32) -> f64 {
    let a = Tensor::<B, 1>::from_data(TensorData::new(vec![logit], [1]), &dev());
    let f = Tensor::<B, 1>::from_data(TensorData::new(vec![f_r], [1]), &dev());
    values(kl_elements(a, f))[0]
}

#[test]
fn kl_is_non_negative_and_finite() {
    let logits: Vec<f32> = (-60..=60).map(|i| i as f32 * 0.5).collect();
    let frs: Vec<f32> = (-20..=20).map(|i| i as f32 * 0.5).collect();
    let n = logits.len() * frs.len();
    let a: Vec<f32> = logits
        .iter()
        .flat_map(|&l| frs.iter().map(move |_| l))
        .collect();
    let f: Vec<f32> = logits.iter().flat_map(|_| frs.iter().copied()).collect();
    let k = values(kl_elements(
        Tensor::<B, 1>::from_data(TensorData::new(a, [n]), &dev()),
        Tensor::<B, 1>::from_data(TensorData::new(f, [n]), &dev()),
    ));
    assert!(
        k.iter().all(|v| v.is_finite() && *v >= -1e-6),
        "min {:?}",
        k.iter().cloned().fold(f64::MAX, f64::min)
    );
    // λ → 0 is the prior itself: no information passes.
    assert!(kl(-30.0, 3.0).abs() < 1e-6);
    // λ → 1 stays finite (softplus form) and grows with the logit.
    assert!(kl(30.0, 0.0) > 29.0 && kl(30.0, 0.0).is_finite());
}

/// Closed form against a Monte-Carlo estimate of E_q[log q(Z|R) − log p(Z)] in the raw
/// (un-normalised) manifold, with q = N(λR + (1−λ)μ, (1−λ)²σ²) and p = N(μ, σ²).
#[test]
fn kl_matches_monte_carlo() {
    B::seed(&dev(), 20_240_611);
    const N: usize = 200_000;
    let noise = values(Tensor::<B, 1>::random(
        [N],
        Distribution::Normal(0.0, 1.0),
        &dev(),
    ));
    let log_normal = |x: f64, m: f64, s: f64| -0.5 * ((x - m) / s).powi(2) - s.ln();
    for (logit, r, mu, sigma) in [
        (0.0f32, 1.0f64, 0.0f64, 1.0f64),
        (2.0, -3.0, 0.5, 0.7),
        (-1.5, 2.0, -1.0, 2.5),
        (4.0, 0.3, 0.2, 0.05),
    ] {
        let lambda = 1.0 / (1.0 + (-f64::from(logit)).exp());
        let (qm, qs) = (lambda * r + (1.0 - lambda) * mu, (1.0 - lambda) * sigma);
        let mc = noise
            .iter()
            .map(|n| {
                let z = qm + qs * n;
                log_normal(z, qm, qs) - log_normal(z, mu, sigma)
            })
            .sum::<f64>()
            / N as f64;
        let closed = kl(logit, ((r - mu) / sigma) as f32);
        let tol = 0.01 + 0.02 * closed.abs();
        assert!(
            (closed - mc).abs() < tol,
            "logit {logit}: closed {closed:.5}, MC {mc:.5}"
        );
        eprintln!("logit {logit}: closed form {closed:.5}, Monte Carlo {mc:.5}");
    }
}
