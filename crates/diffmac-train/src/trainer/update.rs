//! One optimiser step as the loop takes it: each micro-batch's loss is backpropagated and its
//! gradients and logged numbers summed ([`StepGradients`]), the sums are averaged over the
//! data-parallel peers, and [`optimizer_step`] averages over the micro-batches, clips, refuses
//! a non-finite loss or gradient, steps AdamW and updates the moving average. Public so that
//! `diffmac-bench` times the very step training takes.

use std::collections::BTreeMap;

use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::Peer;
use crate::ema::Ema;
use crate::error::{Result, TrainError};
use crate::optimizer::{AdamW, Gradients};
use crate::step::StepLoss;
#[cfg(doc)]
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
    /// Backpropagates one micro-batch's `loss` through `model` (a [`Trainable`] in training)
    /// and adds its gradients, its value and its terms to the sums.
    pub fn add<AB, M>(&mut self, model: &M, loss: StepLoss<AB>)
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<AB>,
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
/// clipped to the optimiser's `grad_clip_norm`, one AdamW step on `model` (a [`Trainable`] in
/// training), then `ema` (when given) updated from the new weights. Returns the new model and
/// the step's numbers.
///
/// # Errors
/// [`TrainError::Stopped`] when the loss or the gradient norm is not finite; nothing has
/// changed then (the weights are those of step `step − 1`).
pub fn optimizer_step<AB: AutodiffBackend, M: AutodiffModule<AB>>(
    model: M,
    mut grads: StepGradients<AB::InnerBackend>,
    optimizer: &mut AdamW<AB::InnerBackend>,
    ema: Option<&mut Ema<AB::InnerBackend>>,
    step: usize,
) -> Result<(M, StepUpdate)> {
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

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::{Linear, LinearConfig};

    use super::*;
    use crate::config::OptimizerConfig;
    use crate::trainer::SingleDevice;

    type AB = Autodiff<Flex>;

    fn layer() -> Linear<AB> {
        let device = Default::default();
        let mut l = LinearConfig::new(2, 1).init::<AB>(&device);
        l.weight = burn::module::Param::from_tensor(Tensor::from_floats([[0.5], [-1.0]], &device));
        l.bias = Some(burn::module::Param::from_tensor(Tensor::from_floats(
            [0.25],
            &device,
        )));
        l
    }

    /// `(w·x + b)²` of one input, as a micro-batch loss with one term.
    fn loss(l: &Linear<AB>, x: [f32; 2], scale: f32) -> StepLoss<AB> {
        let x = Tensor::<AB, 2>::from_floats([x], &Default::default());
        let total = l.forward(x).square().sum().mul_scalar(scale);
        StepLoss {
            total: total.clone(),
            terms: vec![("ldm", total.mul_scalar(2.0))],
        }
    }

    fn values(l: &Linear<AB>) -> Vec<f32> {
        l.weight.val().into_data().to_vec().unwrap()
    }

    /// Two micro-batches through `StepGradients` and `optimizer_step` give the mean loss and
    /// terms, the optimiser's learning rate and the clipped step, exactly as `Gradients` and
    /// `AdamW` used by hand; the moving average follows the new weights.
    #[test]
    fn a_step_averages_the_micro_batches_and_steps_as_by_hand() {
        let config = OptimizerConfig {
            lr: 0.1,
            grad_clip_norm: Some(0.5),
            ..OptimizerConfig::default()
        };
        let inputs = [[1.0, 2.0], [-3.0, 0.5]];
        let mut grads = StepGradients::default();
        let model = layer();
        let mut expected_loss = 0.0;
        for x in inputs {
            let l = loss(&model, x, 1.0);
            expected_loss += f64::from(l.total.clone().into_scalar()) / 2.0;
            grads.add(&model, l);
        }
        assert_eq!(grads.micro_batches(), 2);
        grads.all_reduce(&mut SingleDevice).unwrap();
        let mut optimizer = AdamW::new(config.clone());
        let mut ema = Ema::new(0.0);
        let (stepped, update) =
            optimizer_step(model, grads, &mut optimizer, Some(&mut ema), 1).unwrap();

        let by_hand = layer();
        let mut g = Gradients::<Flex>::default();
        for x in inputs {
            g.accumulate(&by_hand, &loss(&by_hand, x, 1.0).total.backward());
        }
        let norm = g.finish(config.grad_clip_norm);
        let (by_hand, lr) = AdamW::new(config).step::<AB, _>(by_hand, &g);

        assert_eq!(values(&stepped), values(&by_hand));
        assert_ne!(values(&stepped), values(&layer()));
        assert_eq!((update.lr, update.grad_norm), (lr, norm));
        assert!(norm > 0.5, "the gradient was clipped: {norm}");
        assert!((update.loss - expected_loss).abs() < 1e-9, "{update:?}");
        assert!(
            (update.terms["ldm"] - 2.0 * expected_loss).abs() < 1e-9,
            "{update:?}"
        );
        assert_eq!(optimizer.steps_taken(), 1);
        // Decay 0: the average is the new weights.
        let averaged: Vec<f32> = ema
            .get("weight")
            .unwrap()
            .clone()
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(averaged, values(&stepped));
    }

    /// A non-finite loss stops the run before the optimiser moves, naming the step.
    #[test]
    fn a_non_finite_loss_is_refused_before_the_step() {
        let model = layer();
        let mut grads = StepGradients::default();
        grads.add(&model, loss(&model, [1.0, 2.0], f32::INFINITY));
        let mut optimizer = AdamW::new(OptimizerConfig::default());
        let err = optimizer_step(model, grads, &mut optimizer, None, 7).unwrap_err();
        let TrainError::Stopped(message) = err else {
            panic!("expected Stopped, got {err:?}");
        };
        assert!(
            message.contains("at step 7") && message.contains("step 6"),
            "{message}"
        );
        assert_eq!(optimizer.steps_taken(), 0);
    }
}
