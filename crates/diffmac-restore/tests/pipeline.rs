//! The DID pipeline on the tiny bundle: Algorithm 1's order with the right tensors,
//! determinism, Stage I only.

use burn::backend::Flex;
use burn::tensor::{Distribution, FloatDType, Tensor};
use diffmac_mib::Injection;
use diffmac_restore::bundle::write_tiny_bundle;
use diffmac_restore::{ModelBundle, PipelineEvent, Quiet, RestoreOptions, Restorer};

type B = Flex;

fn tiny() -> (tempfile::TempDir, ModelBundle<B>) {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    write_tiny_bundle::<B>(dir.path(), 3, false, &device).unwrap();
    let bundle = ModelBundle::load(dir.path(), &device, FloatDType::F32).unwrap();
    (dir, bundle)
}

fn options(steps: usize) -> RestoreOptions {
    RestoreOptions {
        stage1_steps: steps,
        stage2_steps: steps,
        ..RestoreOptions::default()
    }
}

fn faces(n: usize) -> Tensor<B, 4> {
    Tensor::random(
        [n, 3, 64, 64],
        Distribution::Uniform(-1.0, 1.0),
        &Default::default(),
    )
}

fn max_diff(a: &Tensor<B, 4>, b: &Tensor<B, 4>) -> f32 {
    (a.clone() - b.clone()).abs().max().into_scalar()
}

/// What the observer saw, as owned tensors.
#[derive(Debug)]
enum Seen {
    Lq(Tensor<B, 4>),
    Step(u8),
    Latent1(Tensor<B, 4>),
    Image1(Tensor<B, 4>),
    D1(Tensor<B, 4>),
    Id(Tensor<B, 2>),
    Z(Tensor<B, 4>),
    Latent2(Tensor<B, 4>),
    Image2(Tensor<B, 4>),
}

fn record(restorer: &Restorer<'_, B>, lq: Tensor<B, 4>, seed: u64) -> (Vec<Seen>, Tensor<B, 4>) {
    let mut seen = Vec::new();
    let mut observer = |e: &PipelineEvent<'_, B>| {
        seen.push(match e {
            PipelineEvent::LqManifold(t) => Seen::Lq((*t).clone()),
            PipelineEvent::Step { stage, .. } => Seen::Step(*stage),
            PipelineEvent::Stage1Latent(t) => Seen::Latent1((*t).clone()),
            PipelineEvent::Stage1Image(t) => Seen::Image1((*t).clone()),
            PipelineEvent::D1Manifold(t) => Seen::D1((*t).clone()),
            PipelineEvent::Identity(t) => Seen::Id((*t).clone()),
            PipelineEvent::Bottleneck(t) => Seen::Z((*t).clone()),
            PipelineEvent::Stage2Latent(t) => Seen::Latent2((*t).clone()),
            PipelineEvent::Stage2Image(t) => Seen::Image2((*t).clone()),
        })
    };
    let out = restorer.restore(lq, None, seed, &mut observer).unwrap();
    (seen, out.output().clone())
}

/// The names of the events seen, in order.
fn kinds(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| format!("{s:?}").split('(').next().unwrap().to_string())
        .collect()
}

#[test]
fn stages_run_in_algorithm_1_order_on_the_right_tensors() {
    let (_dir, bundle) = tiny();
    let restorer = Restorer::new(&bundle, options(3)).unwrap();
    let lq = faces(2);
    let (seen, output) = record(&restorer, lq.clone(), 11);

    let kinds = kinds(&seen);
    let expected = [
        "Lq", "Step", "Step", "Step", "Latent1", "Image1", "D1", "Id", "Z", "Step", "Step", "Step",
        "Latent2", "Image2",
    ];
    assert_eq!(kinds, expected);
    let steps: Vec<u8> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Step(k) => Some(*k),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [1, 1, 1, 2, 2, 2]);

    let get4 = |i: usize| match &seen[i] {
        Seen::Lq(t)
        | Seen::Latent1(t)
        | Seen::Image1(t)
        | Seen::D1(t)
        | Seen::Z(t)
        | Seen::Latent2(t)
        | Seen::Image2(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    let scale = bundle.vae.scaling_factor;
    // Line 4: R = E(X_LQ).
    assert!(max_diff(&get4(0), &bundle.vae.moments(lq)) < 1e-5);
    // Line 12: X_D1 = D(z̃₀¹).
    let x_d1 = get4(5);
    let decoded = bundle.vae.decode(get4(4) / scale).clamp(-1.0, 1.0);
    assert!(max_diff(&x_d1, &decoded) < 1e-5);
    // Line 16: R = E(X_D1).
    let r = get4(6);
    assert!(max_diff(&r, &bundle.vae.moments(x_d1.clone())) < 1e-5);
    // Line 18: the identity of X_D1.
    let Seen::Id(id) = &seen[7] else { panic!() };
    let own = restorer.identity_of(x_d1).unwrap();
    assert_eq!(id.dims(), [2, 32]);
    assert!((id.clone() - own).abs().max().into_scalar() < 1e-5);
    // Line 21: Z = MIB(R, identity).
    let z = bundle
        .mib
        .as_ref()
        .unwrap()
        .forward(r, Injection::Identity(id.clone()))
        .unwrap()
        .z;
    assert!(max_diff(&get4(8), &z) < 1e-5);
    // Line 32: X_D2 = D(z̃₀²), the output.
    let x_d2 = bundle.vae.decode(get4(12) / scale).clamp(-1.0, 1.0);
    assert!(max_diff(&get4(13), &x_d2) < 1e-5);
    assert!(max_diff(&output, &x_d2) < 1e-6);
    assert_eq!(output.dims(), [2, 3, 64, 64]);
}

#[test]
fn equal_seeds_give_equal_results_and_other_seeds_differ() {
    let (_dir, bundle) = tiny();
    let restorer = Restorer::new(&bundle, options(2)).unwrap();
    let lq = faces(1);
    let a = restorer.restore(lq.clone(), None, 5, &mut Quiet).unwrap();
    let b = restorer.restore(lq.clone(), None, 5, &mut Quiet).unwrap();
    let c = restorer.restore(lq, None, 6, &mut Quiet).unwrap();
    assert_eq!(max_diff(a.output(), b.output()), 0.0);
    assert!(max_diff(a.output(), c.output()) > 1e-4);
}

#[test]
fn stage_one_only_stops_after_x_d1() {
    let (_dir, bundle) = tiny();
    let restorer = Restorer::new(
        &bundle,
        RestoreOptions {
            stage1_only: true,
            ..options(2)
        },
    )
    .unwrap();
    let (seen, output) = record(&restorer, faces(1), 1);
    assert!(matches!(seen.last(), Some(Seen::Image1(_))));
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, Seen::Z(_) | Seen::Image2(_)))
    );
    assert_eq!(output.dims(), [1, 3, 64, 64]);
}

#[test]
fn a_reference_identity_replaces_the_faces_own() {
    let (_dir, bundle) = tiny();
    let restorer = Restorer::new(&bundle, options(1)).unwrap();
    let reference = restorer.identity_of(faces(1)).unwrap();
    let mut ids = Vec::new();
    let mut observer = |e: &PipelineEvent<'_, B>| {
        if let PipelineEvent::Identity(t) = e {
            ids.push((*t).clone());
        }
    };
    restorer
        .restore(faces(2), Some(reference.clone()), 1, &mut observer)
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].dims(), [1, 32]);
    assert!((ids[0].clone() - reference).abs().max().into_scalar() == 0.0);
}

#[test]
fn wrong_face_sizes_are_refused() {
    let (_dir, bundle) = tiny();
    let restorer = Restorer::new(&bundle, options(1)).unwrap();
    let err = restorer
        .restore(
            Tensor::zeros([1, 3, 32, 32], &Default::default()),
            None,
            0,
            &mut Quiet,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("[N, 3, 64, 64]"), "{err}");
}

/// Options that use every random stream: noise injection draws from the per-face stream, a
/// strength below 1 noises each stage's input latent, and the default starts from noise.
fn stochastic_options() -> [RestoreOptions; 2] {
    [
        options(2),
        RestoreOptions {
            injection: Some(diffmac_mib::InjectionKind::Noise),
            strength: 0.6,
            ..options(3)
        },
    ]
}

/// Stage I's final latent, the bottleneck's Z (which holds the injected noise), Stage II's
/// final latent and the output, with per-face `seeds` or else one `seed`.
fn run_seeded(
    restorer: &Restorer<'_, B>,
    lq: Tensor<B, 4>,
    seeds: Option<&[u64]>,
    seed: u64,
) -> [Tensor<B, 4>; 4] {
    let mut latents = Vec::new();
    let mut observer = |e: &PipelineEvent<'_, B>| {
        if let PipelineEvent::Stage1Latent(t)
        | PipelineEvent::Bottleneck(t)
        | PipelineEvent::Stage2Latent(t) = e
        {
            latents.push((*t).clone());
        }
    };
    let out = match seeds {
        Some(seeds) => restorer.restore_seeded(lq, None, seeds, &mut observer),
        None => restorer.restore(lq, None, seed, &mut observer),
    }
    .unwrap();
    let [z1, z, z2] = <[_; 3]>::try_from(latents).unwrap();
    [z1, z, z2, out.output().clone()]
}

/// A batch restored with per-face seeds [s1, s2] gives each face what restoring it alone
/// with its seed gives (up to the rounding of batched kernels), unlike one shared seed. The
/// latents are compared too: the tiny model's decoder damps differences of the noise.
#[test]
fn a_batch_with_per_face_seeds_equals_each_face_restored_alone() {
    let (_dir, bundle) = tiny();
    let lq = faces(2);
    let seeds = [21, 9_000_000_000_000_000_007];
    for options in stochastic_options() {
        let restorer = Restorer::new(&bundle, options.clone()).unwrap();
        let batch = run_seeded(&restorer, lq.clone(), Some(&seeds), 0);
        let shared = run_seeded(&restorer, lq.clone(), None, seeds[1]);
        for (i, &seed) in seeds.iter().enumerate() {
            let alone = run_seeded(&restorer, lq.clone().narrow(0, i, 1), None, seed);
            for (what, (b, a)) in ["z1", "Z", "z2", "output"]
                .iter()
                .zip(batch.iter().zip(&alone))
            {
                let d = max_diff(&b.clone().narrow(0, i, 1), a);
                assert!(d < 1e-4, "{options:?}, face {i}, {what}: {d}");
            }
            if i == 1 {
                // The second face of a shared-seed batch draws other noise than alone.
                let d = max_diff(&shared[2].clone().narrow(0, 1, 1), &alone[2]);
                assert!(d > 1e-2, "{options:?}: {d}");
            }
        }
    }
}

/// For one face, per-face seeding is `restore` bit for bit (single-face results unchanged).
#[test]
fn one_per_face_seed_is_restore_bit_for_bit() {
    let (_dir, bundle) = tiny();
    let lq = faces(1);
    for options in stochastic_options() {
        let restorer = Restorer::new(&bundle, options).unwrap();
        let seeded = restorer
            .restore_seeded(lq.clone(), None, &[33], &mut Quiet)
            .unwrap();
        let plain = restorer.restore(lq.clone(), None, 33, &mut Quiet).unwrap();
        assert_eq!(max_diff(&seeded.stage1, &plain.stage1), 0.0);
        assert_eq!(max_diff(seeded.output(), plain.output()), 0.0);
    }
}

#[test]
fn per_face_seeds_must_match_the_faces() {
    let (_dir, bundle) = tiny();
    let restorer = Restorer::new(&bundle, options(1)).unwrap();
    let err = restorer
        .restore_seeded(faces(2), None, &[1], &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 seeds for a batch of 2"), "{err}");
}

/// The tiny bundle in `dir` turned into a 2AdaIN one (Table 3): Stage II without a
/// bottleneck, and without the identity encoder, which such a model does not need. (Derived
/// from a written bundle: random draws of tests running in parallel share one generator.)
fn to_two_adain(dir: &std::path::Path) -> ModelBundle<B> {
    use diffmac_restore::bundle::{BundleConfig, Stage2Variant};
    let device = Default::default();
    let mut config = BundleConfig::load(dir).unwrap();
    // Random γ/β for Stage II's control (the tiny bundle's are zero), so that what it reads
    // changes the result and the test below sees it.
    let stage2 = config.stage2.as_ref().unwrap();
    let path = dir.join(&stage2.control);
    let mut control = diffmac_ldm::load_module_file(
        stage2.control_config.init::<B>(&device),
        &path,
        FloatDType::F32,
    )
    .unwrap();
    for conv in control.gamma.iter_mut().chain(control.beta.iter_mut()) {
        let shape = conv.weight.val().shape();
        conv.weight = burn::module::Param::from_tensor(Tensor::random(
            shape,
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
    }
    diffmac_ldm::save_module(&control, &path).unwrap();
    config.mib = None;
    config.identity = None;
    config.stage2_variant = Stage2Variant::TwoAdain;
    config.save(dir).unwrap();
    for file in ["mib.safetensors", "identity.safetensors"] {
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    let bundle = ModelBundle::load(dir, &device, FloatDType::F32).unwrap();
    assert!(bundle.mib.is_none() && bundle.identity.is_none());
    bundle
}

/// A 2AdaIN Stage II reads `E(X_D1)` itself: no identity or bottleneck event, and its final
/// latent is what sampling Stage II from the `D1Manifold` reading gives, with the posterior
/// draw the trainer's 2AdaIN step makes (the draw after Stage I's, from the same stream).
#[test]
fn a_two_adain_model_feeds_e_of_x_d1_to_stage_two() {
    use diffmac_ldm::ManifoldInput;
    use diffmac_ldm::sample_stage;
    use diffmac_sampler::{BatchNoise, Init, Sampler, SpacedSchedule, Spacing};

    let (dir, _) = tiny();
    let bundle = to_two_adain(dir.path());
    let restorer = Restorer::new(&bundle, options(3)).unwrap();
    let lq = faces(2);
    let seed = 11;
    let (seen, output) = record(&restorer, lq.clone(), seed);
    let kinds = kinds(&seen);
    let expected = [
        "Lq", "Step", "Step", "Step", "Latent1", "Image1", "D1", "Step", "Step", "Step", "Latent2",
        "Image2",
    ];
    assert_eq!(kinds, expected);
    assert_eq!(output.dims(), [2, 3, 64, 64]);

    // Deterministic.
    let (_, again) = record(&restorer, lq.clone(), seed);
    assert_eq!(max_diff(&output, &again), 0.0);

    let (Seen::Lq(r_lq), Seen::Image1(x_d1), Seen::D1(r), Seen::Latent2(z2)) =
        (&seen[0], &seen[5], &seen[6], &seen[10])
    else {
        panic!("{seen:?}")
    };
    assert!(max_diff(r, &bundle.vae.moments(x_d1.clone())) < 1e-5);
    let input = bundle.config.stage2.as_ref().unwrap().control_config.input;
    assert_eq!(input, ManifoldInput::Sample, "the tiny bundle's default");
    // The pipeline's posterior stream: Stage I's reading draws first, Stage II's second.
    let mut posterior = BatchNoise::shared(seed ^ 0x9E37_79B9_7F4A_7C15);
    let [n, c, h, w] = r.dims();
    let mut draw = || {
        posterior
            .gaussian::<B, 4>([n, c / 2, h, w], &Default::default())
            .unwrap()
    };
    let stage1 = draw();
    let stage2 = draw();
    let sampler = Sampler::new(
        SpacedSchedule::new(&bundle.schedule, &Spacing::Sections(vec![3])).unwrap(),
        bundle.config.scheduler.prediction().unwrap(),
        RestoreOptions::default().sampler.method(),
    )
    .unwrap();
    let stage = bundle.stage2.as_ref().unwrap();
    let sample = |control_input: Tensor<B, 4>| {
        let init = Init::Noise {
            shape: [n, c / 2, h, w],
            options: (&r.device(), burn::tensor::DType::F32).into(),
        };
        sample_stage(
            &stage.unet,
            &stage.control,
            control_input,
            bundle.context.clone(),
            &sampler,
            init,
            seed + 1,
            |_| {},
        )
        .unwrap()
    };
    let want = sample(input.read(r.clone(), Some(stage2.clone())));
    assert_eq!(max_diff(z2, &want), 0.0);
    // What a wrong pipeline could feed gives another latent. The tiny VAE's manifold hardly
    // depends on the image, so the differences are small, but the sampling is exact.
    let others = [
        ("E(X_LQ)", input.read(r_lq.clone(), Some(stage2))),
        ("Stage I's draw", input.read(r.clone(), Some(stage1))),
        ("the mean", ManifoldInput::Mean.read(r.clone(), None)),
    ];
    for (what, other) in others {
        assert!(max_diff(z2, &sample(other)) > 0.0, "{what}");
    }
}

/// Stage I does not depend on Stage II's variant (same result, same draws); a 2AdaIN model refuses what only a
/// bottleneck uses (an injection setting, a reference identity) instead of ignoring it.
#[test]
fn a_two_adain_model_keeps_stage_one_and_refuses_injection_options() {
    let (dir, plain) = tiny();
    let two = to_two_adain(dir.path());
    let lq = faces(1);
    let a = Restorer::new(&plain, options(2))
        .unwrap()
        .restore(lq.clone(), None, 4, &mut Quiet)
        .unwrap();
    let restorer = Restorer::new(&two, options(2)).unwrap();
    let b = restorer.restore(lq.clone(), None, 4, &mut Quiet).unwrap();
    assert_eq!(max_diff(&a.stage1, &b.stage1), 0.0);

    let with_noise = RestoreOptions {
        injection: Some(diffmac_mib::InjectionKind::Noise),
        ..options(1)
    };
    let err = Restorer::new(&two, with_noise.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("2AdaIN") && err.contains("noise"), "{err}");
    // Stage I alone never reaches the bottleneck, so the setting does not matter there.
    let stage1_only = RestoreOptions {
        stage1_only: true,
        ..with_noise
    };
    assert!(Restorer::new(&two, stage1_only).is_ok());

    let reference = Tensor::<B, 2>::zeros([1, 32], &Default::default());
    let err = restorer
        .restore(lq, Some(reference), 4, &mut Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reference identity") && err.contains("2AdaIN"),
        "{err}"
    );
}

/// The tiny bundle in `dir` turned into a "no1" one (Table 3): Stage II trained on `X_LQ`
/// without Stage I.
fn to_no_stage1(dir: &std::path::Path) -> ModelBundle<B> {
    use diffmac_restore::bundle::{BundleConfig, Stage2Variant};
    let mut config = BundleConfig::load(dir).unwrap();
    config.stage2_variant = Stage2Variant::NoStage1;
    config.save(dir).unwrap();
    ModelBundle::load(dir, &Default::default(), FloatDType::F32).unwrap()
}

/// A "no1" model restores `X_LQ` with Stage II alone: no Stage I step, and the identity and
/// the bottleneck read the input.
#[test]
fn a_no_stage1_model_restores_the_input_with_stage_two_alone() {
    let (dir, plain) = tiny();
    let one = faces(1);
    let plain_stage1 = Restorer::new(
        &plain,
        RestoreOptions {
            stage1_only: true,
            ..options(2)
        },
    )
    .unwrap()
    .restore(one.clone(), None, 3, &mut Quiet)
    .unwrap();
    drop(plain);
    let bundle = to_no_stage1(dir.path());
    let restorer = Restorer::new(&bundle, options(3)).unwrap();
    let lq = faces(2);
    let (seen, output) = record(&restorer, lq.clone(), 11);
    let kinds = kinds(&seen);
    let expected = ["Lq", "Id", "Z", "Step", "Step", "Step", "Latent2", "Image2"];
    assert_eq!(kinds, expected);
    let (Seen::Lq(r), Seen::Id(id), Seen::Z(z)) = (&seen[0], &seen[1], &seen[2]) else {
        panic!("{seen:?}")
    };
    // The bottleneck reads R = E(X_LQ) with the identity of X_LQ.
    assert!(max_diff(r, &bundle.vae.moments(lq.clone())) < 1e-5);
    let own = restorer.identity_of(lq.clone()).unwrap();
    assert!((id.clone() - own).abs().max().into_scalar() < 1e-5);
    let want = bundle
        .mib
        .as_ref()
        .unwrap()
        .forward(r.clone(), Injection::Identity(id.clone()))
        .unwrap()
        .z;
    assert!(max_diff(z, &want) < 1e-5);
    // X_D1 of a no1 model is the input (up to the colour fix of the input by itself).
    let restored = restorer.restore(lq.clone(), None, 11, &mut Quiet).unwrap();
    assert!(max_diff(&restored.stage1, &lq) < 1e-4);
    assert_eq!(max_diff(restored.output(), &output), 0.0);

    // Asked for Stage I alone, the model still has one and runs it as any bundle does.
    let stage1_only = Restorer::new(
        &bundle,
        RestoreOptions {
            stage1_only: true,
            ..options(2)
        },
    )
    .unwrap();
    let (seen, output) = record(&stage1_only, one, 3);
    assert!(matches!(seen.last(), Some(Seen::Image1(_))));
    assert_eq!(max_diff(&output, &plain_stage1.stage1), 0.0);
}

/// The injection option reaches the bottleneck: no identity is computed for noise or no
/// injection, and `Z` is the bottleneck's output for that injection, unlike identity's.
#[test]
fn the_injection_option_decides_what_the_bottleneck_injects() {
    let (_dir, bundle) = tiny();
    let lq = faces(1);
    let z_of = |injection| {
        let restorer = Restorer::new(
            &bundle,
            RestoreOptions {
                injection,
                ..options(1)
            },
        )
        .unwrap();
        let (seen, _) = record(&restorer, lq.clone(), 3);
        let ids = seen.iter().filter(|s| matches!(s, Seen::Id(_))).count();
        let find = |f: fn(&Seen) -> Option<Tensor<B, 4>>| seen.iter().find_map(f).unwrap();
        let z = find(|s| match s {
            Seen::Z(t) => Some(t.clone()),
            _ => None,
        });
        let r = find(|s| match s {
            Seen::D1(t) => Some(t.clone()),
            _ => None,
        });
        (ids, z, r)
    };
    let (ids, z_identity, _) = z_of(None);
    assert_eq!(ids, 1);
    let (ids, z_none, r) = z_of(Some(diffmac_mib::InjectionKind::None));
    assert_eq!(ids, 0);
    let expected = bundle
        .mib
        .as_ref()
        .unwrap()
        .forward(r, Injection::None)
        .unwrap()
        .z;
    assert!(max_diff(&z_none, &expected) < 1e-6);
    assert!(max_diff(&z_none, &z_identity) > 1e-3);
    let (ids, z_noise, _) = z_of(Some(diffmac_mib::InjectionKind::Noise));
    assert_eq!(ids, 0);
    assert!(max_diff(&z_noise, &z_none) > 1e-3);
}
