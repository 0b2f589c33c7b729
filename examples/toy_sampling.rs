//! Sampling with a toy denoiser: data x₀ ~ N(μ, s²) element-wise, for which the ideal noise
//! predictor is known in closed form. Runs DiffMAC's sampler (SD 2.1 schedule, 50 spaced DDPM
//! steps) and a 1000-step DDPM, with a progress line per step, and prints the moments they
//! end in next to the data's.
//!
//! ```sh
//! cargo run --release --example toy_sampling -- --mean 0.5 --std 0.5
//! ```

use std::io::Write;

use burn::tensor::Tensor;
use clap::Parser;
use diffmac::backend::{DefaultBackend as B, default_device};
use diffmac::sampler::{
    Init, Method, NoiseSchedule, PredictionType, Sampler, SpacedSchedule, Spacing, VarianceType,
};

/// Sample a Gaussian toy distribution with an exact denoiser.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Data mean μ.
    #[arg(long, default_value_t = 0.5)]
    mean: f64,
    /// Data standard deviation s.
    #[arg(long, default_value_t = 0.5)]
    std: f64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (mu, s2) = (args.mean, args.std * args.std);
    let base = NoiseSchedule::stable_diffusion();
    let alphas = base.alphas_cumprod().to_vec();
    // E[ε | x_t] for x₀ ~ N(μ, s²): √(1−ᾱ) (x_t − √ᾱ μ) / (ᾱ s² + 1 − ᾱ).
    let mut denoiser = |x: Tensor<B, 4>, t: usize| {
        let a = alphas[t];
        x.sub_scalar(a.sqrt() * mu)
            .mul_scalar((1.0 - a).sqrt() / (a * s2 + 1.0 - a))
    };

    let full = Sampler::new(
        SpacedSchedule::new(&base, &Spacing::Sections(vec![1000]))?,
        PredictionType::Epsilon,
        Method::Ddpm(VarianceType::FixedLarge),
    )?;
    for (name, sampler) in [
        ("paper (50-step spaced DDPM)", Sampler::paper()),
        ("1000-step DDPM", full),
    ] {
        let init = Init::Noise {
            shape: [1, 1, 128, 128],
            options: (&default_device()).into(),
        };
        let sample = sampler.sample(&mut denoiser, init, args.seed, |info| {
            if info.step % 10 == 0 || info.step == info.total {
                print!(
                    "\r{name}: step {}/{} (t = {:>3})",
                    info.step, info.total, info.timestep
                );
                let _ = std::io::stdout().flush();
            }
        })?;
        let values = sample
            .into_data()
            .convert::<f64>()
            .into_vec::<f64>()
            .expect("float data");
        let n = values.len() as f64;
        let m = values.iter().sum::<f64>() / n;
        let v = values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
        println!("\n  mean {m:.4} (data {mu:.4}), variance {v:.4} (data {s2:.4})");
    }
    Ok(())
}
