//! `diffmac-train`: trains DiffMAC's Stage I (AdaIN control) or Stage II (manifold
//! information bottleneck) into a run folder with checkpoints, `metrics.jsonl` and validation
//! sheets; `--resume` continues the newest checkpoint exactly. Exit code 0 when the run
//! finished, 1 when it failed while training, 2 on a usage error (bad flags, unreadable or
//! invalid config, unusable data or output folder).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac::train::launch::{ConfigFlags, Launch, NodeFlags, run_orchestrator};
use diffmac::train::trainer::describe_models;
use diffmac::train::{Autodiff, Event, Preset, Stage, TrainOptions};
use diffmac_cli::{init_logging, note_gpu_first_run, progress_bar};

/// Train DiffMAC (Stage I: AdaIN-controlled Stable Diffusion; Stage II: MIB with identity
/// injection) on a folder of HQ faces. Settings come from a preset (`paper`: §4.1.1 of the
/// paper; `tiny`: random tiny models that train on the CPU in seconds), a JSON file merged over
/// it, and the flags below.
#[derive(Debug, Parser)]
#[command(
    version,
    override_usage = "diffmac-train --output RUN_DIR [--config FILE] [--preset paper|tiny] [--stage 1|2] [--data DIR] [--steps N] [--seed N] [--resume] [OPTIONS]\n       \
                      diffmac-train --run-orchestrator PORT",
    after_help = "Example: diffmac-train --preset tiny --data examples/faces --output out/run-tiny --steps 20\n\
                  Guide: docs/training.md"
)]
struct Args {
    /// Run folder: checkpoints/, metrics.jsonl, validation/, config.json.
    #[arg(
        long,
        short,
        visible_alias = "out",
        required_unless_present_any = ["print_config", "run_orchestrator"]
    )]
    output: Option<PathBuf>,
    /// JSON config; only the fields it names change the preset.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Starting point of the config: `paper` or `tiny`.
    #[arg(long, default_value = "paper")]
    preset: Preset,
    /// Stage to train (overrides the config).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    stage: Option<u8>,
    /// Folder of HQ training faces, searched recursively (overrides data.hq_dir).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Folder of given LQ faces with the HQ folder's relative paths (overrides data.lq_dir).
    #[arg(long)]
    lq_data: Option<PathBuf>,
    /// Optimiser steps (overrides steps; also extends a resumed run).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    steps: Option<u64>,
    /// Run seed (overrides seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Stage II: the Stage I checkpoint to start from, a step folder, the Stage I run folder or
    /// its checkpoints/latest file (overrides stage2.stage1_checkpoint).
    #[arg(long)]
    stage1_checkpoint: Option<PathBuf>,
    /// Continue the newest checkpoint in the run folder (its config is used, but --steps).
    #[arg(long)]
    resume: bool,
    /// Print the config in force as JSON and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Log progress and checkpoints.
    #[arg(long, short)]
    verbose: bool,
    /// Data-parallel peers on this machine: GPUs 0..N with `cuda`, N peers sharing the CPU
    /// otherwise (needs the `ddp` feature for N > 1; docs/training.md "Several GPUs").
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    devices: u16,
    /// Multi-node run (feature `ddp`): number of nodes, each a process with `--devices` devices
    /// (the same count on every node) and the same data, config and seed. Needs all of
    /// --nodes, --node, --orchestrator, --node-address and --data-port.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    nodes: Option<u16>,
    /// Multi-node: this node's index, 0..N; node 0 writes the run folder.
    #[arg(long)]
    node: Option<u16>,
    /// Multi-node: the global orchestrator (`--run-orchestrator PORT` on some host),
    /// ws://HOST:PORT.
    #[arg(long, value_name = "ws://HOST:PORT")]
    orchestrator: Option<String>,
    /// Multi-node: where the other nodes reach this node's data service,
    /// ws://THIS_HOST:DATA_PORT.
    #[arg(long, value_name = "ws://HOST:PORT")]
    node_address: Option<String>,
    /// Multi-node: the port this node's data service listens on (all interfaces).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    data_port: Option<u16>,
    /// Run only the global orchestrator of a multi-node run on PORT (all interfaces) until
    /// Ctrl-C or SIGTERM; start it once, before or after the nodes (feature `ddp`).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    run_orchestrator: Option<u16>,
}

/// A failure and its exit code.
struct Failure {
    usage: bool,
    message: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(if f.usage { 2 } else { 1 })
        }
    }
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        usage: true,
        message: message.to_string(),
    }
}

impl Args {
    fn config_flags(&self) -> ConfigFlags {
        ConfigFlags {
            file: self.config.clone(),
            preset: self.preset,
            stage: self
                .stage
                .map(|s| if s == 2 { Stage::Two } else { Stage::One }),
            data: self.data.clone(),
            lq_data: self.lq_data.clone(),
            steps: self.steps.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            seed: self.seed,
            stage1_checkpoint: self.stage1_checkpoint.clone(),
        }
    }

    fn node_flags(&self) -> NodeFlags {
        NodeFlags {
            nodes: self.nodes,
            node: self.node,
            orchestrator: self.orchestrator.clone(),
            node_address: self.node_address.clone(),
            data_port: self.data_port,
        }
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    if let Some(port) = args.run_orchestrator {
        if cfg!(feature = "ddp") {
            eprintln!("multi-node orchestrator on port {port} (all interfaces); Ctrl-C stops it");
        }
        return run_orchestrator(port).map_err(|e| Failure {
            usage: e.is_setup(),
            message: e.to_string(),
        });
    }
    let launch =
        Launch::<Autodiff<DefaultBackend>>::new(default_device(), args.devices, args.node_flags())
            .map_err(usage)?;
    let config = args.config_flags().config().map_err(usage)?;
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&config).map_err(usage)?);
        return Ok(());
    }
    let Some(output) = &args.output else {
        return Err(usage("--output is required"));
    };
    tracing::info!(
        "stage {} on {BACKEND_NAME}, {}, data {}",
        config.stage.number(),
        describe_models(&config.model.source),
        config.data.hq_dir.display()
    );
    // Only node 0 hears the events and writes.
    let follower = launch.is_follower();
    let bar = progress_bar(config.total_steps() as u64, args.quiet || follower);
    let options = TrainOptions {
        run_dir: output.clone(),
        resume: args.resume,
    };
    let mut started = false;
    let result = launch.train(config, &options, &mut |event| match event {
        Event::Start {
            first_step,
            total,
            trainable_parameters,
        } => {
            started = true;
            bar.set_length(total as u64);
            bar.set_position(first_step as u64);
            bar.reset_eta();
            tracing::info!(
                "training steps {}..={total}, {trainable_parameters} trainable parameters",
                first_step + 1
            );
        }
        Event::Cache { done, total } => {
            bar.set_message(format!("X_D1 cache {done}/{total}"));
        }
        Event::Step(r) => {
            bar.set_position(r.step as u64);
            bar.set_message(format!(
                "loss {:.4}  {:.2} it/s",
                r.loss,
                1.0 / r.step_seconds.max(1e-9)
            ));
        }
        Event::Checkpoint(path) => tracing::info!("checkpoint {}", path.display()),
        Event::Validation(path) => tracing::info!("validation sheet {}", path.display()),
        _ => {}
    });
    bar.finish_and_clear();
    let summary = result.map_err(|e| Failure {
        usage: !started && e.is_setup(),
        message: e.to_string(),
    })?;
    if !args.quiet {
        eprintln!(
            "stage trained to step {} (loss {}), checkpoint {}",
            summary.last_step,
            summary
                .last_loss
                .map_or_else(|| "-".to_string(), |l| format!("{l:.4}")),
            summary.checkpoint.map_or_else(
                || if follower { "written by node 0" } else { "-" }.to_string(),
                |p| p.display().to_string()
            )
        );
    }
    Ok(())
}
