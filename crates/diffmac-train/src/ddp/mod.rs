//! Data-parallel training over several devices of one machine, or of several machines
//! ("nodes"), with Burn's collective operations (`burn-collective`; cargo feature `ddp`).
//!
//! [`train_data_parallel`] runs one peer per device, each a thread with its own model
//! replica, data loader and optimiser; the peers build identical replicas (every random
//! initialisation is seeded from the run seed), so they start from the same weights without a
//! broadcast. A run with `W` peers in all, batch `b` and accumulation `A` is the single-device
//! run with batch `b` and accumulation `A·W`: optimiser step `s` uses micro-batches
//! `k = (s−1)·A·W … s·A·W − 1` of the single-device stream (data and noise keyed by `k` as
//! before), the peer of rank `r` takes those with `k ≡ r (mod W)`, and after the backward
//! passes the summed gradients of the trainable parameters are all-reduced (sum, then divided
//! by `W`) with `burn_collective::all_reduce`, before clipping and the AdamW step that every
//! peer then takes identically. The logged loss terms are averaged the same way. The peer of
//! rank 0 reports the events and alone writes the run folder (config, statistics,
//! `metrics.jsonl`, validation sheets, checkpoints); the checkpoints are those of the
//! equivalent single-device run, and a run resumes on as many peers as it started with.
//!
//! [`train_multi_node`] is the same over `N` nodes with `D` devices each (one process per
//! node, [`NodeSetup`]): device `d` of node `i` is rank `i·D + d` of `W = N·D`, and
//! burn-collective's global orchestrator ([`run_orchestrator`], started once somewhere)
//! connects the nodes: each all-reduce sums the node's peers locally, then between the nodes
//! (ring over websockets, each node serving its tensors on its data port), then hands the sum
//! to every local peer. Every node must run the same number of devices (the ranks and the
//! data sharding assume it); the first collective call checks it, and that no two nodes
//! claim the same index. Only node 0 writes; the other nodes need the same data, config and
//! seed, and, to resume, the run folder's checkpoints (shared storage or a copy).
//!
//! When a peer fails (an error or a panic) it resets the local collective, so the other peers
//! of its process leave their pending all-reduce with an error instead of waiting forever; the
//! first error that is not such a consequence is returned. burn-collective 0.21 does not pass
//! failures between nodes: the other nodes' processes must be stopped by whoever launched
//! them. One data-parallel run at a time per process (the collective server is a per-backend
//! singleton); calls queue on a lock. After a failed multi-node run, end the process (the
//! collective keeps its connection to the orchestrator).
//!
//! burn-collective 0.21.0 as published hangs in its second global all-reduce (its node sync
//! clears a copy of its list of synced nodes, not the list), so multi-node runs need a patched
//! copy of that crate; `docs/training.md` ("Several GPUs") gives the fix. A node whose start-up
//! check has not finished after a minute logs a hint.
//!
//! One file per concept: `topology` ([`NodeSetup`]: this process's place among the nodes),
//! `peers` (one thread per device, registration, a failing peer stopping the others) and
//! `collective` (sums over the peers, the bucketed gradient all-reduce, the barrier).

mod collective;
mod peers;
mod topology;

use burn::tensor::backend::AutodiffBackend;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::trainer::{Event, TrainOptions, TrainSummary, train};

pub use topology::NodeSetup;

/// Runs burn-collective's global orchestrator for multi-node runs on `port` of every
/// interface, on a tokio runtime of its own, until the process gets Ctrl-C or SIGTERM. The
/// nodes' [`NodeSetup::orchestrator`] is `ws://THIS_HOST:port`.
///
/// # Errors
/// [`TrainError::Collective`] when the port cannot be listened on or the runtime cannot start.
pub fn run_orchestrator(port: u16) -> Result<()> {
    // The orchestrator only logs a failed bind and returns; try it first for a clear error.
    drop(std::net::TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
        TrainError::Collective(format!(
            "the orchestrator cannot listen on port {port}: {e}"
        ))
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| TrainError::Collective(format!("cannot start the orchestrator: {e}")))?;
    runtime.block_on(burn_collective::start_global_orchestrator(port));
    Ok(())
}

/// Trains as [`train`] does, data-parallel over `devices` (one peer per device; the same
/// device may be named several times, e.g. the CPU device in tests). One device is plain
/// [`train`]. See the module documentation for what is shared and what each peer does.
///
/// # Errors
/// [`TrainError::Config`] for an empty device list, the errors of [`train`], and
/// [`TrainError::Collective`] when the collective fails or a peer panics.
pub fn train_data_parallel<AB: AutodiffBackend>(
    config: TrainConfig,
    options: &TrainOptions,
    devices: &[AB::Device],
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    if let [device] = devices {
        return train::<AB>(config, options, device, on_event);
    }
    peers::run_peers::<AB>(config, options, devices, None, on_event)
}

/// [`train_data_parallel`] as node `setup.node` of a multi-node run: this process's
/// `devices` are ranks `node·D … node·D + D − 1` of `nodes·D` (every node must name as many
/// devices), connected to the other nodes through the orchestrator. Even one device goes
/// through the collective. `on_event` hears only on node 0, which alone writes the run folder;
/// the other nodes return a summary without checkpoint.
///
/// # Errors
/// As [`train_data_parallel`]; [`TrainError::Config`] for an invalid setup or a data port in
/// use, or when the nodes' device counts differ or two nodes claim the same index.
pub fn train_multi_node<AB: AutodiffBackend>(
    config: TrainConfig,
    options: &TrainOptions,
    devices: &[AB::Device],
    setup: &NodeSetup,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    setup.validate()?;
    // The collective only logs a data service that cannot listen, and the others then wait.
    drop(
        std::net::TcpListener::bind(("0.0.0.0", setup.data_port)).map_err(|e| {
            TrainError::Config(format!(
                "this node's data service cannot listen on port {}: {e}",
                setup.data_port
            ))
        })?,
    );
    peers::run_peers::<AB>(config, options, devices, Some(setup), on_event)
}
