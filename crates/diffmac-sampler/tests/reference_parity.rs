//! Parity with the reference values written by `scripts/reference/sampler_reference.py`
//! (improved-diffusion's formulas in float64 numpy, and diffusers' schedulers).
//! Tolerances: max abs error ≤ 1e-12 in f64 and ≤ 1e-5 in f32. The issue asks for 1e-6 in
//! f64, but the measured errors are 1e-16 to 1e-14, and the spaced tables (posterior
//! variances, betas near 1e-3) are small enough that 1e-6 would let a wrong formula pass.

mod common;

use std::sync::OnceLock;

use burn::tensor::DType;
use common::{max_abs_err, tensor, values};
use diffmac_sampler::ddim::ddim_sigma;
use diffmac_sampler::ddpm::ddpm_variance;
use diffmac_sampler::{
    BetaSchedule, FinalAlpha, Method, NoiseSchedule, PredictionType, Sampler, SamplerError,
    SpacedSchedule, Spacing, VarianceType, add_noise, velocity,
};
use serde_json::Value;

const F64_TOL: f64 = 1e-12;
const F32_TOL: f64 = 1e-5;

fn fixture() -> &'static Value {
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sampler_reference.json"
        );
        let text = std::fs::read_to_string(path).expect("fixture present");
        serde_json::from_str(&text).expect("fixture is JSON")
    })
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as usize)
        .collect()
}

fn shape4(v: &Value) -> [usize; 4] {
    usizes(v).try_into().expect("4-D shape")
}

#[test]
fn beta_schedules_match() {
    let schedules = &fixture()["schedules"];
    let t = fixture()["num_train_timesteps"].as_u64().unwrap() as usize;
    for (name, schedule) in [
        ("scaled_linear", BetaSchedule::stable_diffusion()),
        ("linear", BetaSchedule::improved_ddpm_linear(t)),
        ("cosine", BetaSchedule::cosine()),
    ] {
        let ours = NoiseSchedule::new(&schedule, t).unwrap();
        let reference = &schedules[name];
        let betas = max_abs_err(ours.betas(), &floats(&reference["betas"]));
        let ac = max_abs_err(ours.alphas_cumprod(), &floats(&reference["alphas_cumprod"]));
        let ac32 = max_abs_err(
            ours.alphas_cumprod(),
            &floats(&reference["diffusers_f32_alphas_cumprod"]),
        );
        println!("{name}: betas {betas:.1e}, alphas_cumprod {ac:.1e}, vs diffusers f32 {ac32:.1e}");
        assert!(betas <= F64_TOL && ac <= F64_TOL, "{name}");
        assert!(
            ac32 <= F32_TOL,
            "{name} against diffusers' float32 schedule"
        );
    }
}

#[test]
fn respaced_timesteps_match() {
    let cases = fixture()["respacing"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let spec = case["spec"].as_str().unwrap();
        let n = case["num_timesteps"].as_u64().unwrap() as usize;
        let spacing: Spacing = spec.parse().unwrap();
        let ours = spacing
            .timesteps(n)
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(
            ours,
            usizes(&case["timesteps"]),
            "{spec} of {n} ({})",
            case["source"]
        );
    }
}

/// Standard base64 (with `=` padding), as Python's `base64.b64encode` writes it.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut nbits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
        acc = (acc << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    bytes
}

/// The script's `[first, base, bits]` form of an ascending list of `n` timesteps: gap k is
/// `base` plus bit k of `bits` (most significant bit first; missing bytes are zero).
fn decode_timesteps(encoded: &Value, n: usize) -> Vec<usize> {
    let first = encoded[0].as_u64().expect("first") as usize;
    let base = encoded[1].as_u64().expect("base") as usize;
    let bits = base64_decode(encoded[2].as_str().expect("bits"));
    let mut steps = vec![first];
    for k in 0..n - 1 {
        let bit = bits.get(k / 8).map_or(0, |b| (b >> (7 - k % 8)) & 1);
        steps.push(steps[k] + base + bit as usize);
    }
    steps
}

#[test]
fn diffusers_spacings_match_for_every_step_count() {
    let sweep = &fixture()["diffusers_spacings"];
    let t = sweep["num_train_timesteps"].as_u64().unwrap() as usize;
    let extra_minus_one = usizes(&sweep["trailing_extra_minus_one"]);
    let past_end = usizes(&sweep["leading+1_past_end"]);
    let mut checked = 0;
    for name in ["leading", "leading+1", "trailing", "linspace"] {
        let lists = sweep[name].as_array().unwrap();
        assert_eq!(lists.len(), t, "{name}");
        for (k, encoded) in lists.iter().enumerate() {
            let n = k + 1;
            let spec = match name {
                "leading+1" => format!("leading{n}+1"),
                _ => format!("{name}{n}"),
            };
            let spacing: Spacing = spec.parse().unwrap();
            assert_eq!(spacing.to_string(), spec);
            let ours = spacing.timesteps(t);
            if encoded.is_null() {
                // diffusers would hand the model timestep T; the crate refuses.
                assert!(name == "leading+1" && past_end.contains(&n), "{spec}");
                assert!(
                    matches!(ours, Err(SamplerError::OffsetTooLarge { .. })),
                    "{spec}: {ours:?}"
                );
                continue;
            }
            // Where diffusers' trailing list has an extra −1, the crate keeps the other N.
            let ours = ours.unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(ours, decode_timesteps(encoded, n), "{spec}");
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * t - past_end.len());
    println!(
        "diffusers spacings: {checked} lists identical (N = 1..={t}; trailing drops diffusers' \
         extra −1 at {} step counts)",
        extra_minus_one.len()
    );
}

#[test]
fn spaced_process_tables_match() {
    let reference = &fixture()["spaced_50"];
    let base = NoiseSchedule::stable_diffusion();
    let spaced = SpacedSchedule::new(&base, &Spacing::paper()).unwrap();
    assert_eq!(
        spaced.timesteps(),
        usizes(&reference["timesteps"]).as_slice()
    );
    let mut worst: f64 = 0.0;
    for (key, ours) in [
        ("betas", spaced.betas()),
        ("alphas_cumprod", spaced.alphas_cumprod()),
        ("alphas_cumprod_prev", spaced.alphas_cumprod_prev()),
        ("posterior_variance", spaced.posterior_variance()),
        ("posterior_mean_coef1", spaced.posterior_mean_coef1()),
        ("posterior_mean_coef2", spaced.posterior_mean_coef2()),
    ] {
        let err = max_abs_err(ours, &floats(&reference[key]));
        assert!(err <= F64_TOL, "{key}: {err:e}");
        worst = worst.max(err);
    }
    // The reference's clipped log variance; index 0 never adds noise, so it is not compared.
    let log_var = floats(&reference["posterior_log_variance_clipped"]);
    for (i, expected) in log_var.iter().enumerate().skip(1) {
        let ours = ddpm_variance(&spaced, i, VarianceType::FixedSmall)
            .unwrap()
            .ln();
        assert!((ours - expected).abs() <= F64_TOL, "log variance at {i}");
    }
    // Fixed-large: β'_i, and at index 0 improved-diffusion's convention, the posterior
    // variance of index 1 (not β'_0, which is 1 − ᾱ_0 there).
    let large = floats(&reference["fixed_large_variance"]);
    let pv = floats(&reference["posterior_variance"]);
    assert_eq!(large[0], pv[1]);
    for (i, expected) in large.iter().enumerate() {
        let ours = ddpm_variance(&spaced, i, VarianceType::FixedLarge).unwrap();
        assert!(
            (ours - expected).abs() <= F64_TOL,
            "fixed-large variance at {i}"
        );
        worst = worst.max((ours - expected).abs());
    }
    println!("spaced 50-step tables: max abs error {worst:.1e}");
}

fn sampler_for(case: &Value) -> (Sampler, usize) {
    let spacing: Spacing = case["spacing"].as_str().unwrap().parse().unwrap();
    let spaced = SpacedSchedule::new(&NoiseSchedule::stable_diffusion(), &spacing).unwrap();
    let index = case["index"].as_u64().unwrap() as usize;
    assert_eq!(
        spaced.timestep(index).unwrap() as u64,
        case["timestep"].as_u64().unwrap()
    );
    let prediction: PredictionType = case["prediction"].as_str().unwrap().parse().unwrap();
    let method = match case["method"].as_str().unwrap() {
        "ddpm" => Method::Ddpm(match case["variance"].as_str().unwrap() {
            "fixed_small" => VarianceType::FixedSmall,
            "fixed_large" => VarianceType::FixedLarge,
            other => panic!("variance {other}"),
        }),
        "ddim" => Method::Ddim {
            eta: case["eta"].as_f64().unwrap(),
            final_alpha: FinalAlpha::from_set_alpha_to_one(
                case["set_alpha_to_one"].as_bool().unwrap(),
            ),
        },
        other => panic!("method {other}"),
    };
    let sampler = Sampler::new(spaced, prediction, method)
        .unwrap()
        .with_clip_x0(case["clip"].as_f64())
        .unwrap();
    (sampler, index)
}

/// Runs one fixture step in `dtype`; returns the worst error over every reference and output.
fn check_step(case: &Value, dtype: DType, tol: f64) -> f64 {
    let (sampler, index) = sampler_for(case);
    let shape = shape4(&case["shape"]);
    let x_t = tensor(&floats(&case["x_t"]), shape, dtype);
    let out = tensor(&floats(&case["model_output"]), shape, dtype);
    let noise = tensor(&floats(&case["noise"]), shape, dtype);
    let step = sampler.step(index, x_t, out, Some(noise)).unwrap();
    assert_eq!(step.prev_sample.dtype(), dtype);
    let (x0, prev) = (values(step.pred_x0), values(step.prev_sample));
    let name = case["name"].as_str().unwrap();
    let mut worst: f64 = 0.0;
    for (source, expected) in case["expected"].as_object().unwrap() {
        let e_x0 = max_abs_err(&x0, &floats(&expected["pred_x0"]));
        let e_prev = max_abs_err(&prev, &floats(&expected["prev_sample"]));
        println!("{name} [{dtype:?}] vs {source}: pred_x0 {e_x0:.1e}, prev_sample {e_prev:.1e}");
        assert!(
            e_x0 <= tol && e_prev <= tol,
            "{name} vs {source} in {dtype:?}"
        );
        worst = worst.max(e_x0).max(e_prev);
    }
    worst
}

#[test]
fn sampler_steps_match_in_f64() {
    let cases = fixture()["steps"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let worst = cases
        .iter()
        .map(|c| check_step(c, DType::F64, F64_TOL))
        .fold(0.0, f64::max);
    println!("f64 steps: max abs error {worst:.1e}");
}

#[test]
fn sampler_steps_match_in_f32() {
    let cases = fixture()["steps"].as_array().unwrap().iter();
    let f32_cases = fixture()["steps_f32"].as_array().unwrap().iter();
    let worst = cases
        .chain(f32_cases)
        .map(|c| check_step(c, DType::F32, F32_TOL))
        .fold(0.0, f64::max);
    println!("f32 steps: max abs error {worst:.1e}");
}

#[test]
fn the_final_step_adds_no_noise() {
    // The fixture's cases at index 0, each run with a method whose σ at index 0 is not 0, so
    // that only the "no noise at the last step" rule keeps the noise out: DDPM fixed-large
    // (σ₀² = posterior variance of index 1) and DDIM η = 1 ending at ᾱ₀ (σ₀ > 0 wherever the
    // first kept timestep is above 0, as on SD's `leading50+1`).
    let mut biting = 0;
    for case in fixture()["steps"].as_array().unwrap() {
        if case["index"].as_u64() != Some(0) {
            continue;
        }
        let (reference, _) = sampler_for(case);
        let schedule = reference.schedule().clone();
        let (method, sigma) = match reference.method() {
            Method::Ddpm(_) => (
                Method::Ddpm(VarianceType::FixedLarge),
                ddpm_variance(&schedule, 0, VarianceType::FixedLarge)
                    .unwrap()
                    .sqrt(),
            ),
            Method::Ddim { .. } => (
                Method::Ddim {
                    eta: 1.0,
                    final_alpha: FinalAlpha::TrainingStepZero,
                },
                ddim_sigma(&schedule, 0, 1.0, FinalAlpha::TrainingStepZero).unwrap(),
            ),
        };
        let sampler = Sampler::new(schedule, reference.prediction(), method).unwrap();
        let shape = shape4(&case["shape"]);
        let x_t = tensor(&floats(&case["x_t"]), shape, DType::F64);
        let out = tensor(&floats(&case["model_output"]), shape, DType::F64);
        let with = sampler
            .step(0, x_t.clone(), out.clone(), Some(x_t.ones_like()))
            .unwrap();
        let without = sampler.step(0, x_t, out, None).unwrap();
        assert_eq!(values(with.prev_sample), values(without.prev_sample));
        if sigma > 1e-3 {
            biting += 1;
        }
    }
    // At least one DDPM and one DDIM case would have added visible noise.
    assert!(biting >= 2, "{biting}");
}

#[test]
fn forward_process_matches_per_sample() {
    let reference = &fixture()["forward"];
    let shape = shape4(&reference["shape"]);
    let ts = usizes(&reference["timesteps"]);
    let schedule = NoiseSchedule::stable_diffusion();
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 {
            F64_TOL
        } else {
            F32_TOL
        };
        let x0 = tensor(&floats(&reference["x0"]), shape, dtype);
        let noise = tensor(&floats(&reference["noise"]), shape, dtype);
        let x_t = values(add_noise(&schedule, x0.clone(), noise.clone(), &ts).unwrap());
        let v = values(velocity(&schedule, x0, noise, &ts).unwrap());
        for (source, expected) in reference["expected"].as_object().unwrap() {
            let e_x = max_abs_err(&x_t, &floats(&expected["x_t"]));
            let e_v = max_abs_err(&v, &floats(&expected["velocity"]));
            println!("forward [{dtype:?}] vs {source}: x_t {e_x:.1e}, velocity {e_v:.1e}");
            assert!(e_x <= tol && e_v <= tol, "{source} {dtype:?}");
        }
    }
}
