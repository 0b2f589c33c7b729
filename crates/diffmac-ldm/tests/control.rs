//! The Stage I AdaIN control (eqs. 2–4) on the tiny UNet fixture.

mod common;

use burn::module::Param;
use burn::tensor::{Distribution, FloatDType, Tensor};
use common::{B, Io, device, fixture, rel_err, values};
use diffmac_ldm::control::instance_norm;
use diffmac_ldm::unet::EncoderModulation;
use diffmac_ldm::{ControlConfig, ManifoldInput, TrainableParts, UNet2DConditionModel};

fn unet() -> UNet2DConditionModel<B> {
    UNet2DConditionModel::<B>::from_dir(fixture("unet_conv"), &device(), FloatDType::F32)
        .expect("load unet")
}

/// Sample `[2, 4, 16, 16]`, timesteps, context of the fixture.
fn inputs() -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 3>) {
    let io = Io::open("unet_conv");
    (
        io.float("sample"),
        io.float("timestep"),
        io.float("encoder_hidden_states"),
    )
}

/// A QC output `[2, 8, 16, 16]` for the 16×16 latent of the fixture.
fn moments() -> Tensor<B, 4> {
    Tensor::random([2, 8, 16, 16], Distribution::Normal(0.0, 1.0), &device())
}

#[test]
fn fresh_control_leaves_the_unet_exactly_unchanged() {
    let unet = unet();
    let (x, t, c) = inputs();
    let plain = unet.forward(x.clone(), t.clone(), c.clone());
    for input in [
        ManifoldInput::Sample,
        ManifoldInput::Mean,
        ManifoldInput::Moments,
    ] {
        let config = ControlConfig {
            input,
            ..ControlConfig::for_unet(&unet)
        };
        let control = config.init::<B>(&device());
        let noise = Tensor::random([2, 4, 16, 16], Distribution::Normal(0.0, 1.0), &device());
        let manifold = input.read(moments(), Some(noise));
        let modulation = control.modulation(manifold);
        let out = unet.forward_modulated(x.clone(), t.clone(), c.clone(), &modulation);
        assert_eq!(values(out), values(plain.clone()), "{input:?}");
    }
}

#[test]
fn gamma_beta_have_the_encoder_input_shapes() {
    let unet = unet();
    let control = ControlConfig::for_unet(&unet).init::<B>(&device());
    assert_eq!(control.levels(), 3);
    let m = control.modulation(ManifoldInput::Mean.read(moments(), None));
    let shapes: Vec<_> = m.levels.iter().map(|(g, b)| (g.dims(), b.dims())).collect();
    assert_eq!(
        shapes,
        vec![
            ([2, 16, 16, 16], [2, 16, 16, 16]),
            ([2, 16, 8, 8], [2, 16, 8, 8]),
            ([2, 32, 4, 4], [2, 32, 4, 4]),
        ]
    );
}

#[test]
fn trained_control_changes_the_prediction() {
    let unet = unet();
    let (x, t, c) = inputs();
    let plain = unet.forward(x.clone(), t.clone(), c.clone());
    let mut control = ControlConfig::for_unet(&unet).init::<B>(&device());
    // Stand-in for training: non-zero γ/β convolutions.
    let bump = |p: &Param<Tensor<B, 4>>| {
        Param::from_tensor(Tensor::random(
            p.val().dims(),
            Distribution::Normal(0.0, 0.05),
            &device(),
        ))
    };
    for conv in control.gamma.iter_mut().chain(control.beta.iter_mut()) {
        conv.weight = bump(&conv.weight);
    }
    let m = control.modulation(ManifoldInput::Mean.read(moments(), None));
    let out = unet.forward_modulated(x, t, c, &m);
    let e = rel_err(out, plain);
    assert!(e > 1e-3, "relative change {e:.3e}");
}

/// Eqs. 2–4 on one level, written out element by element.
#[test]
fn modulation_is_eqs_2_to_4() {
    let d = device();
    let h = Tensor::<B, 4>::random([2, 3, 4, 5], Distribution::Normal(1.0, 2.0), &d);
    let gamma = Tensor::<B, 4>::random([2, 3, 4, 5], Distribution::Normal(0.0, 1.0), &d);
    let beta = Tensor::<B, 4>::random([2, 3, 4, 5], Distribution::Normal(0.0, 1.0), &d);
    let m = diffmac_ldm::ControlModulation {
        levels: vec![(gamma.clone(), beta.clone())],
        eps: 1e-5,
    };
    let got = values(m.modulate(0, h.clone()));
    let (hv, gv, bv) = (values(h.clone()), values(gamma), values(beta));
    for plane in 0..6 {
        let s = &hv[plane * 20..(plane + 1) * 20];
        let mean = s.iter().sum::<f64>() / 20.0;
        let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 20.0;
        for k in 0..20 {
            let i = plane * 20 + k;
            let want = gv[i] * (hv[i] - mean) / (var + 1e-5).sqrt() + bv[i] + hv[i];
            assert!((got[i] - want).abs() < 1e-4, "{i}: {} vs {want}", got[i]);
        }
    }
    // Levels beyond the control's pass through; instance norm gives zero mean, unit variance.
    assert_eq!(values(m.modulate(1, h.clone())), hv);
    let n = values(instance_norm(h, 0.0));
    let mean = n[..20].iter().sum::<f64>() / 20.0;
    let var = n[..20].iter().map(|v| v * v).sum::<f64>() / 20.0;
    assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4);
}

#[test]
fn config_json_defaults_and_unknown_fields() {
    let c: ControlConfig =
        serde_json::from_str(r#"{"trainable": "control_and_unet"}"#).expect("partial config");
    assert_eq!(c.trainable, TrainableParts::ControlAndUNet);
    assert_eq!(c.encoder_channels, vec![320, 320, 640, 1280]);
    assert_eq!(c.input, ManifoldInput::Sample);
    assert!(serde_json::from_str::<ControlConfig>(r#"{"gama": 1}"#).is_err());
}
