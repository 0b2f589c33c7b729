//! One optimiser step as the loop takes it: each micro-batch's loss is backpropagated and its
//! gradients and logged numbers summed ([`StepGradients`]), the sums are averaged over the
//! data-parallel peers, and [`optimizer_step`] averages over the micro-batches, clips, refuses
//! a non-finite loss or gradient, steps AdamW and updates the moving average. Public so that
//! `diffmac-bench` times the very step training takes.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::Peer;
use crate::ema::Ema;
use crate::error::{Result, TrainError};
use crate::optimizer::{AdamW, Gradients};
use crate::step::StepLoss;
use crate::trainable::Trainable;

/// The first value of `t` as f64 (NaN when it cannot be read).
fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

/// The gradients, loss and loss terms of one optimiser step's micro-batches, summed.
#[derive(Debug)]
pub struct StepGradients<B: Backend> {
    grads: Gradients<B>,
    micro_batches: usize,
    loss_sum: f64,
    term_sums: BTreeMap<String, f64>,
}

impl<B: Backend> Default for StepGradients<B> {
    fn default() -> Self {
        Self {
            grads: Gradients::default(),
            micro_batches: 0,
            loss_sum: 0.0,
            term_sums: BTreeMap::new(),
        }
    }
}

impl<B: Backend> StepGradients<B> {
    /// Backpropagates one micro-batch's `loss` through `model` and adds its gradients, its
    /// value and its terms to the sums.
    pub fn add<AB>(&mut self, model: &Trainable<AB>, loss: StepLoss<AB>)
    where
        AB: AutodiffBackend<InnerBackend = B>,
    {
        let g = loss.total.clone().backward();
        self.grads.accumulate(model, &g);
        self.micro_batches += 1;
        self.loss_sum += scalar(loss.total);
        for (name, t) in loss.terms {
            *self.term_sums.entry(name.to_string()).or_default() += scalar(t);
        }
    }

    /// Micro-batches added so far.
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// Replaces the sums by their means over the peers of a data-parallel run (nothing to do
    /// for one peer).
    pub(crate) fn all_reduce(&mut self, peer: &mut dyn Peer<B>) -> Result<()> {
        if peer.world() <= 1 {
            return Ok(());
        }
        let mut stats: Vec<f64> = std::iter::once(self.loss_sum)
            .chain(self.term_sums.values().copied())
            .collect();
        peer.all_reduce(&mut self.grads, &mut stats)?;
        self.loss_sum = stats[0];
        for (v, s) in self.term_sums.values_mut().zip(&stats[1..]) {
            *v = *s;
        }
        Ok(())
    }
}

/// What one optimiser step did: the numbers of its `metrics.jsonl` record.
#[derive(Debug, Clone, PartialEq)]
pub struct StepUpdate {
    /// The loss, averaged over the step's micro-batches.
    pub loss: f64,
    /// Its terms, averaged likewise.
    pub terms: BTreeMap<String, f64>,
    /// The learning rate used.
    pub lr: f64,
    /// The global gradient L2 norm before clipping.
    pub grad_norm: f64,
}

/// Optimiser step `step` of the run from the micro-batches in `grads`: the mean gradient,
/// clipped to the optimiser's `grad_clip_norm`, one AdamW step on `model`, then `ema` (when
/// given) updated from the new weights. Returns the new model and the step's numbers.
///
/// # Errors
/// [`TrainError::Stopped`] when the loss or the gradient norm is not finite; nothing has
/// changed then (the weights are those of step `step − 1`).
pub fn optimizer_step<AB: AutodiffBackend>(
    model: Trainable<AB>,
    mut grads: StepGradients<AB::InnerBackend>,
    optimizer: &mut AdamW<AB::InnerBackend>,
    ema: Option<&mut Ema<AB::InnerBackend>>,
    step: usize,
) -> Result<(Trainable<AB>, StepUpdate)> {
    let grad_norm = grads.grads.finish(optimizer.config().grad_clip_norm);
    let n = grads.micro_batches as f64;
    // Before the weights change: a non-finite loss or gradient stops the run with the
    // model (and the last checkpoint on disk) as they were after the last good step.
    let loss = grads.loss_sum / n;
    if !loss.is_finite() || !grad_norm.is_finite() {
        return Err(TrainError::Stopped(format!(
            "the loss is {loss} (gradient norm {grad_norm}) at step {step}; the weights \
             are those of step {}, as is the last checkpoint. Lower the learning rate or \
             check the data",
            step.saturating_sub(1)
        )));
    }
    let (model, lr) = optimizer.step::<AB, _>(model, &grads.grads);
    if let Some(ema) = ema {
        ema.update::<AB, _>(&model);
    }
    let update = StepUpdate {
        loss,
        terms: grads
            .term_sums
            .into_iter()
            .map(|(k, v)| (k, v / n))
            .collect(),
        lr,
        grad_norm,
    };
    Ok((model, update))
}
