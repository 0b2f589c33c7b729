//! Multi-node data-parallel training (feature `ddp`) over localhost: burn-collective's global
//! orchestrator runs in a thread of this test, and two node processes (this test binary run
//! again, one device and batch 1 each; the collective server is a per-process singleton, so
//! each node needs its own process) train 3 Stage I steps together. Node 0's checkpoint must be
//! the one of a single device at batch 1, accumulation 2 (the same micro-batches and noise,
//! the same mean gradient), node 1 must write nothing, and a resume on another world is refused.
//!
//! `cargo test -p diffmac-train --features ddp --test multi_node`
#![cfg(feature = "ddp")]

mod common;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use burn::backend::{Autodiff, Flex};
use common::{faces, max_diff, options, single_device};
use diffmac_train::checkpoint::{latest_checkpoint, read_state};
use diffmac_train::ddp::{NodeSetup, run_orchestrator, train_multi_node};
use diffmac_train::metrics::read_metrics;
use diffmac_train::{Event, Stage, TrainConfig, train};

type AB = Autodiff<Flex>;

/// Set in a child process: `NODE ORCHESTRATOR_PORT DATA_PORT RUN_DIR`.
const NODE_ENV: &str = "DIFFMAC_TEST_MULTI_NODE";
/// This test's name, for the children's `--exact`.
const TEST: &str = "two_node_processes_equal_one_device_with_both_micro_batches";
/// A node that has not finished by then hangs (e.g. waiting for a peer that failed): fail.
const CHILD_LIMIT: Duration = Duration::from_secs(120);
const STEPS: usize = 3;

fn tiny() -> TrainConfig {
    let mut c = TrainConfig::tiny(Stage::One);
    c.data.hq_dir = faces();
    c.steps = Some(STEPS);
    c.seed = 5;
    c.batch_size = 1;
    c.checkpoint.every = STEPS;
    c.logging.validate_every = 0;
    c.optimizer.grad_clip_norm = Some(0.5);
    c
}

/// A port that was free a moment ago (the servers bind every interface).
fn free_port() -> u16 {
    TcpListener::bind(("0.0.0.0", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The child's part: one node of two, one CPU device.
fn run_node(spec: &str) {
    let parts: Vec<&str> = spec.splitn(4, ' ').collect();
    let [node, orchestrator, data, dir] = parts[..] else {
        panic!("bad {NODE_ENV}: {spec:?}");
    };
    let data_port: u16 = data.parse().unwrap();
    let setup = NodeSetup {
        nodes: 2,
        node: node.parse().unwrap(),
        orchestrator: format!("ws://127.0.0.1:{orchestrator}"),
        node_address: format!("ws://127.0.0.1:{data_port}"),
        data_port,
    };
    let mut steps = 0;
    let summary = train_multi_node::<AB>(
        tiny(),
        &options(Path::new(dir), false),
        &[Default::default()],
        &setup,
        &mut |e| {
            if matches!(e, Event::Step(_)) {
                steps += 1;
            }
        },
    )
    .unwrap();
    assert_eq!(summary.last_step, STEPS);
    if setup.node == 0 {
        assert_eq!(steps, STEPS, "node 0 reports every step once");
        assert!(summary.checkpoint.is_some());
    } else {
        assert_eq!(steps, 0, "only node 0 reports");
        assert_eq!(summary.checkpoint, None, "only node 0 writes");
    }
    eprintln!("node {node}: loss {:?}", summary.last_loss);
}

/// Waits for every child; when one fails or `CHILD_LIMIT` passes, kills the others (a node
/// whose partner died waits forever) and fails with the children's logs.
fn wait_all(mut children: Vec<(Child, PathBuf)>) {
    let began = Instant::now();
    let mut done: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let failure = loop {
        for (i, (child, _)) in children.iter_mut().enumerate() {
            if done[i].is_none() {
                done[i] = child.try_wait().unwrap();
            }
        }
        if let Some(i) = done.iter().position(|s| s.is_some_and(|s| !s.success())) {
            break Some(format!("node {i} failed ({:?})", done[i]));
        }
        if done.iter().all(Option::is_some) {
            break None;
        }
        if began.elapsed() > CHILD_LIMIT {
            break Some(format!("the nodes did not finish within {CHILD_LIMIT:?}"));
        }
        // Polling: std has no wait with a timeout.
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(failure) = failure {
        let mut logs = String::new();
        for (i, (child, log)) in children.iter_mut().enumerate() {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            logs += &format!("\n--- node {i} ---\n{text}");
        }
        panic!("{failure}{logs}");
    }
}

#[test]
fn two_node_processes_equal_one_device_with_both_micro_batches() {
    if let Ok(spec) = std::env::var(NODE_ENV) {
        run_node(&spec);
        return;
    }
    let t = Instant::now();
    let orchestrator = free_port();
    let data: Vec<u16> = (0..2).map(|_| free_port()).collect();
    assert!(
        orchestrator != data[0] && orchestrator != data[1] && data[0] != data[1],
        "the OS gave the same free port twice"
    );
    // Runs until this process ends.
    std::thread::spawn(move || run_orchestrator(orchestrator).unwrap());

    let tmp = tempfile::tempdir().unwrap();
    let dirs = [tmp.path().join("node0"), tmp.path().join("node1")];
    let exe = std::env::current_exe().unwrap();
    let children = (0..2)
        .map(|node| {
            let log = tmp.path().join(format!("node{node}.log"));
            let out = File::create(&log).unwrap();
            let child = Command::new(&exe)
                .args(["--exact", TEST, "--nocapture"])
                .env(
                    NODE_ENV,
                    format!(
                        "{node} {orchestrator} {} {}",
                        data[node],
                        dirs[node].display()
                    ),
                )
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            (child, log)
        })
        .collect();
    wait_all(children);
    eprintln!("two nodes: {:.1} s", t.elapsed().as_secs_f64());
    assert!(!dirs[1].exists(), "node 1 wrote {}", dirs[1].display());
    let multi = latest_checkpoint(&dirs[0]).unwrap().unwrap();

    // The single-device run with both nodes' micro-batches.
    let a = tempfile::tempdir().unwrap();
    let one = single_device(tiny(), a.path(), 2);
    let files = [
        "control.safetensors",
        "unet.safetensors",
        "optimizer.safetensors",
    ];
    for file in files {
        let d = max_diff(&one.join(file), &multi.join(file));
        eprintln!("{file}: max |1 device − 2 nodes| = {d:e}");
        assert!(d <= 1e-5, "{file} differs by {d}");
    }
    let (s1, s2) = (read_state(&one).unwrap(), read_state(&multi).unwrap());
    assert_eq!(s1.step, s2.step);
    assert_eq!(s1.rng.micro_batches, s2.rng.micro_batches);
    assert_eq!(s1.data.samples, s2.data.samples);
    let (m1, m2) = (
        read_metrics(&a.path().join("metrics.jsonl")).unwrap(),
        read_metrics(&dirs[0].join("metrics.jsonl")).unwrap(),
    );
    assert_eq!(m1.len(), STEPS);
    assert_eq!(m2.len(), STEPS);
    for (x, y) in m1.iter().zip(&m2) {
        assert!(
            (x.loss - y.loss).abs() <= 1e-5 * x.loss.abs().max(1.0),
            "{x:?} vs {y:?}"
        );
    }

    // The comparison is sensitive: node 0's micro-batches alone end elsewhere.
    let e = tempfile::tempdir().unwrap();
    let alone = single_device(tiny(), e.path(), 1);
    let d = max_diff(
        &alone.join("unet.safetensors"),
        &multi.join("unet.safetensors"),
    );
    assert!(d > 1e-4, "accumulation 1 vs 2 nodes differ by only {d}");

    // Resuming the two-node run on one device is refused, not silently misaligned.
    let mut more = tiny();
    more.steps = Some(STEPS + 1);
    let err = train::<AB>(
        more,
        &options(&dirs[0], true),
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("as many devices"), "{err}");
    eprintln!("in all: {:.1} s", t.elapsed().as_secs_f64());
}
