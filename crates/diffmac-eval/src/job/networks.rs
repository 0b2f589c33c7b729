//! The networks of a run, each loaded only when one of its metrics needs it.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use diffmac_face::Mtcnn;
use diffmac_id::{IdentityNetwork, load_identity_encoder};

use super::{EvalEvent, EvalOptions, OnEvent};
use crate::error::{EvalError, Result};
use crate::fid::InceptionV3;
use crate::lpips::Lpips;
use crate::metric::Metric;

/// The networks a run loaded (only those its metrics need).
pub(crate) struct Networks<B: Backend> {
    pub lpips: Option<Lpips<B>>,
    pub identity: Option<IdentityNetwork<B>>,
    pub inception: Option<InceptionV3<B>>,
    pub mtcnn: Option<Mtcnn<B>>,
}

impl<B: Backend> Networks<B> {
    /// Loads what `metrics` need, failing when a needed weights file was not given.
    pub(super) fn load(
        options: &EvalOptions,
        metrics: &[Metric],
        device: &B::Device,
        on_event: &OnEvent<'_>,
    ) -> Result<Self> {
        let weights = |metric: Metric, path: &Option<PathBuf>, what| {
            path.clone()
                .ok_or(EvalError::MissingWeights { metric, what })
        };
        let lpips = if metrics.contains(&Metric::Lpips) {
            let path = weights(Metric::Lpips, &options.lpips_weights, "the LPIPS backbone")?;
            Some(Lpips::load(options.lpips_net, &path, device)?)
        } else {
            None
        };
        let identity = match metrics
            .iter()
            .find(|m| matches!(m, Metric::IdCos | Metric::IdDeg))
        {
            Some(&metric) => {
                let path = weights(metric, &options.id_weights, "an identity encoder")?;
                let encoder = load_identity_encoder::<B>(&options.id_kind, &path, device)?;
                on_event(EvalEvent::IdentityEncoder {
                    kind: encoder.kind(),
                    path: &path,
                });
                Some(encoder)
            }
            None => None,
        };
        let inception = if metrics.contains(&Metric::Fid) {
            let path = weights(Metric::Fid, &options.fid_weights, "the Inception network")?;
            Some(InceptionV3::load(&path, device)?)
        } else {
            None
        };
        let mtcnn = if metrics.contains(&Metric::Lmd) {
            Some(Mtcnn::pretrained(device)?)
        } else {
            None
        };
        Ok(Self {
            lpips,
            identity,
            inception,
            mtcnn,
        })
    }
}
