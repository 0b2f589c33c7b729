//! Thread supervision of a data-parallel run: one peer per device (threads that register
//! only once all exist), each registered with the collective, a watchdog for the multi-node
//! start-up check, and a failing or panicking peer resetting the collective so that the
//! others stop instead of waiting; the first error that is not such a consequence wins.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn_collective::{CollectiveConfig, PeerId, finish_collective, register, reset_collective};

use super::NodeSetup;
use super::collective::{CollectivePeer, collective_error};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::trainer::{Event, TrainOptions, TrainSummary, train_peer};

/// One data-parallel run at a time per process.
pub(super) static RUN: Mutex<()> = Mutex::new(());

/// Runs this process's peers, one thread per device after the first, which runs on the
/// calling thread.
pub(super) fn run_peers<AB: AutodiffBackend>(
    config: TrainConfig,
    options: &TrainOptions,
    devices: &[AB::Device],
    setup: Option<&NodeSetup>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    if devices.is_empty() {
        return Err(TrainError::Config(
            "data-parallel training needs at least one device".into(),
        ));
    }
    let local = devices.len();
    let (nodes, first_rank) = setup.map_or((1, 0), |s| (s.nodes, s.node * local));
    let world = nodes * local;
    let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
    reset_collective::<AB::InnerBackend>();
    let mut collective = CollectiveConfig::default().with_num_devices(local);
    if let Some(setup) = setup {
        collective = setup.collective(collective)?;
    }
    let session = Session {
        world,
        nodes,
        multi_node: setup.is_some(),
        collective,
    };
    let results = run_threads::<AB>(config, options, devices, first_rank, &session, on_event);
    first_error(results)
}

/// Runs peer `first_rank + i` on `devices[i]`: the first on the calling thread (it alone
/// reports events), the others on threads of their own, started together. Returns every
/// peer's result, the first peer's first.
fn run_threads<AB: AutodiffBackend>(
    config: TrainConfig,
    options: &TrainOptions,
    devices: &[AB::Device],
    first_rank: usize,
    session: &Session,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Vec<Result<TrainSummary>> {
    std::thread::scope(|scope| {
        // Every peer registers only once all threads exist: a peer that never starts would
        // leave the others waiting in `register`, which nothing can interrupt.
        let mut go = Vec::new();
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .skip(1)
            .map(|(index, device)| {
                let rank = first_rank + index;
                let config = config.clone();
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                go.push(tx);
                std::thread::Builder::new()
                    .name(format!("diffmac-train-peer-{rank}"))
                    .spawn_scoped(scope, move || {
                        rx.recv().map_err(|_| {
                            TrainError::Collective("another peer did not start".into())
                        })?;
                        run_peer::<AB>(rank, device, session, config, options, &mut |_| {})
                    })
            })
            .collect();
        let started = handles.iter().all(|h| h.is_ok());
        if started {
            for tx in &go {
                // A peer that is gone has failed already; its join below says so.
                let _ = tx.send(());
            }
        }
        drop(go);
        let mut results = vec![if started {
            run_peer::<AB>(
                first_rank,
                &devices[0],
                session,
                config.clone(),
                options,
                on_event,
            )
        } else {
            Err(TrainError::Collective(
                "cannot start a thread for every peer".into(),
            ))
        }];
        for handle in handles {
            results.push(match handle {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(TrainError::Collective("a peer thread panicked".into()))
                }),
                Err(e) => Err(TrainError::Collective(format!(
                    "cannot start a peer thread: {e}"
                ))),
            });
        }
        results
    })
}

/// The run's outcome from every peer's (the first peer's first): the first error that is not
/// a collective failure (the others are its consequences), else the first collective error,
/// else the first peer's summary.
fn first_error(results: Vec<Result<TrainSummary>>) -> Result<TrainSummary> {
    let mut first_collective_error = None;
    let mut summary = None;
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(s) if index == 0 => summary = Some(s),
            Ok(_) => {}
            Err(e @ TrainError::Collective(_)) => {
                first_collective_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match (first_collective_error, summary) {
        (Some(e), _) => Err(e),
        (None, Some(s)) => Ok(s),
        (None, None) => Err(TrainError::Collective("peer 0 returned no summary".into())),
    }
}

/// What every peer of a run shares.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// Peers in all nodes.
    pub world: usize,
    /// Nodes (1 without a [`NodeSetup`]).
    pub nodes: usize,
    /// Whether the peers go through the global orchestrator.
    pub multi_node: bool,
    /// The collective's settings (devices of this process, the nodes' addresses).
    pub collective: CollectiveConfig,
}

/// One peer: register, train, finish; on failure, reset the collective so that no other
/// peer of this process waits forever.
fn run_peer<AB: AutodiffBackend>(
    rank: usize,
    device: &AB::Device,
    session: &Session,
    config: TrainConfig,
    options: &TrainOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    peer_session::<AB::InnerBackend, _>(rank, device.clone(), session, |peer| {
        train_peer::<AB>(config, options, device, peer, on_event)
    })
}

/// Registers peer `rank`, checks a multi-node world, runs `body`, and finishes the
/// collective; when any of it fails or panics, resets the collective instead, so that the
/// other local peers' pending or next collective call returns an error.
pub(super) fn peer_session<B: Backend, T>(
    rank: usize,
    device: B::Device,
    session: &Session,
    body: impl FnOnce(&mut CollectivePeer<B>) -> Result<T>,
) -> Result<T> {
    let id = PeerId::from(rank);
    register::<B>(id, device.clone(), session.collective.clone())
        .map_err(|e| collective_error("register", e))?;
    let mut peer = CollectivePeer::<B> {
        rank,
        world: session.world,
        nodes: session.nodes,
        device,
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        if session.multi_node {
            let _watch = rank.is_multiple_of(session.world / session.nodes).then(|| {
                Watchdog::start(
                    CHECK_PATIENCE,
                    "the nodes' start-up check has not finished: are the other nodes' data \
                     ports reachable at their node addresses? burn-collective 0.21.0 as \
                     published also hangs here, in its second global all-reduce (see \
                     docs/training.md, \"Several GPUs\")",
                )
            });
            peer.check_world()?;
        }
        body(&mut peer)
    }))
    .unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(TrainError::Collective(format!(
            "peer {rank} panicked: {message}"
        )))
    });
    match &result {
        Ok(_) => finish_collective::<B>(id).map_err(|e| collective_error("finish", e))?,
        Err(e) => {
            tracing::debug!("peer {rank} stops the data-parallel run: {e}");
            reset_collective::<B>();
        }
    }
    result
}

/// How long the multi-node start-up check may take before a hint is logged.
const CHECK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Logs `message` if it is not dropped within `patience`: a collective call cannot be
/// interrupted, but a hang can at least be explained.
struct Watchdog {
    done: Option<std::sync::mpsc::Sender<()>>,
}

impl Watchdog {
    fn start(patience: std::time::Duration, message: &'static str) -> Self {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("diffmac-train-watchdog".into())
            .spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(patience) {
                    tracing::error!("{message}");
                }
            });
        Self {
            done: spawned.is_ok().then_some(done),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            // The watchdog may have given up already; nothing to tell it then.
            let _ = done.send(());
        }
    }
}
