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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::Mutex;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use burn_collective::{
    CollectiveConfig, PeerId, ReduceOperation, all_reduce, finish_collective, register,
    reset_collective,
};
use burn_communication::Address;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::optimizer::Gradients;
use crate::trainer::{Event, Peer, TrainOptions, TrainSummary, train, train_peer};

/// Largest number of gradient elements all-reduced in one call (128 MiB of f32): gradients
/// are concatenated into buckets of about this size, one collective call each.
const BUCKET_ELEMENTS: usize = 1 << 25;

/// One data-parallel run at a time per process.
static RUN: Mutex<()> = Mutex::new(());

/// This process's place in a multi-node run ([`train_multi_node`]): every node runs one
/// process with the same number of devices, the same data, config and seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSetup {
    /// Number of nodes in the run.
    pub nodes: usize,
    /// This node's index, `0..nodes`; node 0 writes the run folder.
    pub node: usize,
    /// The global orchestrator ([`run_orchestrator`]), `ws://HOST:PORT`.
    pub orchestrator: String,
    /// Where the other nodes reach this node's data service, `ws://THIS_HOST:DATA_PORT`.
    pub node_address: String,
    /// The port this node's data service listens on (every interface); the port of
    /// `node_address` unless something forwards it.
    pub data_port: u16,
}

impl NodeSetup {
    /// A setup from optional parts (e.g. command-line flags): none of them is a single-node
    /// run (`None`); all of them a validated setup.
    ///
    /// # Errors
    /// [`TrainError::Config`] when only some are given, or see [`NodeSetup::validate`].
    pub fn from_parts(
        nodes: Option<usize>,
        node: Option<usize>,
        orchestrator: Option<String>,
        node_address: Option<String>,
        data_port: Option<u16>,
    ) -> Result<Option<Self>> {
        let missing: Vec<&str> = [
            ("the number of nodes", nodes.is_none()),
            ("this node's index", node.is_none()),
            ("the orchestrator address", orchestrator.is_none()),
            ("this node's address", node_address.is_none()),
            ("the data port", data_port.is_none()),
        ]
        .into_iter()
        .filter_map(|(what, absent)| absent.then_some(what))
        .collect();
        match (nodes, node, orchestrator, node_address, data_port) {
            (Some(nodes), Some(node), Some(orchestrator), Some(node_address), Some(data_port)) => {
                let setup = Self {
                    nodes,
                    node,
                    orchestrator,
                    node_address,
                    data_port,
                };
                setup.validate()?;
                Ok(Some(setup))
            }
            (None, None, None, None, None) => Ok(None),
            _ => Err(TrainError::Config(format!(
                "a multi-node run needs the number of nodes, this node's index, the \
                 orchestrator address, this node's address and the data port; missing: {}",
                missing.join(", ")
            ))),
        }
    }

    /// Checks the values: at least one node, `node < nodes`, `ws://` addresses, a data port.
    ///
    /// # Errors
    /// [`TrainError::Config`] saying which value is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.nodes == 0 || self.nodes > u32::MAX as usize {
            return Err(TrainError::Config(format!(
                "the number of nodes must be 1 or more (and fit in 32 bits), not {}",
                self.nodes
            )));
        }
        if self.node >= self.nodes {
            return Err(TrainError::Config(format!(
                "node index {} is not below the number of nodes {} (nodes are 0..{})",
                self.node, self.nodes, self.nodes
            )));
        }
        for (what, address) in [
            ("orchestrator", &self.orchestrator),
            ("node", &self.node_address),
        ] {
            // burn-communication retries an address without `ws://` forever instead of failing.
            let rest = address.strip_prefix("ws://").unwrap_or("");
            if rest.is_empty() || rest.contains("://") {
                return Err(TrainError::Config(format!(
                    "the {what} address must be ws://HOST:PORT, not {address:?}"
                )));
            }
        }
        if self.data_port == 0 {
            return Err(TrainError::Config("the data port must not be 0".into()));
        }
        if let Some(port) = self.node_address.rsplit(':').next()
            && port.trim_end_matches('/').parse::<u16>().ok() != Some(self.data_port)
        {
            tracing::warn!(
                "the node address {} does not name the data port {}: the other nodes must \
                 reach the data service there",
                self.node_address,
                self.data_port
            );
        }
        Ok(())
    }

    /// `collective` with this setup's global parameters.
    fn collective(&self, collective: CollectiveConfig) -> Result<CollectiveConfig> {
        let address = |a: &str| {
            Address::from_str(a)
                .map_err(|e| TrainError::Config(format!("invalid address {a:?}: {e}")))
        };
        Ok(collective
            .with_num_nodes(self.nodes as u32)
            .with_global_address(address(&self.orchestrator)?)
            .with_node_address(address(&self.node_address)?)
            .with_data_service_port(self.data_port))
    }
}

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
    run_peers::<AB>(config, options, devices, None, on_event)
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
    run_peers::<AB>(config, options, devices, Some(setup), on_event)
}

/// Runs this process's peers, one thread per device after the first, which runs on the
/// calling thread.
fn run_peers<AB: AutodiffBackend>(
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
    let results: Vec<Result<TrainSummary>> = std::thread::scope(|scope| {
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
                let session = session.clone();
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                go.push(tx);
                std::thread::Builder::new()
                    .name(format!("diffmac-train-peer-{rank}"))
                    .spawn_scoped(scope, move || {
                        rx.recv().map_err(|_| {
                            TrainError::Collective("another peer did not start".into())
                        })?;
                        run_peer::<AB>(rank, device, &session, config, options, &mut |_| {})
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
                &session,
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
    });
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
struct Session {
    /// Peers in all nodes.
    world: usize,
    /// Nodes (1 without a [`NodeSetup`]).
    nodes: usize,
    /// Whether the peers go through the global orchestrator.
    multi_node: bool,
    collective: CollectiveConfig,
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
fn peer_session<B: Backend, T>(
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

fn collective_error(what: &str, e: burn_collective::CollectiveError) -> TrainError {
    TrainError::Collective(format!("{what}: {e:?}"))
}

/// A peer of the collective.
struct CollectivePeer<B: Backend> {
    rank: usize,
    world: usize,
    /// Nodes of the run: the ring all-reduce between nodes needs at least one value per node.
    nodes: usize,
    device: B::Device,
}

impl<B: Backend> CollectivePeer<B> {
    /// The sum of `t` over all peers.
    fn sum(&self, t: Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        let n = t.dims()[0];
        // Zeros change no sum; they let a short tensor (a barrier, few loss terms) through
        // the ring between nodes, which refuses fewer values than nodes.
        let t = if n < self.nodes {
            let zeros = Tensor::zeros([self.nodes - n], (&t.device(), t.dtype()));
            Tensor::cat(vec![t, zeros], 0)
        } else {
            t
        };
        let out = all_reduce::<B>(
            PeerId::from(self.rank),
            t.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| collective_error("all-reduce", e))?;
        let out = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(out));
        Ok(if n < self.nodes {
            out.narrow(0, 0, n)
        } else {
            out
        })
    }

    /// The sum over all peers of f32 `values` (exact for small integers).
    fn sum_f32(&self, values: Vec<f32>) -> Result<Vec<f32>> {
        let n = values.len();
        // f32 whatever the device's default dtype (bf16 runs would round the losses).
        let t = Tensor::<B, 1>::from_data(TensorData::new(values, [n]), (&self.device, DType::F32));
        self.sum(t)?
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| TrainError::Collective(format!("reading an all-reduce: {e:?}")))
    }

    /// Multi-node: every node runs as many devices as this one (the ranks and the data
    /// sharding assume it) and no two nodes took the same index (both would take the same
    /// micro-batches and write the run folder). Every peer sees the same sums, so all of them
    /// fail alike.
    fn check_world(&self) -> Result<()> {
        let world = self.world as f32;
        let sums = self.sum_f32(vec![1.0, world])?;
        if sums[0] != world || sums[1] != world * world {
            return Err(TrainError::Config(format!(
                "the nodes run {} devices in all, but this node expects {} ({} nodes with {} \
                 each): every node must run the same number of devices",
                sums[0],
                self.world,
                self.nodes,
                self.world / self.nodes
            )));
        }
        let mut mine = vec![0.0; self.world];
        mine[self.rank] = 1.0;
        let taken = self.sum_f32(mine)?;
        if let Some(rank) = taken.iter().position(|&c| c != 1.0) {
            return Err(TrainError::Config(format!(
                "global rank {rank} is taken by {} peers: two nodes were given the same node \
                 index",
                taken[rank]
            )));
        }
        Ok(())
    }
}

impl<B: Backend> Peer<B> for CollectivePeer<B> {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.world
    }

    fn all_reduce(&mut self, grads: &mut Gradients<B>, stats: &mut [f64]) -> Result<()> {
        // Sum, then scale as `Gradients::finish` scales accumulated micro-batches.
        let scale = 1.0 / self.world as f64;
        let map = grads.tensors_mut();
        let keys: Vec<String> = map.keys().cloned().collect();
        let mut i = 0;
        while i < keys.len() {
            let mut parts = Vec::new();
            let mut sizes = Vec::new();
            let mut total = 0;
            let mut j = i;
            while j < keys.len() {
                let Some(t) = map.get(&keys[j]) else {
                    break;
                };
                let n = t.dims()[0];
                if j > i && total + n > BUCKET_ELEMENTS {
                    break;
                }
                total += n;
                sizes.push(n);
                parts.extend(map.remove(&keys[j]));
                j += 1;
            }
            let flat = if parts.len() == 1 {
                parts.remove(0)
            } else {
                Tensor::cat(parts, 0)
            };
            let reduced = self.sum(flat)?.mul_scalar(scale);
            let mut offset = 0;
            for (key, n) in keys[i..j].iter().zip(sizes) {
                map.insert(key.clone(), reduced.clone().narrow(0, offset, n));
                offset += n;
            }
            i = j.max(i + 1);
        }
        if !stats.is_empty() {
            let summed = self.sum_f32(stats.iter().map(|&v| v as f32).collect())?;
            for (s, v) in stats.iter_mut().zip(summed) {
                *s = f64::from(v) * scale;
            }
        }
        Ok(())
    }

    fn barrier(&mut self) -> Result<()> {
        let t = Tensor::<B, 1>::zeros([1], &self.device);
        self.sum(t).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn grads(values: [f32; 3]) -> Gradients<Flex> {
        let mut g = Gradients::default();
        let device = Default::default();
        g.tensors_mut().insert(
            "a".into(),
            Tensor::from_floats([values[0], values[1]], &device),
        );
        g.tensors_mut()
            .insert("b".into(), Tensor::from_floats([values[2]], &device));
        g
    }

    fn values(g: &Gradients<Flex>, key: &str) -> Vec<f32> {
        g.get(key).unwrap().clone().into_data().to_vec().unwrap()
    }

    /// Two peers: the mean of their gradients and loss terms; then a peer that fails (error or
    /// panic) makes the other's next all-reduce fail instead of waiting forever.
    #[test]
    fn all_reduce_means_and_a_failing_peer_stops_the_others() {
        let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
        reset_collective::<Flex>();
        let local = Session {
            world: 2,
            nodes: 1,
            multi_node: false,
            collective: CollectiveConfig::default().with_num_devices(2),
        };
        let session =
            |rank: usize, body: &(dyn Fn(&mut CollectivePeer<Flex>) -> Result<Vec<f32>> + Sync)| {
                peer_session::<Flex, _>(rank, Default::default(), &local, body)
            };
        let mean = |p: &mut CollectivePeer<Flex>| {
            let x = if p.rank() == 0 { 1.0 } else { 3.0 };
            let mut g = grads([x, 2.0 * x, -x]);
            let mut stats = [x as f64, 10.0];
            p.all_reduce(&mut g, &mut stats)?;
            p.barrier()?;
            let mut out = values(&g, "a");
            out.extend(values(&g, "b"));
            out.extend(stats.iter().map(|&s| s as f32));
            Ok(out)
        };
        let (r0, r1) = std::thread::scope(|s| {
            let h = s.spawn(|| session(1, &mean));
            (session(0, &mean), h.join().unwrap())
        });
        assert_eq!(r0.unwrap(), vec![2.0, 4.0, -2.0, 2.0, 10.0]);
        assert_eq!(r1.unwrap(), vec![2.0, 4.0, -2.0, 2.0, 10.0]);

        let waits = |p: &mut CollectivePeer<Flex>| {
            for _ in 0..3 {
                p.all_reduce(&mut grads([1.0; 3]), &mut [])?;
            }
            Ok(vec![])
        };
        let fails = |_: &mut CollectivePeer<Flex>| Err(TrainError::Stopped("boom".into()));
        let panics = |_: &mut CollectivePeer<Flex>| -> Result<Vec<f32>> { panic!("bang") };
        for failing in [
            &fails as &(dyn Fn(&mut CollectivePeer<Flex>) -> Result<Vec<f32>> + Sync),
            &panics,
        ] {
            let (r0, r1) = std::thread::scope(|s| {
                let h = s.spawn(|| session(1, failing));
                (session(0, &waits), h.join().unwrap())
            });
            assert!(matches!(r0, Err(TrainError::Collective(_))), "{r0:?}");
            assert!(r1.is_err());
        }
    }

    /// A multi-node setup is all parts or none, and its values are checked before anything
    /// connects (a bad address would otherwise be retried forever).
    #[test]
    fn node_setup_is_all_or_nothing_and_checked() {
        let parts = |node: usize, orchestrator: &str, port: u16| {
            NodeSetup::from_parts(
                Some(2),
                Some(node),
                Some(orchestrator.into()),
                Some("ws://10.0.0.2:4000".into()),
                Some(port),
            )
        };
        assert_eq!(
            NodeSetup::from_parts(None, None, None, None, None).unwrap(),
            None
        );
        let setup = parts(1, "ws://10.0.0.1:3000", 4000).unwrap().unwrap();
        assert_eq!((setup.nodes, setup.node, setup.data_port), (2, 1, 4000));
        let err = |r: Result<Option<NodeSetup>>| match r {
            Err(TrainError::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        };
        let m = err(NodeSetup::from_parts(
            Some(2),
            Some(0),
            None,
            None,
            Some(4000),
        ));
        assert!(
            m.contains("orchestrator address, this node's address"),
            "{m}"
        );
        assert!(err(parts(2, "ws://10.0.0.1:3000", 4000)).contains("not below"));
        assert!(err(parts(0, "10.0.0.1:3000", 4000)).contains("ws://HOST:PORT"));
        assert!(err(parts(0, "http://10.0.0.1:3000", 4000)).contains("ws://HOST:PORT"));
        assert!(err(parts(0, "ws://10.0.0.1:3000", 0)).contains("data port"));
        let none = NodeSetup::from_parts(
            Some(0),
            Some(0),
            Some("ws://a:1".into()),
            Some("ws://b:2".into()),
            Some(2),
        );
        assert!(err(none).contains("1 or more"));
    }
}
