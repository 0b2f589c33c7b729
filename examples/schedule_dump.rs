//! Writes the kept timesteps of a respaced noise schedule and their ᾱ as JSON, so the schedule
//! can be checked without reading Rust:
//!
//! ```sh
//! cargo run --example schedule_dump -- --schedule scaled_linear --spacing 50 --out steps.json
//! ```
//!
//! Output: `{"timesteps": [...], "alphas_cumprod": [...]}`, ascending by timestep.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use diffmac::sampler::{BetaSchedule, NoiseSchedule, SchedulerConfig, SpacedSchedule, Spacing};

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Schedule {
    /// Stable Diffusion's: √β linear from √0.00085 to √0.012.
    ScaledLinear,
    /// improved DDPM's linear: β from 1e-4 to 0.02 (rescaled by 1000 / T).
    Linear,
    /// improved DDPM's cosine ᾱ, β capped at 0.999.
    Cosine,
}

/// Dump a respaced schedule as JSON.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Beta schedule (ignored when --config is given).
    #[arg(long, value_enum, default_value = "scaled_linear")]
    schedule: Schedule,
    /// Spacing: section counts ("50", "10,15,20"), "ddimN", "leadingN", "leadingN+OFFSET"
    /// (diffusers with SD's steps_offset 1: "leading50+1"), "trailingN" or "linspaceN".
    #[arg(long, default_value = "50")]
    spacing: String,
    /// Training timesteps T (ignored when --config is given).
    #[arg(long, default_value_t = 1000)]
    num_train_timesteps: usize,
    /// Read the schedule from a diffusers scheduler_config.json instead.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to write the JSON.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = match &args.config {
        Some(path) => SchedulerConfig::from_file(path)?.noise_schedule()?,
        None => {
            let t = args.num_train_timesteps;
            let schedule = match args.schedule {
                Schedule::ScaledLinear => BetaSchedule::stable_diffusion(),
                Schedule::Linear => BetaSchedule::improved_ddpm_linear(t),
                Schedule::Cosine => BetaSchedule::cosine(),
            };
            NoiseSchedule::new(&schedule, t)?
        }
    };
    let spacing: Spacing = args.spacing.parse()?;
    let spaced = SpacedSchedule::new(&base, &spacing)?;
    let json = serde_json::json!({
        "timesteps": spaced.timesteps(),
        "alphas_cumprod": spaced.alphas_cumprod(),
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("{} steps written to {}", spaced.len(), args.out.display());
    Ok(())
}
