//! The bottleneck's forward pass (eqs. 7–9, Algorithm 1 lines 17–21).

use burn::module::Param;
use burn::tensor::{Distribution, Tensor};
use diffmac_mib::{Injection, InjectionKind, ManifoldBottleneck, MibConfig, MibError, QcStats};

type B = burn::backend::Flex;

fn dev() -> burn::tensor::Device<B> {
    Default::default()
}

fn stats() -> QcStats {
    QcStats {
        mean: vec![0.5, -0.2, 0.1, 0.0, -3.0, -2.5, -2.0, -1.0],
        // One std below the floor o = 0.01.
        std: vec![1.2, 0.8, 0.001, 2.0, 0.5, 0.4, 0.3, 0.2],
        count: 1,
        images: 1,
    }
}

fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32")
}

fn max_diff<const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    values(a)
        .iter()
        .zip(values(b))
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn normal<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &dev())
}

fn mib(kind: InjectionKind) -> ManifoldBottleneck<B> {
    MibConfig {
        identity_dim: 16,
        injection: kind,
        ..MibConfig::default()
    }
    .init(&stats(), &dev())
    .expect("init")
}

/// Forces the filter to a constant logit everywhere.
fn with_constant_filter(mut m: ManifoldBottleneck<B>, logit: f32) -> ManifoldBottleneck<B> {
    let w = m.filter.conv.weight.val();
    m.filter.conv.weight = Param::from_tensor(w.zeros_like());
    m.filter.conv.bias = Some(Param::from_tensor(Tensor::full([8], logit, &dev())));
    m
}

#[test]
fn defaults_are_the_papers() {
    let c = MibConfig::default();
    assert_eq!(
        (c.channels, c.min_std, c.lambda_info, c.lambda_rec),
        (8, 0.01, 0.001, 1.0)
    );
    assert_eq!(c.injection, InjectionKind::Identity);
    let partial: MibConfig = serde_json::from_str(r#"{"injection": "noise", "lambda_info": 0.1}"#)
        .expect("partial config");
    assert_eq!(
        (partial.injection, partial.lambda_info, partial.lambda_rec),
        (InjectionKind::Noise, 0.1, 1.0)
    );
    assert!(serde_json::from_str::<MibConfig>(r#"{"beta": 0.1}"#).is_err());
}

#[test]
fn normalisation_uses_the_std_floor() {
    let m = mib(InjectionKind::Identity);
    assert_eq!(values(m.qc_std.val())[2], 0.01);
    let held = m.qc_stats();
    assert_eq!(held.std[2] as f32, 0.01);
    assert_eq!(held.mean[4] as f32, -3.0);
    let r = normal([2, 8, 3, 3]);
    let f = values(m.normalise(r.clone()));
    let rv = values(r);
    let s = stats();
    for (i, (f, r)) in f.iter().zip(&rv).enumerate() {
        let ch = (i / 9) % 8;
        let want = (f64::from(*r) - s.mean[ch]) / s.std[ch].max(0.01);
        assert!(
            (f64::from(*f) - want).abs() < 1e-4 * want.abs().max(1.0),
            "{i}"
        );
    }
}

#[test]
fn shapes_for_a_batch_with_every_injection() {
    for (kind, inj) in [
        (
            InjectionKind::Identity,
            Injection::Identity(normal([3, 16])),
        ),
        (InjectionKind::Noise, Injection::Noise(normal([3, 8, 5, 7]))),
        (InjectionKind::None, Injection::None),
    ] {
        assert_eq!(inj.kind(), kind);
        let out = mib(kind)
            .forward(normal([3, 8, 5, 7]), inj)
            .expect("forward");
        assert_eq!(out.z_distribution().mean.dims(), [3, 4, 5, 7]);
        for t in [
            out.z.clone(),
            out.lambda.clone(),
            out.lambda_logits,
            out.f_r,
            out.f_n,
        ] {
            assert_eq!(t.dims(), [3, 8, 5, 7], "{kind:?}");
        }
        let l = values(out.lambda);
        assert!(l.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn lambda_one_keeps_r_and_lambda_zero_gives_f_n() {
    let r = normal([2, 8, 4, 4]);
    let emb = normal([2, 16]);
    // sigmoid(40) rounds to 1 in f32: Z is R itself.
    let keep = with_constant_filter(mib(InjectionKind::Identity), 40.0);
    let out = keep
        .forward(r.clone(), Injection::Identity(emb.clone()))
        .expect("forward");
    assert_eq!(values(out.z), values(r.clone()));
    // λ = sigmoid(−40) ≈ 4e-18: Z is F_N.
    let drop = with_constant_filter(mib(InjectionKind::Identity), -40.0);
    let out = drop
        .forward(r.clone(), Injection::Identity(emb))
        .expect("forward");
    assert!(max_diff(out.z, out.f_n) < 1e-6);
    // Without injection Z vanishes; with noise it is μ_QC + σ·n.
    let none = with_constant_filter(mib(InjectionKind::None), -40.0);
    let out = none.forward(r.clone(), Injection::None).expect("forward");
    assert!(values(out.z).iter().all(|v| v.abs() < 1e-6));
    let noisy = with_constant_filter(mib(InjectionKind::Noise), -40.0);
    let n = normal([2, 8, 4, 4]);
    let out = noisy
        .forward(r, Injection::Noise(n.clone()))
        .expect("forward");
    let want =
        n * noisy.qc_std.val().reshape([1, 8, 1, 1]) + noisy.qc_mean.val().reshape([1, 8, 1, 1]);
    assert!(max_diff(out.z, want) < 1e-6);
}

/// Line 19: F_N = F_R · σ_ID + μ_ID, σ_ID the scale from `fc_sigma`, μ_ID the shift.
#[test]
fn identity_injection_is_line_19() {
    let m = mib(InjectionKind::Identity);
    let r = normal([2, 8, 3, 3]);
    let emb = normal([2, 16]);
    let out = m
        .forward(r, Injection::Identity(emb.clone()))
        .expect("forward");
    let id = m.identity.as_ref().expect("identity layers");
    let (sigma, mu) = (
        values(id.fc_sigma.forward(emb.clone())),
        values(id.fc_mu.forward(emb)),
    );
    let (f_r, f_n) = (values(out.f_r), values(out.f_n));
    for i in 0..f_r.len() {
        let (b, ch) = (i / 72, (i / 9) % 8);
        let want = f_r[i] * sigma[b * 8 + ch] + mu[b * 8 + ch];
        assert!((f_n[i] - want).abs() < 1e-5, "{i}");
    }
    // Eq. 9 element by element.
    let (z, l) = (values(out.z), values(out.lambda));
    let (std, mean) = (values(m.qc_std.val()), values(m.qc_mean.val()));
    let r_back: Vec<f32> = f_r
        .iter()
        .enumerate()
        .map(|(i, f)| f * std[(i / 9) % 8] + mean[(i / 9) % 8])
        .collect();
    for i in 0..z.len() {
        let want = l[i] * r_back[i] + (1.0 - l[i]) * f_n[i];
        assert!((z[i] - want).abs() < 1e-4, "{i}");
    }
}

/// Fig. 10: one reference face's identity for every sample of the batch.
#[test]
fn reference_identity_broadcasts_over_the_batch() {
    let m = mib(InjectionKind::Identity);
    let r = normal([3, 8, 4, 4]);
    let reference = normal([1, 16]);
    let once = m
        .forward(r.clone(), Injection::Identity(reference.clone()))
        .expect("forward");
    let repeated = m
        .forward(r, Injection::Identity(reference.repeat_dim(0, 3)))
        .expect("forward");
    // Equal up to the rounding of the batched kernels (a batch of 1 and of 3 may take
    // different GEMM blockings).
    let (once, repeated) = (values(once.z), values(repeated.z));
    let scale = repeated.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = once
        .iter()
        .zip(&repeated)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-6 * scale, "max difference {worst:e} of {scale}");
}

#[test]
fn mismatched_inputs_are_errors() {
    let m = mib(InjectionKind::Identity);
    let bad =
        |r: [usize; 4], inj| matches!(m.forward(normal(r), inj), Err(MibError::InvalidInput(_)));
    assert!(bad([2, 4, 3, 3], Injection::None));
    assert!(bad([2, 8, 3, 3], Injection::Identity(normal([2, 15]))));
    assert!(bad([2, 8, 3, 3], Injection::Identity(normal([3, 16]))));
    assert!(bad([2, 8, 3, 3], Injection::Noise(normal([2, 8, 3, 4]))));
    let plain = mib(InjectionKind::None);
    assert!(plain.identity.is_none());
    assert!(matches!(
        plain.forward(normal([1, 8, 2, 2]), Injection::Identity(normal([1, 16]))),
        Err(MibError::InvalidInput(_))
    ));
    let mut s = stats();
    s.mean.pop();
    assert!(matches!(
        MibConfig::default().init::<B>(&s, &dev()),
        Err(MibError::Invalid(_))
    ));
    let even = MibConfig {
        filter_kernel: 2,
        ..MibConfig::default()
    };
    assert!(matches!(
        even.init::<B>(&stats(), &dev()),
        Err(MibError::Invalid(_))
    ));
}
