//! The training losses of one micro-batch: eq. 1's noise-prediction loss through the
//! AdaIN control (Stage I, Algorithm 1 lines 4–9) and eq. 13 with the bottleneck (Stage II,
//! lines 16–29).
//!
//! Every random draw of a micro-batch (the VAE posterior samples of `z` and `R`, the
//! timesteps, `ε`, the injected noise) comes from one [`NoiseRng`] the caller seeds, in a
//! fixed order, so a step is reproducible from (run seed, micro-batch index).

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, FloatDType, Tensor, TensorData};
use diffmac_ldm::{AutoencoderKL, DiagonalGaussian, ManifoldInput};
use diffmac_mib::{MibConfig, stage2_loss};
use diffmac_sampler::{NoiseRng, NoiseSchedule, add_noise};

use crate::config::Stage2Variant;
use crate::error::{Result, TrainError};
use crate::models::FrozenModels;
use crate::trainable::Trainable;

/// The loss of one micro-batch and its terms (plain numbers for logging).
#[derive(Debug, Clone)]
pub struct StepLoss<B: Backend> {
    /// What is differentiated: `L_ldm¹` (Stage I) or eq. 13 (Stage II).
    pub total: Tensor<B, 1>,
    /// Named terms: `ldm`, and for the MIB `info`, `rec`.
    pub terms: Vec<(&'static str, Tensor<B, 1>)>,
}

/// The scaled latent `z = scale · sample(E(X_HQ))` and the HQ QC output, on the inner backend.
pub fn encode_hq<B: Backend>(
    vae: &AutoencoderKL<B>,
    hq: Tensor<B, 4>,
    rng: &mut NoiseRng,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let moments = vae.moments(hq);
    let g = DiagonalGaussian::from_moments(moments.clone());
    let noise = rng.gaussian_like(&g.mean);
    (g.sample(noise).mul_scalar(vae.scaling_factor), moments)
}

/// The control's input from QC moments (`ManifoldInput::read`, its sampling noise from
/// `rng`, drawn whatever the mode so that the stream does not depend on it).
pub fn control_input<B: Backend>(
    input: ManifoldInput,
    moments: Tensor<B, 4>,
    rng: &mut NoiseRng,
) -> Tensor<B, 4> {
    let [n, c, h, w] = moments.dims();
    let noise = rng.gaussian([n, c / 2, h, w], (&moments.device(), moments.dtype()));
    input.read(moments, Some(noise))
}

/// Eq. 1 through the control: random `t` and `ε`, `z_t = √ᾱ z + √(1−ᾱ) ε`,
/// `‖ε − ε_θ(z_t, c, t, control)‖²` (mean over elements, in f32).
///
/// # Errors
/// Sampler errors for mismatched shapes.
pub fn ldm_loss<AB: AutodiffBackend>(
    model: &Trainable<AB>,
    control_in: Tensor<AB, 4>,
    z0: Tensor<AB::InnerBackend, 4>,
    context: &Tensor<AB::InnerBackend, 3>,
    schedule: &NoiseSchedule,
    rng: &mut NoiseRng,
) -> Result<Tensor<AB, 1>> {
    let n = z0.dims()[0];
    let device = z0.device();
    let t = rng.timesteps(n, schedule.num_timesteps())?;
    let eps = rng.gaussian_like(&z0);
    let z_t = add_noise(schedule, z0, eps.clone(), &t)?;
    let t_values: Vec<f32> = t.iter().map(|&t| t as f32).collect();
    // Timesteps stay f32: bf16 cannot hold every integer up to 999.
    let timesteps =
        Tensor::<AB, 1>::from_data(TensorData::new(t_values, [n]), (&device, DType::F32));
    let modulation = model.control.modulation(control_in);
    let ctx = Tensor::<AB, 3>::from_inner(context.clone().repeat_dim(0, n));
    let eps_hat =
        model
            .unet
            .forward_modulated(Tensor::from_inner(z_t), timesteps, ctx, &modulation);
    let diff = to_f32(eps_hat) - to_f32(Tensor::<AB, 4>::from_inner(eps));
    Ok(diff.square().mean())
}

fn to_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    if t.dtype() == DType::F32 {
        t
    } else {
        t.cast(FloatDType::F32)
    }
}

/// Stage I (Algorithm 1 lines 4–9): `z` from the HQ face, `R = E(X_LQ)` read by the control,
/// `L_ldm¹`. `hq`, `lq`: `[N, 3, S, S]` in [-1, 1] on the inner backend.
///
/// # Errors
/// Sampler errors for mismatched shapes.
pub fn stage1_loss<AB: AutodiffBackend>(
    model: &Trainable<AB>,
    frozen: &FrozenModels<AB::InnerBackend>,
    input: ManifoldInput,
    hq: Tensor<AB::InnerBackend, 4>,
    lq: Tensor<AB::InnerBackend, 4>,
    rng: &mut NoiseRng,
) -> Result<StepLoss<AB>> {
    let vae = &frozen.vae;
    let (z0, _) = encode_hq(vae, hq, rng);
    let r = control_input(input, vae.moments(lq), rng);
    let loss = ldm_loss(
        model,
        Tensor::from_inner(r),
        z0,
        &frozen.context,
        &frozen.schedule,
        rng,
    )?;
    Ok(StepLoss {
        total: loss.clone(),
        terms: vec![("ldm", loss)],
    })
}

/// What Stage II needs besides the trainable model.
#[derive(Debug)]
pub struct Stage2Context<'a, B: Backend> {
    /// The frozen VAE, "" context, noise schedule and `F_ID` (identity injection only).
    pub frozen: &'a FrozenModels<B>,
    /// How the control reads `Z` (line 23) or `R`.
    pub input: ManifoldInput,
    /// Which variant trains.
    pub variant: Stage2Variant,
    /// Injection kind and loss weights.
    pub mib: &'a MibConfig,
}

/// Stage II (lines 16–29): `R = E(X_D1)`, the MIB with the identity of `X_D1` (or noise, or
/// nothing), `Z` read by the control, eq. 13. For "2AdaIN" the control reads `R` directly
/// and the loss is `L_ldm` alone. `hq`, `x_d1`: `[N, 3, S, S]` in [-1, 1], inner backend.
///
/// # Errors
/// Bottleneck errors (missing identity layers, wrong shapes), sampler errors.
pub fn stage2_loss_step<AB: AutodiffBackend>(
    model: &Trainable<AB>,
    cx: &Stage2Context<'_, AB::InnerBackend>,
    hq: Tensor<AB::InnerBackend, 4>,
    x_d1: Tensor<AB::InnerBackend, 4>,
    rng: &mut NoiseRng,
) -> Result<StepLoss<AB>> {
    let frozen = cx.frozen;
    let (z0, hq_moments) = encode_hq(&frozen.vae, hq, rng);
    let r = frozen.vae.moments(x_d1.clone());
    if cx.variant == Stage2Variant::TwoAdain {
        let input = control_input(cx.input, r, rng);
        let loss = ldm_loss(
            model,
            Tensor::from_inner(input),
            z0,
            &frozen.context,
            &frozen.schedule,
            rng,
        )?;
        return Ok(StepLoss {
            total: loss.clone(),
            terms: vec![("ldm", loss)],
        });
    }
    let mib = model
        .mib
        .as_ref()
        .ok_or_else(|| TrainError::Config("stage 2 with the MIB needs a bottleneck".into()))?;
    let injection = cx.mib.injection.injection(
        || -> Result<_> {
            let id = frozen.identity.as_ref().ok_or_else(|| {
                TrainError::Config("identity injection needs an identity encoder".into())
            })?;
            let emb = id.embed(x_d1)?;
            let emb = if emb.dtype() == r.dtype() {
                emb
            } else {
                emb.cast(r.dtype())
            };
            Ok(Some(Tensor::from_inner(emb)))
        },
        || Ok(Tensor::from_inner(rng.gaussian_like(&r))),
    )?;
    let out = mib.forward(Tensor::from_inner(r), injection)?;
    let [n, c, h, w] = out.z.dims();
    let noise = rng.gaussian::<AB::InnerBackend, 4>(
        [n, c / 2, h, w],
        (&hq_moments.device(), hq_moments.dtype()),
    );
    let control_in = cx
        .input
        .read(out.z.clone(), Some(Tensor::from_inner(noise)));
    let ldm = ldm_loss(
        model,
        control_in,
        z0,
        &frozen.context,
        &frozen.schedule,
        rng,
    )?;
    let loss = stage2_loss(ldm, &out, Tensor::from_inner(hq_moments), cx.mib);
    Ok(StepLoss {
        total: loss.total,
        terms: vec![("ldm", loss.ldm), ("info", loss.info), ("rec", loss.rec)],
    })
}
