//! The sampling loop's contract: seeds, callbacks, starting points, guidance cost, errors.

mod common;

use burn::tensor::{DType, Tensor};
use common::{B, max_abs_err, tensor, values};
use diffmac_sampler::ddim::ddim_step;
use diffmac_sampler::ddpm::ddpm_step;
use diffmac_sampler::prediction::{eps_from_v, eps_from_x0, v_from_x0_eps, x0_from_v};
use diffmac_sampler::{
    Condition, Denoiser, FinalAlpha, Guidance, Init, Method, NoiseRng, NoiseSchedule,
    PredictionType, Sampler, SamplerError, Spacing, VarianceType, add_noise, x0_from_eps,
};

const SHAPE: [usize; 4] = [2, 4, 8, 8];

fn noise_init(dtype: DType) -> Init<B, 4> {
    Init::Noise {
        shape: SHAPE,
        options: (&Default::default(), dtype).into(),
    }
}

/// A denoiser that predicts a fixed fraction of its input, different per guidance branch, and
/// records every call.
#[derive(Default)]
struct Recorder {
    calls: Vec<(usize, Condition)>,
}

impl Denoiser<B, 4> for Recorder {
    fn predict(
        &mut self,
        x_t: Tensor<B, 4>,
        timestep: usize,
        condition: Condition,
    ) -> Tensor<B, 4> {
        self.calls.push((timestep, condition));
        match condition {
            Condition::Conditional => x_t.mul_scalar(0.3),
            Condition::Unconditional => x_t.mul_scalar(0.1),
        }
    }
}

#[test]
fn equal_seeds_give_equal_samples() {
    for method in [Method::Ddpm(VarianceType::FixedSmall), Method::ddim(0.5)] {
        let sampler = Sampler::new(
            Sampler::paper().schedule().clone(),
            PredictionType::Epsilon,
            method,
        )
        .unwrap();
        let mut model = |x: Tensor<B, 4>, _: usize| x.mul_scalar(0.2);
        let a = values(
            sampler
                .sample(&mut model, noise_init(DType::F32), 7, |_| {})
                .unwrap(),
        );
        let b = values(
            sampler
                .sample(&mut model, noise_init(DType::F32), 7, |_| {})
                .unwrap(),
        );
        let c = values(
            sampler
                .sample(&mut model, noise_init(DType::F32), 8, |_| {})
                .unwrap(),
        );
        assert_eq!(a, b, "{method:?}");
        assert!(
            max_abs_err(&a, &c) > 1e-3,
            "{method:?}: the seed must matter"
        );
    }
}

#[test]
fn callback_sees_every_step_in_order() {
    let sampler = Sampler::paper();
    let mut seen = Vec::new();
    let mut model = Recorder::default();
    let out = sampler
        .sample(&mut model, noise_init(DType::F32), 0, |info| {
            assert_eq!(info.total, 50);
            assert_eq!(info.sample.dims(), SHAPE);
            assert_eq!(info.pred_x0.dims(), SHAPE);
            seen.push((info.step, info.index, info.timestep));
        })
        .unwrap();
    let expected: Vec<(usize, usize, usize)> = (1..=50)
        .map(|step| (step, 50 - step, sampler.schedule().timesteps()[50 - step]))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(out.dims(), SHAPE);
    // The denoiser saw the original timesteps, from 999 down to 0.
    assert_eq!(model.calls.first().unwrap().0, 999);
    assert_eq!(model.calls.last().unwrap().0, 0);
}

#[test]
fn guidance_scale_one_costs_one_call_per_step() {
    let mut model = Recorder::default();
    Sampler::paper()
        .sample(&mut model, noise_init(DType::F32), 0, |_| {})
        .unwrap();
    assert_eq!(model.calls.len(), 50);
    assert!(
        model
            .calls
            .iter()
            .all(|(_, c)| *c == Condition::Conditional)
    );

    let mut model = Recorder::default();
    let guided = Sampler::paper().with_guidance(Guidance::new(7.5).unwrap());
    guided
        .sample(&mut model, noise_init(DType::F32), 0, |_| {})
        .unwrap();
    assert_eq!(model.calls.len(), 100);
}

#[test]
fn guidance_scale_zero_makes_only_the_unconditional_call() {
    let x = NoiseRng::new(3).gaussian::<B, 4>(SHAPE, (&Default::default(), DType::F64));
    let mut model = Recorder::default();
    let out = Guidance::new(0.0)
        .unwrap()
        .predict(&mut model, x.clone(), 500);
    assert_eq!(model.calls, vec![(500, Condition::Unconditional)]);
    assert!(max_abs_err(&values(out), &values(x.mul_scalar(0.1))) < 1e-12);
    assert!(!Guidance::new(0.0).unwrap().is_active());

    let mut model = Recorder::default();
    Sampler::paper()
        .with_guidance(Guidance::new(0.0).unwrap())
        .sample(&mut model, noise_init(DType::F32), 0, |_| {})
        .unwrap();
    assert_eq!(model.calls.len(), 50);
    assert!(
        model
            .calls
            .iter()
            .all(|(_, c)| *c == Condition::Unconditional)
    );
}

#[test]
fn guidance_combines_the_two_branches() {
    let x = NoiseRng::new(3).gaussian::<B, 4>(SHAPE, (&Default::default(), DType::F64));
    let guided = Guidance::new(4.0)
        .unwrap()
        .predict(&mut Recorder::default(), x.clone(), 500);
    // uncond + 4 (cond − uncond) = 0.1 x + 4 · 0.2 x = 0.9 x
    let expected = values(x.mul_scalar(0.9));
    assert!(max_abs_err(&values(guided), &expected) < 1e-12);
}

#[test]
fn starting_from_a_latent_runs_only_the_last_steps() {
    let sampler = Sampler::paper();
    let steps = sampler.schedule().steps_for_strength(0.4).unwrap();
    assert_eq!(steps, 20);
    let latent = NoiseRng::new(1).gaussian::<B, 4>(SHAPE, &Default::default());
    let mut model = Recorder::default();
    let mut count = 0;
    sampler
        .sample(
            &mut model,
            Init::Latent {
                latent: latent.clone(),
                steps,
            },
            0,
            |info| {
                assert_eq!(info.total, 20);
                count += 1;
            },
        )
        .unwrap();
    assert_eq!(count, 20);
    assert_eq!(model.calls.len(), 20);
    assert_eq!(model.calls[0].0, sampler.schedule().timesteps()[19]);

    // A latent noised by hand at the same step (eq. 1 with the seed's first draw), given as
    // `Noisy`, gives the same first call: same timestep, same input. With deterministic DDIM
    // after it the whole run is the same too.
    let ddim = Sampler::new(
        sampler.schedule().clone(),
        PredictionType::Epsilon,
        Method::ddim(0.0),
    )
    .unwrap();
    let latent64 = NoiseRng::new(1).gaussian::<B, 4>(SHAPE, (&Default::default(), DType::F64));
    let run = |init: Init<B, 4>| {
        let mut calls: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut model = |x: Tensor<B, 4>, t: usize| {
            calls.push((t, values(x.clone())));
            x.mul_scalar(0.2)
        };
        let out = ddim.sample(&mut model, init, 3, |_| {}).unwrap();
        (calls, values(out))
    };
    let (latent_calls, latent_out) = run(Init::Latent {
        latent: latent64.clone(),
        steps,
    });
    let t = sampler.schedule().timesteps()[steps - 1];
    let noise = NoiseRng::new(3).gaussian_like(&latent64);
    let x_t = add_noise(&NoiseSchedule::stable_diffusion(), latent64, noise, &[t, t]).unwrap();
    let (noisy_calls, noisy_out) = run(Init::Noisy { x_t, steps });
    assert_eq!(latent_calls.len(), steps);
    assert_eq!(noisy_calls.len(), steps);
    assert_eq!(latent_calls[0].0, t);
    assert_eq!(noisy_calls[0].0, t);
    assert!(max_abs_err(&latent_calls[0].1, &noisy_calls[0].1) < 1e-12);
    assert!(max_abs_err(&latent_out, &noisy_out) < 1e-12);

    let start = |steps: usize| {
        sampler
            .sample(
                &mut Recorder::default(),
                Init::Latent {
                    latent: latent.clone(),
                    steps,
                },
                0,
                |_| {},
            )
            .unwrap_err()
    };
    let err = start(51);
    assert!(
        matches!(
            err,
            SamplerError::TooManySteps {
                requested: 51,
                available: 50
            }
        ),
        "{err}"
    );
    let err = start(0);
    assert!(
        matches!(err, SamplerError::InvalidOption { name: "steps", .. }),
        "{err}"
    );
}

#[test]
fn dtype_is_preserved() {
    for dtype in [DType::F32, DType::F64] {
        let mut model = |x: Tensor<B, 4>, _: usize| x.mul_scalar(0.5);
        let out = Sampler::paper()
            .sample(&mut model, noise_init(dtype), 0, |_| {})
            .unwrap();
        assert_eq!(out.dtype(), dtype);
    }
}

#[test]
fn invalid_options_are_rejected() {
    let schedule = Sampler::paper().schedule().clone();
    for eta in [-0.1, 1.5, f64::NAN] {
        let err = Sampler::new(schedule.clone(), PredictionType::Epsilon, Method::ddim(eta));
        assert!(matches!(
            err,
            Err(SamplerError::InvalidOption { name: "eta", .. })
        ));
    }
    assert!(Sampler::paper().with_clip_x0(Some(0.0)).is_err());
    assert!(Guidance::new(f64::INFINITY).is_err());
    let x: Tensor<B, 4> = Tensor::zeros(SHAPE, &Default::default());
    assert!(matches!(
        Sampler::paper().step(50, x.clone(), x.clone(), None),
        Err(SamplerError::StepIndexOutOfRange { index: 50, len: 50 })
    ));
    let other: Tensor<B, 4> = Tensor::zeros([1, 4, 8, 8], &Default::default());
    assert!(matches!(
        Sampler::paper().step(3, x.clone(), other.clone(), None),
        Err(SamplerError::ShapeMismatch { .. })
    ));
    // Noise of the wrong shape is an error, not a panic or a silent broadcast, for both step
    // rules and for the step functions themselves (also at index 0, where it is not used).
    let schedule = Sampler::paper().schedule().clone();
    for method in [Method::Ddpm(VarianceType::FixedSmall), Method::ddim(0.5)] {
        let sampler = Sampler::new(schedule.clone(), PredictionType::Epsilon, method).unwrap();
        for index in [0, 3] {
            let err = sampler
                .step(index, x.clone(), x.clone(), Some(other.clone()))
                .unwrap_err();
            assert!(
                matches!(err, SamplerError::ShapeMismatch { what: "noise", .. }),
                "{method:?} at {index}: {err}"
            );
        }
    }
    assert!(matches!(
        ddpm_step(
            &schedule,
            3,
            x.clone(),
            x.clone(),
            VarianceType::FixedLarge,
            Some(other.clone())
        ),
        Err(SamplerError::ShapeMismatch { what: "noise", .. })
    ));
    assert!(matches!(
        ddim_step(
            &schedule,
            3,
            x.clone(),
            x,
            1.0,
            FinalAlpha::One,
            Some(other)
        ),
        Err(SamplerError::ShapeMismatch { what: "noise", .. })
    ));
}

#[test]
fn errors_read_well() {
    let err = "fifty".parse::<Spacing>().unwrap_err();
    assert!(
        err.to_string().contains("unknown spacing \"fifty\""),
        "{err}"
    );
    let err = Spacing::Sections(vec![2000]).timesteps(1000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot take 2000 steps from a schedule of 1000 timesteps"
    );
    let err = Spacing::Sections(vec![]).timesteps(1000).unwrap_err();
    assert_eq!(err.to_string(), "the spacing \"\" keeps no timestep");
    let err = Spacing::Sections(vec![10, 400, 10])
        .timesteps(1000)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot take 400 steps from section 1 of 333 timesteps"),
        "{err}"
    );
}

#[test]
fn conversions_round_trip_per_sample() {
    let schedule = NoiseSchedule::stable_diffusion();
    let ts = [0usize, 250, 999];
    let ab: Vec<f64> = ts.iter().map(|&t| schedule.alphas_cumprod()[t]).collect();
    let mut rng = NoiseRng::new(11);
    let opts = (&Default::default(), DType::F64);
    let x0 = rng.gaussian::<B, 4>([3, 2, 4, 4], opts);
    let eps = rng.gaussian::<B, 4>([3, 2, 4, 4], opts);
    let x_t = add_noise(&schedule, x0.clone(), eps.clone(), &ts).unwrap();
    let v = v_from_x0_eps(x0.clone(), eps.clone(), ab.clone()).unwrap();
    let (x0v, epsv) = (values(x0.clone()), values(eps.clone()));
    // Eq. 5 recovers z₀ from the true noise; the other conversions agree with it.
    assert!(
        max_abs_err(
            &values(x0_from_eps(x_t.clone(), eps.clone(), ab.clone()).unwrap()),
            &x0v
        ) < 1e-12
    );
    assert!(
        max_abs_err(
            &values(eps_from_x0(x_t.clone(), x0.clone(), ab.clone()).unwrap()),
            &epsv
        ) < 1e-9
    );
    assert!(
        max_abs_err(
            &values(x0_from_v(x_t.clone(), v.clone(), ab.clone()).unwrap()),
            &x0v
        ) < 1e-12
    );
    assert!(
        max_abs_err(
            &values(eps_from_v(x_t.clone(), v.clone(), ab.clone()).unwrap()),
            &epsv
        ) < 1e-12
    );
    for p in [
        PredictionType::Epsilon,
        PredictionType::VPrediction,
        PredictionType::Sample,
    ] {
        let target = p.target(x0.clone(), eps.clone(), ab.clone()).unwrap();
        let back = p.to_x0(x_t.clone(), target, ab.clone()).unwrap();
        assert!(max_abs_err(&values(back), &x0v) < 1e-12, "{p:?}");
    }
    // Per-sample values must match the batch.
    let err = x0_from_eps(x_t, eps, vec![0.5, 0.5]).unwrap_err();
    assert!(matches!(
        err,
        SamplerError::BatchMismatch {
            batch: 3,
            got: 2,
            ..
        }
    ));
}

#[test]
fn eq5_holds_elementwise() {
    // z̃₀ = z_t / √ᾱ − √(1 − ᾱ) ε / √ᾱ, written out for single values.
    let (z_t, eps, ab) = (0.7_f64, -1.3_f64, 0.04_f64);
    let expected = z_t / ab.sqrt() - (1.0 - ab).sqrt() * eps / ab.sqrt();
    let got = values(
        x0_from_eps(
            tensor(&[z_t], [1], DType::F64),
            tensor(&[eps], [1], DType::F64),
            ab,
        )
        .unwrap(),
    );
    assert!((got[0] - expected).abs() < 1e-14);
}

#[test]
fn a_latent_is_noised_by_eq1_at_its_start_step() {
    // The first denoiser input of an `Init::Latent` run is eq. 1's z_t at the start step's
    // training timestep, with the seed's first noise draw.
    let base = NoiseSchedule::stable_diffusion();
    let sampler = Sampler::paper();
    let latent = NoiseRng::new(5).gaussian::<B, 4>(SHAPE, (&Default::default(), DType::F64));
    let mut first: Option<(Tensor<B, 4>, usize)> = None;
    let mut model = |x: Tensor<B, 4>, t: usize| {
        first.get_or_insert((x.clone(), t));
        x.zeros_like()
    };
    sampler
        .sample(
            &mut model,
            Init::Latent {
                latent: latent.clone(),
                steps: 30,
            },
            9,
            |_| {},
        )
        .unwrap();
    let (x_t, t) = first.unwrap();
    assert_eq!(t, sampler.schedule().timesteps()[29]);
    let noise = NoiseRng::new(9).gaussian_like(&latent);
    let expected = add_noise(&base, latent, noise, &[t, t]).unwrap();
    assert!(max_abs_err(&values(x_t), &values(expected)) < 1e-12);
}

#[test]
fn a_latent_can_start_at_any_training_timestep() {
    // Timestep 500 is not on the paper's grid (…, 489, 510, …): the run starts at the kept
    // timestep below it, from eq. 1's z_t there, and takes the steps from there down.
    let base = NoiseSchedule::stable_diffusion();
    let sampler = Sampler::paper();
    let index = sampler.schedule().index_at_or_below(500).unwrap();
    let kept = sampler.schedule().timesteps()[index];
    assert!(kept <= 500 && sampler.schedule().timesteps()[index + 1] > 500);
    let latent = NoiseRng::new(5).gaussian::<B, 4>(SHAPE, (&Default::default(), DType::F64));
    let mut inputs: Vec<(Tensor<B, 4>, usize)> = Vec::new();
    let mut model = |x: Tensor<B, 4>, t: usize| {
        inputs.push((x.clone(), t));
        x.zeros_like()
    };
    let mut total = 0;
    let from_t = sampler
        .sample(
            &mut model,
            Init::LatentAtTimestep {
                latent: latent.clone(),
                timestep: 500,
            },
            9,
            |info| total = info.total,
        )
        .unwrap();
    assert_eq!(total, index + 1);
    assert_eq!(inputs.len(), index + 1);
    assert_eq!(inputs[0].1, kept);
    assert_eq!(inputs.last().unwrap().1, 0);
    let noise = NoiseRng::new(9).gaussian_like(&latent);
    let expected = add_noise(&base, latent.clone(), noise, &[kept, kept]).unwrap();
    assert!(max_abs_err(&values(inputs[0].0.clone()), &values(expected)) < 1e-12);

    // The same run as `Latent` with the step count of that index.
    let mut model = |x: Tensor<B, 4>, _: usize| x.zeros_like();
    let by_steps = sampler
        .sample(
            &mut model,
            Init::Latent {
                latent: latent.clone(),
                steps: index + 1,
            },
            9,
            |_| {},
        )
        .unwrap();
    assert_eq!(values(from_t), values(by_steps));

    let err = sampler
        .sample(
            &mut Recorder::default(),
            Init::LatentAtTimestep {
                latent,
                timestep: 1000,
            },
            0,
            |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(err, SamplerError::TimestepOutOfRange { timestep: 1000, .. }),
        "{err}"
    );
}

/// The step rules whose runs draw noise at every step (DDPM) or scaled by η (DDIM).
fn noisy_samplers() -> Vec<Sampler> {
    [Method::Ddpm(VarianceType::FixedSmall), Method::ddim(0.5)]
        .into_iter()
        .map(|method| {
            Sampler::new(
                Sampler::paper().schedule().clone(),
                PredictionType::Epsilon,
                method,
            )
            .unwrap()
        })
        .collect()
}

/// The starting points that draw noise, for a batch of `n` (latent item i is filled with i).
fn starts(n: usize) -> Vec<Init<B, 4>> {
    let latent: Tensor<B, 4> = Tensor::cat(
        (0..n)
            .map(|i| Tensor::full([1, 4, 8, 8], i as f64 * 0.5 - 0.25, &Default::default()))
            .collect(),
        0,
    );
    vec![
        Init::Noise {
            shape: [n, 4, 8, 8],
            options: (&Default::default(), DType::F32).into(),
        },
        Init::Latent { latent, steps: 20 },
    ]
}

/// One seed per item for a batch of one must be `sample` with that seed, bit for bit, so the
/// per-item path changes nothing for single faces.
#[test]
fn per_item_seeds_for_a_batch_of_one_are_sample_bit_for_bit() {
    for sampler in noisy_samplers() {
        for (init_a, init_b) in starts(1).into_iter().zip(starts(1)) {
            let mut model = |x: Tensor<B, 4>, _: usize| x.mul_scalar(0.2);
            let shared = sampler.sample(&mut model, init_a, 41, |_| {}).unwrap();
            let per_item = sampler
                .sample_per_item(&mut model, init_b, &[41], |_| {})
                .unwrap();
            assert_eq!(values(shared), values(per_item), "{:?}", sampler.method());
        }
    }
}

/// A batch sampled with seeds [s0, s1, s2] equals its items sampled alone with those seeds
/// (exactly here: the stand-in denoiser works element by element), and not what one shared
/// stream gives.
#[test]
fn a_batch_with_per_item_seeds_equals_its_items_sampled_alone() {
    let seeds = [7, 8, 7_000_000_001];
    for sampler in noisy_samplers() {
        for (i, (batch_init, shared_init)) in starts(3).into_iter().zip(starts(3)).enumerate() {
            let mut model = |x: Tensor<B, 4>, _: usize| x.mul_scalar(0.2);
            let batch = sampler
                .sample_per_item(&mut model, batch_init, &seeds, |_| {})
                .unwrap();
            for (k, &seed) in seeds.iter().enumerate() {
                let alone_init = starts(3).swap_remove(i);
                let alone_init = match alone_init {
                    Init::Noise { options, .. } => Init::Noise {
                        shape: [1, 4, 8, 8],
                        options,
                    },
                    Init::Latent { latent, steps } => Init::Latent {
                        latent: latent.narrow(0, k, 1),
                        steps,
                    },
                    _ => unreachable!(),
                };
                let alone = sampler
                    .sample(&mut model, alone_init, seed, |_| {})
                    .unwrap();
                assert_eq!(
                    values(batch.clone().narrow(0, k, 1)),
                    values(alone),
                    "{:?}, start {i}, item {k}",
                    sampler.method()
                );
            }
            let shared = sampler.sample(&mut model, shared_init, 7, |_| {}).unwrap();
            assert!(
                max_abs_err(
                    &values(batch.narrow(0, 0, 1)),
                    &values(shared.narrow(0, 0, 1))
                ) > 1e-3
            );
        }
    }
}

/// A seed count that differs from the batch is an error, not a silent reuse of streams.
#[test]
fn per_item_seeds_must_match_the_batch() {
    let mut model = |x: Tensor<B, 4>, _: usize| x;
    for init in starts(2) {
        let err = Sampler::paper()
            .sample_per_item(&mut model, init, &[1, 2, 3], |_| {})
            .unwrap_err();
        assert!(
            matches!(
                err,
                SamplerError::BatchMismatch {
                    batch: 2,
                    got: 3,
                    ..
                }
            ),
            "{err}"
        );
    }
}
