//! Where this process sits in a run: a multi-node [`NodeSetup`] (node count, index,
//! addresses), checked before anything connects, and the collective's settings from it.

use std::str::FromStr;

use burn_collective::CollectiveConfig;
use burn_communication::Address;

use crate::error::{Result, TrainError};

/// This process's place in a multi-node run ([`train_multi_node`](super::train_multi_node)):
/// every node runs one process with the same number of devices, the same data, config and
/// seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSetup {
    /// Number of nodes in the run.
    pub nodes: usize,
    /// This node's index, `0..nodes`; node 0 writes the run folder.
    pub node: usize,
    /// The global orchestrator ([`run_orchestrator`](super::run_orchestrator)), `ws://HOST:PORT`.
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
    pub(super) fn collective(&self, collective: CollectiveConfig) -> Result<CollectiveConfig> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
