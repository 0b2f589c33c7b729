//! Launching a run as a tool's flags describe it: the config (a preset, a JSON file merged
//! over it, single settings over both), the devices and nodes it trains on, and the
//! orchestrator of multi-node runs. A build without the `ddp` feature refuses what needs it
//! with [`TrainError::NeedsDdp`], so that tools carry no feature gates of their own.

use std::path::PathBuf;

use burn::tensor::backend::{AutodiffBackend, Device as _, DeviceId, DeviceOps as _};

use crate::config::{Preset, Stage, TrainConfig};
use crate::error::{Result, TrainError};
use crate::trainer::{Event, TrainOptions, TrainSummary, train};

/// The config a tool's flags ask for: `preset`, the JSON `file` merged over it, then each
/// setting given.
#[derive(Debug, Clone, Default)]
pub struct ConfigFlags {
    /// JSON config; only the fields it names change the preset.
    pub file: Option<PathBuf>,
    /// Starting point of the config.
    pub preset: Preset,
    /// Stage to train (overrides the config).
    pub stage: Option<Stage>,
    /// Folder of HQ training faces (overrides `data.hq_dir`).
    pub data: Option<PathBuf>,
    /// Folder of given LQ faces (overrides `data.lq_dir`).
    pub lq_data: Option<PathBuf>,
    /// Optimiser steps (overrides `steps`).
    pub steps: Option<usize>,
    /// Run seed (overrides `seed`).
    pub seed: Option<u64>,
    /// Stage II: the Stage I checkpoint to start from (overrides `stage2.stage1_checkpoint`).
    pub stage1_checkpoint: Option<PathBuf>,
}

impl ConfigFlags {
    /// The config in force, validated.
    ///
    /// # Errors
    /// The config file's read and parse errors, or [`TrainError::Config`] for an invalid
    /// config.
    pub fn config(&self) -> Result<TrainConfig> {
        let stage = self.stage.unwrap_or(Stage::One);
        let mut config = match &self.file {
            Some(path) => TrainConfig::merge_json_file(path, self.preset)?,
            None => TrainConfig::preset(self.preset, stage),
        };
        if self.stage.is_some() {
            config.stage = stage;
        }
        if let Some(d) = &self.data {
            config.data.hq_dir = d.clone();
        }
        if let Some(d) = &self.lq_data {
            config.data.lq_dir = Some(d.clone());
        }
        if let Some(n) = self.steps {
            config.steps = Some(n);
        }
        if let Some(s) = self.seed {
            config.seed = s;
        }
        if let Some(c) = &self.stage1_checkpoint {
            config.stage2.stage1_checkpoint = Some(c.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

/// The flags of one node of a multi-node run (feature `ddp`): all of them, or none for a
/// run on one machine.
#[derive(Debug, Clone, Default)]
pub struct NodeFlags {
    /// Number of nodes.
    pub nodes: Option<u16>,
    /// This node's index, `0..nodes`; node 0 writes the run folder.
    pub node: Option<u16>,
    /// The global orchestrator, `ws://HOST:PORT`.
    pub orchestrator: Option<String>,
    /// Where the other nodes reach this node's data service, `ws://THIS_HOST:DATA_PORT`.
    pub node_address: Option<String>,
    /// The port this node's data service listens on.
    pub data_port: Option<u16>,
}

/// This process's place in a multi-node run.
#[cfg(feature = "ddp")]
type Node = crate::ddp::NodeSetup;
/// Without the `ddp` feature there is no multi-node run.
#[cfg(not(feature = "ddp"))]
type Node = std::convert::Infallible;

impl NodeFlags {
    #[cfg(feature = "ddp")]
    fn node(self) -> Result<Option<Node>> {
        crate::ddp::NodeSetup::from_parts(
            self.nodes.map(usize::from),
            self.node.map(usize::from),
            self.orchestrator,
            self.node_address,
            self.data_port,
        )
        .map_err(|e| {
            TrainError::Config(format!(
                "{e} (flags --nodes, --node, --orchestrator, --node-address, --data-port)"
            ))
        })
    }

    #[cfg(not(feature = "ddp"))]
    fn node(self) -> Result<Option<Node>> {
        let any = self.nodes.is_some()
            || self.node.is_some()
            || self.orchestrator.is_some()
            || self.node_address.is_some()
            || self.data_port.is_some();
        if any {
            return Err(TrainError::NeedsDdp("multi-node training (--nodes ...)"));
        }
        Ok(None)
    }
}

/// Where a run trains: the devices of this process (one peer each) and, in a multi-node run,
/// this node's place.
pub struct Launch<AB: AutodiffBackend> {
    devices: Vec<AB::Device>,
    node: Option<Node>,
}

impl<AB: AutodiffBackend> Launch<AB> {
    /// `devices` peers on this machine, numbered from `first`'s kind (GPUs `0..devices`; the
    /// CPU device `devices` times), placed as `nodes` say.
    ///
    /// # Errors
    /// [`TrainError::NeedsDdp`] for several devices or nodes in a build without `ddp`,
    /// [`TrainError::Config`] for incomplete or invalid node flags.
    pub fn new(first: AB::Device, devices: u16, nodes: NodeFlags) -> Result<Self> {
        if devices > 1 && !cfg!(feature = "ddp") {
            return Err(TrainError::NeedsDdp("--devices above 1"));
        }
        let type_id = first.id().type_id;
        Ok(Self {
            devices: (0..devices)
                .map(|index_id| AB::Device::from_id(DeviceId { type_id, index_id }))
                .collect(),
            node: nodes.node()?,
        })
    }

    /// Whether this process is a node other than node 0 of a multi-node run: it hears no
    /// events and writes nothing.
    pub fn is_follower(&self) -> bool {
        #[cfg(feature = "ddp")]
        return self.node.as_ref().is_some_and(|n| n.node != 0);
        #[cfg(not(feature = "ddp"))]
        false
    }

    /// Trains `config` on one device ([`train`]), data-parallel on several, or as one node of
    /// several (the last two with the `ddp` feature).
    ///
    /// # Errors
    /// The errors of [`train`] and of data-parallel training.
    pub fn train(
        &self,
        config: TrainConfig,
        options: &TrainOptions,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<TrainSummary> {
        #[cfg(feature = "ddp")]
        if let Some(setup) = &self.node {
            return crate::ddp::train_multi_node::<AB>(
                config,
                options,
                &self.devices,
                setup,
                on_event,
            );
        }
        #[cfg(not(feature = "ddp"))]
        if let Some(never) = self.node {
            match never {}
        }
        #[cfg(feature = "ddp")]
        if self.devices.len() > 1 {
            return crate::ddp::train_data_parallel::<AB>(config, options, &self.devices, on_event);
        }
        let device = self.devices.first().cloned().unwrap_or_default();
        train::<AB>(config, options, &device, on_event)
    }
}

/// Runs the global orchestrator of multi-node runs on `port` until Ctrl-C or SIGTERM (see
/// `ddp::run_orchestrator`).
///
/// # Errors
/// [`TrainError::NeedsDdp`] in a build without `ddp`; [`TrainError::Collective`] when the
/// port cannot be listened on.
pub fn run_orchestrator(port: u16) -> Result<()> {
    #[cfg(feature = "ddp")]
    return crate::ddp::run_orchestrator(port);
    #[cfg(not(feature = "ddp"))]
    {
        let _ = port;
        Err(TrainError::NeedsDdp("--run-orchestrator"))
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};

    use super::*;

    type AB = Autodiff<Flex>;

    #[test]
    fn config_flags_override_the_preset_and_are_validated() {
        let flags = ConfigFlags {
            preset: Preset::Tiny,
            stage: Some(Stage::Two),
            data: Some("faces".into()),
            steps: Some(7),
            seed: Some(11),
            stage1_checkpoint: Some("run1".into()),
            ..ConfigFlags::default()
        };
        let config = flags.config().unwrap();
        assert_eq!(config.stage, Stage::Two);
        assert_eq!(config.data.hq_dir, PathBuf::from("faces"));
        assert_eq!((config.steps, config.seed), (Some(7), 11));
        assert_eq!(config.stage2.stage1_checkpoint, Some(PathBuf::from("run1")));
        // Without a stage the preset's Stage I stays; zero steps do not validate.
        let plain = ConfigFlags {
            preset: Preset::Tiny,
            ..ConfigFlags::default()
        };
        assert_eq!(plain.config().unwrap().stage, Stage::One);
        let zero = ConfigFlags {
            steps: Some(0),
            ..plain
        };
        assert!(zero.config().unwrap_err().is_setup());
    }

    #[test]
    fn devices_and_nodes_are_checked_against_the_build() {
        let one = Launch::<AB>::new(Default::default(), 1, NodeFlags::default()).unwrap();
        assert!(!one.is_follower());
        let partial = NodeFlags {
            nodes: Some(2),
            ..NodeFlags::default()
        };
        let err = Launch::<AB>::new(Default::default(), 1, partial)
            .err()
            .expect("incomplete node flags are refused");
        assert!(err.is_setup(), "{err}");
        let several = Launch::<AB>::new(Default::default(), 2, NodeFlags::default());
        if cfg!(feature = "ddp") {
            assert!(several.is_ok());
        } else {
            let err = several.err().expect("two devices need ddp");
            assert!(matches!(err, TrainError::NeedsDdp(_)), "{err}");
            assert!(err.to_string().contains("--features ddp"), "{err}");
        }
    }
}
