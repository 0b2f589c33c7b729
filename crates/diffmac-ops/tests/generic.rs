//! The generic path under autodiff: training's attention and its gradients.

use burn::backend::{Autodiff, Flex};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, Tolerance};
use diffmac_ops::generic::sdpa;

type AB = Autodiff<Flex>;

/// Deterministic, varied values without the backend's global random state.
fn values(seed: u64) -> Tensor<AB, 4> {
    Tensor::<AB, 1, Int>::arange(0..120, &Default::default())
        .float()
        .mul_scalar(0.37 * seed as f64 + 0.11)
        .sin()
        .mul_scalar(2.0)
        .reshape([2, 3, 5, 4])
        .require_grad()
}

#[test]
fn training_attention_matches_the_attention_op_and_its_gradients() {
    let (q, k, v) = (values(1), values(2), values(3));
    let ours = sdpa(q.clone(), k.clone(), v.clone(), false, false);
    let options = AttentionModuleOptions {
        scale: None,
        softcap: None,
        is_causal: false,
    };
    let reference = attention(q.clone(), k.clone(), v.clone(), None, None, options);
    ours.to_data()
        .assert_approx_eq::<f32>(&reference.to_data(), Tolerance::absolute(1e-5));

    // A loss that weighs the outputs unevenly, so that every gradient is non-trivial.
    let weights = values(4).detach();
    let ours = (ours * weights.clone()).sum().backward();
    let reference = (reference * weights).sum().backward();
    for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
        let (a, b) = (x.grad(&ours).unwrap(), x.grad(&reference).unwrap());
        assert!(
            b.clone().abs().max().into_scalar() > 1e-3,
            "{name}: trivial gradient"
        );
        a.to_data()
            .assert_approx_eq::<f32>(&b.to_data(), Tolerance::absolute(1e-5));
    }
}

#[test]
fn autodiff_tensors_take_the_generic_path_and_keep_their_gradients() {
    // Through the public dispatch: an `Autodiff<Flex>` tensor is not a flex tensor, so the
    // convolution must be Burn's differentiable one.
    let data = values(5).reshape([2, 3, 4, 5]).into_data();
    let x = Tensor::<AB, 4>::from_data(data, &Default::default()).require_grad();
    let w = values(6)
        .detach()
        .reshape([2, 3, 4, 5])
        .slice([0..2, 0..3, 0..3, 0..3]);
    let y = diffmac_ops::conv2d(x.clone(), &w, None, 1, 1);
    let grads = y.sum().backward();
    assert!(x.grad(&grads).is_some(), "no gradient reached the input");
}
