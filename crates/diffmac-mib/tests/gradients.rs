//! Training wiring: gradients reach the filter, the identity FCs and the control, and never
//! the frozen parts (VAE, identity network, UNet, the QC statistics).

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::tensor::{Distribution, FloatDType, Tensor};
use diffmac_ldm::nn::{Conv2d, Linear};
use diffmac_ldm::{ControlConfig, ManifoldInput, TrainableParts, UNet2DConditionModel};
use diffmac_mib::{Injection, MibConfig, QcStats, stage2_loss};

type AB = Autodiff<Flex>;

fn dev() -> burn::tensor::Device<AB> {
    Default::default()
}

fn normal<const D: usize>(shape: [usize; D]) -> Tensor<AB, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &dev())
}

fn stats() -> QcStats {
    QcStats {
        mean: vec![0.1; 8],
        std: vec![0.9; 8],
        count: 1,
        images: 1,
    }
}

/// A stand-in for the frozen VAE encoder + QC: image `[N, 3, H, W]` → `[N, 8, H, W]`.
fn frozen_qc() -> Conv2d<AB> {
    Conv2d {
        weight: Param::from_tensor(normal([8, 3, 3, 3]) * 0.3).set_require_grad(false),
        bias: Some(Param::from_tensor(normal([8])).set_require_grad(false)),
        stride: 1,
        padding: 1,
    }
}

/// A stand-in for the frozen identity network's last layer.
fn frozen_id() -> Linear<AB> {
    Linear {
        weight: Param::from_tensor(normal([12, 16])).set_require_grad(false),
        bias: None,
    }
}

fn nonzero(t: Option<Tensor<Flex, 4>>) -> bool {
    t.is_some_and(|g| g.abs().sum().into_scalar() > 0.0)
}

fn nonzero2(t: Option<Tensor<Flex, 2>>) -> bool {
    t.is_some_and(|g| g.abs().sum().into_scalar() > 0.0)
}

#[test]
fn mib_losses_train_the_filter_and_fcs_only() {
    let config = MibConfig {
        identity_dim: 16,
        ..MibConfig::default()
    };
    let mib = config.init::<AB>(&stats(), &dev()).expect("init");
    let (qc, id) = (frozen_qc(), frozen_id());
    let x_d1 = normal([2, 3, 6, 6]);
    let r = qc.forward(x_d1);
    let embedding = id.forward(normal([2, 12]));
    let out = mib
        .forward(r, Injection::Identity(embedding))
        .expect("forward");
    let hq = qc.forward(normal([2, 3, 6, 6]));
    let loss = stage2_loss(Tensor::zeros([1], &dev()), &out, hq, &config);
    let grads = loss.total.backward();

    assert!(nonzero(mib.filter.conv.weight.val().grad(&grads)));
    assert!(
        mib.filter
            .conv
            .bias
            .as_ref()
            .expect("bias")
            .val()
            .grad(&grads)
            .is_some()
    );
    let fcs = mib.identity.as_ref().expect("identity layers");
    assert!(nonzero2(fcs.fc_sigma.weight.val().grad(&grads)));
    assert!(nonzero2(fcs.fc_mu.weight.val().grad(&grads)));
    assert!(qc.weight.val().grad(&grads).is_none());
    assert!(id.weight.val().grad(&grads).is_none());
    assert!(mib.qc_mean.val().grad(&grads).is_none());
    assert!(mib.qc_std.val().grad(&grads).is_none());
}

fn unet_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../diffmac-ldm/tests/fixtures/unet_conv")
}

/// Stage II end to end on the tiny UNet: MIB → DiagonalGaussian(Z) → control → UNet →
/// eq. 13. With the UNet frozen (the default [`TrainableParts`]), the noise-prediction loss
/// reaches the control and, through it, the bottleneck; no UNet weight gets a gradient.
/// With the whole UNet trainable, it does.
#[test]
fn stage2_chain_trains_control_and_mib_not_the_frozen_unet() {
    let config = MibConfig {
        identity_dim: 16,
        ..MibConfig::default()
    };
    let unet = UNet2DConditionModel::<AB>::from_dir(unet_fixture(), &dev(), FloatDType::F32)
        .expect("load unet");
    for parts in [TrainableParts::Control, TrainableParts::ControlAndUNet] {
        let unet = parts.apply(unet.clone());
        let mib = config.init::<AB>(&stats(), &dev()).expect("init");
        let mut control = ControlConfig::for_unet(&unet).init::<AB>(&dev());
        // A control some steps into training: non-zero γ convolutions.
        for g in &mut control.gamma {
            g.weight = Param::from_tensor(normal(g.weight.val().dims()) * 0.05);
        }
        let r = frozen_qc().forward(normal([2, 3, 16, 16]));
        let out = mib
            .forward(r, Injection::Identity(normal([2, 16])))
            .expect("forward");
        let manifold = ManifoldInput::Sample.read(out.z.clone(), Some(normal([2, 4, 16, 16])));
        let modulation = control.modulation(manifold);
        let eps = normal([2, 4, 16, 16]);
        let pred = unet.forward_modulated(
            normal([2, 4, 16, 16]),
            Tensor::from_floats([10.0, 500.0], &dev()),
            normal([2, 7, 24]),
            &modulation,
        );
        let ldm = (pred - eps).square().mean();
        let hq = frozen_qc().forward(normal([2, 3, 16, 16]));
        let loss = stage2_loss(ldm, &out, hq, &config);
        let grads = loss.total.backward();

        assert!(
            nonzero(control.gamma[0].weight.val().grad(&grads)),
            "{parts:?}"
        );
        assert!(
            nonzero(control.feature_in.weight.val().grad(&grads)),
            "{parts:?}"
        );
        assert!(
            nonzero(mib.filter.conv.weight.val().grad(&grads)),
            "{parts:?}"
        );
        let unet_grad = unet.conv_in.weight.val().grad(&grads);
        let up_grad = unet.up_blocks[0].resnets[0].conv1.weight.val().grad(&grads);
        match parts {
            TrainableParts::Control => assert!(unet_grad.is_none() && up_grad.is_none()),
            _ => assert!(nonzero(unet_grad) && nonzero(up_grad)),
        }
    }
}
