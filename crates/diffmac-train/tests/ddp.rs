//! Data-parallel training (feature `ddp`) on the CPU backend: two peers on the same CPU device,
//! each with batch `b`, end with the weights of one device taking both peers' micro-batches
//! (batch `b`, accumulation 2: the same samples and noise, and the same mean gradient as one
//! batch of `2b`).
//!
//! `cargo test -p diffmac-train --features ddp --test ddp`
#![cfg(feature = "ddp")]

mod common;

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use common::{faces, max_diff, options, single_device};
use diffmac_train::checkpoint::{latest_checkpoint, read_state};
use diffmac_train::ddp::train_data_parallel;
use diffmac_train::metrics::read_metrics;
use diffmac_train::{Event, Stage, TrainConfig, train};

type AB = Autodiff<Flex>;

fn tiny(stage: Stage, steps: usize) -> TrainConfig {
    let mut c = TrainConfig::tiny(stage);
    c.data.hq_dir = faces();
    c.steps = Some(steps);
    c.seed = 5;
    c.batch_size = 1;
    c.checkpoint.every = steps;
    c.logging.validate_every = 0;
    c.optimizer.grad_clip_norm = Some(0.5);
    c
}

/// `peers` peers on the CPU device, one micro-batch each per step.
fn parallel(config: TrainConfig, dir: &Path, peers: usize) -> PathBuf {
    let devices = vec![Default::default(); peers];
    let mut steps = 0;
    let s = train_data_parallel::<AB>(config, &options(dir, false), &devices, &mut |e| {
        if matches!(e, Event::Step(_)) {
            steps += 1;
        }
    })
    .unwrap();
    assert_eq!(steps, s.last_step, "peer 0 reports every step once");
    latest_checkpoint(dir).unwrap().unwrap()
}

fn safetensors_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    names.sort();
    names
}

/// Every weight and optimiser file of the two checkpoints within 1e-5, same state and losses.
fn assert_same_run(one: &Path, two: &Path, expected: &[&str]) {
    let files = safetensors_files(one);
    assert_eq!(files, safetensors_files(two));
    for file in expected {
        assert!(files.iter().any(|f| f == file), "{file} missing: {files:?}");
    }
    for file in &files {
        let d = max_diff(&one.join(file), &two.join(file));
        eprintln!("{file}: max |1 device − 2 peers| = {d:e}");
        assert!(d <= 1e-5, "{file} differs by {d}");
    }
    let (s1, s2) = (read_state(one).unwrap(), read_state(two).unwrap());
    assert_eq!(s1.step, s2.step);
    assert_eq!(s1.rng.micro_batches, s2.rng.micro_batches);
    assert_eq!(s1.data.samples, s2.data.samples);
    let run = |c: &Path| c.parent().unwrap().parent().unwrap().join("metrics.jsonl");
    let (m1, m2) = (
        read_metrics(&run(one)).unwrap(),
        read_metrics(&run(two)).unwrap(),
    );
    assert_eq!(m1.len(), m2.len());
    for (a, b) in m1.iter().zip(&m2) {
        assert!(
            (a.loss - b.loss).abs() <= 1e-5 * a.loss.abs().max(1.0),
            "{a:?} vs {b:?}"
        );
        assert!((a.grad_norm - b.grad_norm).abs() <= 1e-4 * a.grad_norm.max(1.0));
    }
}

#[test]
fn two_peers_equal_one_device_with_both_micro_batches() {
    let t = std::time::Instant::now();
    // Stage I: control and UNet train, gradients clipped after the all-reduce.
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = single_device(tiny(Stage::One, 3), a.path(), 2);
    let two = parallel(tiny(Stage::One, 3), b.path(), 2);
    assert_same_run(
        &one,
        &two,
        &[
            "control.safetensors",
            "unet.safetensors",
            "optimizer.safetensors",
        ],
    );
    // The comparison is sensitive: one device on peer 0's micro-batch alone ends elsewhere.
    let e = tempfile::tempdir().unwrap();
    let alone = single_device(tiny(Stage::One, 3), e.path(), 1);
    let d = max_diff(
        &one.join("unet.safetensors"),
        &alone.join("unet.safetensors"),
    );
    assert!(d > 1e-4, "accumulation 1 vs 2 differ by only {d}");
    eprintln!("stage I: {:.1} s", t.elapsed().as_secs_f64());

    // Resuming on another number of devices is refused, not silently misaligned.
    let err = train::<AB>(
        tiny(Stage::One, 4),
        &options(b.path(), true),
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("as many devices"), "{err}");

    // Stage II from that checkpoint with the X_D1 cache (peer 0 builds it, the others wait)
    // and the bottleneck.
    let mut c2 = tiny(Stage::Two, 2);
    c2.stage2.stage1_checkpoint = Some(one.clone());
    let (c, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one2 = single_device(c2.clone(), c.path(), 2);
    let two2 = parallel(c2, d.path(), 2);
    assert_same_run(
        &one2,
        &two2,
        &[
            "control.safetensors",
            "mib.safetensors",
            "optimizer.safetensors",
        ],
    );
    eprintln!("stage I + II: {:.1} s", t.elapsed().as_secs_f64());
}
