//! The collective operations a peer needs: sums over all peers (padded for the ring between
//! nodes), the gradient all-reduce in buckets of up to [`BUCKET_ELEMENTS`], a barrier, and
//! the multi-node start-up check of the world's shape.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use burn_collective::{PeerId, ReduceOperation, all_reduce};

use crate::error::{Result, TrainError};
use crate::optimizer::Gradients;
use crate::trainer::Peer;

/// Largest number of gradient elements all-reduced in one call (128 MiB of f32): gradients
/// are concatenated into buckets of about this size, one collective call each.
const BUCKET_ELEMENTS: usize = 1 << 25;

/// A collective error as a [`TrainError::Collective`] saying what failed.
pub(super) fn collective_error(what: &str, e: burn_collective::CollectiveError) -> TrainError {
    TrainError::Collective(format!("{what}: {e:?}"))
}

/// A peer of the collective.
pub(super) struct CollectivePeer<B: Backend> {
    /// This peer's global rank.
    pub rank: usize,
    /// Peers in all nodes.
    pub world: usize,
    /// Nodes of the run: the ring all-reduce between nodes needs at least one value per node.
    pub nodes: usize,
    /// This peer's device.
    pub device: B::Device,
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
    pub(super) fn check_world(&self) -> Result<()> {
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
    use burn::backend::Flex;
    use burn_collective::{CollectiveConfig, reset_collective};

    use super::super::peers::{RUN, Session, peer_session};
    use super::*;

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
}
