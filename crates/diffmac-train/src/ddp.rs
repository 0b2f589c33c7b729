//! Data-parallel training over several devices of one machine with Burn's collective
//! operations (`burn-collective`; cargo feature `ddp`).
//!
//! [`train_data_parallel`] runs one peer per device, each a thread with its own model
//! replica, data loader and optimiser; the peers build identical replicas (every random
//! initialisation is seeded from the run seed), so they start from the same weights without a
//! broadcast. A run with `D` devices, batch `b` and accumulation `A` is the single-device run
//! with batch `b` and accumulation `A·D`: optimiser step `s` uses micro-batches
//! `k = (s−1)·A·D … s·A·D − 1` of the single-device stream (data and noise keyed by `k` as
//! before), peer `r` takes those with `k ≡ r (mod D)`, and after the backward passes the
//! summed gradients of the trainable parameters are all-reduced (sum, then divided by `D`)
//! with `burn_collective::all_reduce`, before clipping and the AdamW step that every peer then
//! takes identically. The logged loss terms are averaged the same way. Peer 0 runs on the
//! calling thread, reports the events and alone writes the run folder (config, statistics,
//! `metrics.jsonl`, validation sheets, checkpoints); the checkpoints are those of the
//! equivalent single-device run, and a run resumes on as many devices as it started with.
//!
//! When a peer fails (an error or a panic) it resets the collective, so the others leave
//! their pending all-reduce with an error instead of waiting forever; the first error that is
//! not such a consequence is returned. One data-parallel run at a time per process (the
//! collective server is a per-backend singleton); calls queue on a lock.
//!
//! Multi-node training (burn-collective's global orchestrator) is not wired in; see
//! `docs/training.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use burn_collective::{
    CollectiveConfig, PeerId, ReduceOperation, all_reduce, finish_collective, register,
    reset_collective,
};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::optimizer::Gradients;
use crate::trainer::{Event, Peer, TrainOptions, TrainSummary, train, train_peer};

/// Largest number of gradient elements all-reduced in one call (128 MiB of f32): gradients
/// are concatenated into buckets of about this size, one collective call each.
const BUCKET_ELEMENTS: usize = 1 << 25;

/// One data-parallel run at a time per process.
static RUN: Mutex<()> = Mutex::new(());

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
    let world = devices.len();
    match devices {
        [] => {
            return Err(TrainError::Config(
                "data-parallel training needs at least one device".into(),
            ));
        }
        [device] => return train::<AB>(config, options, device, on_event),
        _ => {}
    }
    let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
    reset_collective::<AB::InnerBackend>();
    let collective = CollectiveConfig::default().with_num_devices(world);
    let results: Vec<Result<TrainSummary>> = std::thread::scope(|scope| {
        // Every peer registers only once all threads exist: a peer that never starts would
        // leave the others waiting in `register`, which nothing can interrupt.
        let mut go = Vec::new();
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .skip(1)
            .map(|(rank, device)| {
                let config = config.clone();
                let collective = collective.clone();
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                go.push(tx);
                std::thread::Builder::new()
                    .name(format!("diffmac-train-peer-{rank}"))
                    .spawn_scoped(scope, move || {
                        rx.recv().map_err(|_| {
                            TrainError::Collective("another peer did not start".into())
                        })?;
                        run_peer::<AB>(
                            rank,
                            world,
                            device,
                            collective,
                            config,
                            options,
                            &mut |_| {},
                        )
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
                0,
                world,
                &devices[0],
                collective.clone(),
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
    for (rank, result) in results.into_iter().enumerate() {
        match result {
            Ok(s) if rank == 0 => summary = Some(s),
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

/// One peer: register, train, finish; on failure, reset the collective so that no other
/// peer waits forever.
fn run_peer<AB: AutodiffBackend>(
    rank: usize,
    world: usize,
    device: &AB::Device,
    collective: CollectiveConfig,
    config: TrainConfig,
    options: &TrainOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    peer_session::<AB::InnerBackend, _>(rank, world, device.clone(), collective, |peer| {
        train_peer::<AB>(config, options, device, peer, on_event)
    })
}

/// Registers peer `rank`, runs `body`, and finishes the collective; when `body` fails or
/// panics, resets the collective instead, so that the other peers' pending or next collective
/// call returns an error.
fn peer_session<B: Backend, T>(
    rank: usize,
    world: usize,
    device: B::Device,
    collective: CollectiveConfig,
    body: impl FnOnce(&mut CollectivePeer<B>) -> Result<T>,
) -> Result<T> {
    let id = PeerId::from(rank);
    register::<B>(id, device.clone(), collective).map_err(|e| collective_error("register", e))?;
    let mut peer = CollectivePeer::<B> {
        rank,
        world,
        device,
    };
    let result = catch_unwind(AssertUnwindSafe(|| body(&mut peer))).unwrap_or_else(|panic| {
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

fn collective_error(what: &str, e: burn_collective::CollectiveError) -> TrainError {
    TrainError::Collective(format!("{what}: {e:?}"))
}

/// A peer of the local collective.
struct CollectivePeer<B: Backend> {
    rank: usize,
    world: usize,
    device: B::Device,
}

impl<B: Backend> CollectivePeer<B> {
    /// The sum of `t` over all peers.
    fn sum(&self, t: Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        let out = all_reduce::<B>(
            PeerId::from(self.rank),
            t.into_primitive().tensor(),
            ReduceOperation::Sum,
        )
        .map_err(|e| collective_error("all-reduce", e))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
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
            let values: Vec<f32> = stats.iter().map(|&v| v as f32).collect();
            // f32 whatever the device's default dtype (bf16 runs would round the losses).
            let t = Tensor::<B, 1>::from_data(
                TensorData::new(values, [stats.len()]),
                (&self.device, DType::F32),
            );
            let summed = self.sum(t)?.into_data().convert::<f64>();
            let summed = summed
                .to_vec::<f64>()
                .map_err(|e| TrainError::Collective(format!("reading the loss terms: {e:?}")))?;
            for (s, v) in stats.iter_mut().zip(summed) {
                *s = v * scale;
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
        let config = CollectiveConfig::default().with_num_devices(2);
        let session =
            |rank: usize, body: &(dyn Fn(&mut CollectivePeer<Flex>) -> Result<Vec<f32>> + Sync)| {
                peer_session::<Flex, _>(rank, 2, Default::default(), config.clone(), body)
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
}
