//! Every fast CPU kernel against the generic Burn implementation of the same operation, on
//! shapes that cover the models' cases (padding, stride 2, 1×1, odd sizes, several heads,
//! cross-attention, batches) and on inputs whose memory is not in row-major order.
//!
//! The fast side is called through `diffmac_ops::flex` directly, so a kernel that declined its
//! inputs (and would silently fall back to the generic path) fails the test.
//!
//! Tolerance: the largest difference is at most 1e-5 of the largest reference value (f32; the
//! two sides sum in different orders).

use burn::backend::Flex;
use burn::tensor::{Int, Tensor};
use diffmac_ops::{Activation, flex, generic};

type B = Flex;

/// Deterministic, varied values in about [-2, 2] (no global random state: tests run in parallel).
fn values<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<B, D> {
    let len: usize = shape.iter().product();
    Tensor::<B, 1, Int>::arange(0..len as i64, &Default::default())
        .float()
        .mul_scalar(0.618_034 + 0.1 * seed as f64)
        .sin()
        .mul_scalar(1.5)
        .add(
            Tensor::<B, 1, Int>::arange(0..len as i64, &Default::default())
                .float()
                .mul_scalar(0.013 * (seed + 1) as f64)
                .cos()
                .mul_scalar(0.5),
        )
        .reshape(shape)
}

/// Asserts `actual ≈ expected` within 1e-5 of the reference's largest magnitude, and that the
/// comparison is not between two empty or all-zero tensors.
fn assert_close<const D: usize>(name: &str, actual: Tensor<B, D>, expected: Tensor<B, D>) {
    assert_eq!(actual.dims(), expected.dims(), "{name}: shape");
    let a = actual.into_data().to_vec::<f32>().unwrap();
    let e = expected.into_data().to_vec::<f32>().unwrap();
    let scale = e.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "{name}: trivial reference");
    let worst = a
        .iter()
        .zip(&e)
        .fold(0.0f32, |m, (a, e)| m.max((a - e).abs()));
    assert!(
        worst <= 1e-5 * scale,
        "{name}: max difference {worst:e} against a largest value {scale}"
    );
}

#[test]
fn convolution_matches_the_generic_one() {
    // (batch, in, out, size, kernel, stride, padding)
    let cases = [
        (1, 4, 6, 9, 3, 1, 1),
        (2, 5, 3, 8, 3, 2, 1),
        (1, 3, 4, 9, 3, 2, 0),
        (2, 6, 7, 5, 1, 1, 0),
        (1, 3, 2, 4, 3, 1, 0),
        (1, 2, 3, 7, 5, 1, 2),
    ];
    for (i, &(n, ci, co, size, k, s, p)) in cases.iter().enumerate() {
        let x = values([n, ci, size, size + 1], i as u64);
        let w = values([co, ci, k, k], i as u64 + 10).mul_scalar(0.3);
        let b = values([co], i as u64 + 20);
        let name = format!("conv case {i}");
        for bias in [Some(&b), None] {
            let fast = flex::conv2d(&x, &w, bias, s, p).expect("flex kernel");
            let reference = generic::conv2d(x.clone(), &w, bias, s, p);
            assert_close(&name, fast, reference);
        }
    }
    // An input whose memory is channels-last (a permuted view).
    let nhwc = values([1, 6, 7, 4], 3);
    let x = nhwc.permute([0, 3, 1, 2]);
    let w = values([5, 4, 3, 3], 4);
    let fast = flex::conv2d(&x, &w, None, 1, 1).expect("flex kernel");
    assert_close("conv of a view", fast, generic::conv2d(x, &w, None, 1, 1));
}

#[test]
fn group_norm_matches_the_generic_one() {
    let weight = values([12], 1);
    let bias = values([12], 2);
    for (groups, activation) in [
        (4, Activation::Identity),
        (3, Activation::Silu),
        (12, Activation::Silu),
        (1, Activation::Identity),
    ] {
        // Offsets per channel so that groups differ in mean.
        let x = values([2, 12, 5, 7], groups as u64).add_scalar(3.0);
        let reference = generic::group_norm(x.clone(), &weight, &bias, groups, 1e-6, activation);
        let norm = |x| {
            flex::group_norm(x, &weight, &bias, groups, 1e-6, activation)
                .unwrap_or_else(|_| panic!("flex kernel"))
        };
        // While `x` is held elsewhere the result goes to new memory; then into `x`'s own.
        let shared = norm(x.clone());
        let owned = norm(x);
        let name = format!("group norm {groups} {activation:?}");
        assert_close(&format!("{name} (new memory)"), shared, reference.clone());
        assert_close(&format!("{name} (in place)"), owned, reference);
    }
    let x = values([1, 5, 7, 12], 9).permute([0, 3, 1, 2]);
    let fast = flex::group_norm(x.clone(), &weight, &bias, 4, 1e-5, Activation::Silu)
        .unwrap_or_else(|_| panic!("flex kernel"));
    let reference = generic::group_norm(x, &weight, &bias, 4, 1e-5, Activation::Silu);
    assert_close("group norm of a view", fast, reference);
}

#[test]
fn layer_norm_matches_the_generic_one() {
    let (weight, bias) = (values([24], 1), values([24], 2));
    let x = values([2, 9, 24], 3).add_scalar(1.5);
    let fast = flex::layer_norm(&x, &weight, &bias, 1e-5).expect("flex kernel");
    assert_close(
        "layer norm",
        fast,
        generic::layer_norm(x, &weight, &bias, 1e-5),
    );
    let x = values([24, 7], 4).transpose();
    let fast = flex::layer_norm(&x, &weight, &bias, 1e-5).expect("flex kernel");
    assert_close(
        "layer norm of a view",
        fast,
        generic::layer_norm(x, &weight, &bias, 1e-5),
    );
}

#[test]
fn attention_matches_the_generic_one() {
    // (batch, queries, keys, heads, head width): self and cross attention, one and many heads,
    // and one large enough that heads run one after the other.
    let cases = [
        (1, 16, 16, 1, 8),
        (2, 13, 7, 4, 6),
        (1, 9, 77, 5, 16),
        (2, 300, 300, 3, 64),
    ];
    for (i, &(b, n, m, heads, d)) in cases.iter().enumerate() {
        let q = values([b, n, heads * d], i as u64);
        let k = values([b, m, heads * d], i as u64 + 1);
        let v = values([b, m, heads * d], i as u64 + 2);
        let fast = flex::attention(&q, &k, &v, heads).expect("flex kernel");
        let reference = generic::attention(q, k, v, heads, false);
        assert_close(&format!("attention case {i}"), fast, reference);
    }
    // Large scores: the softmax must shift by the row's maximum.
    let q = values([1, 10, 8], 5).mul_scalar(30.0);
    let k = values([1, 12, 8], 6).mul_scalar(30.0);
    let v = values([1, 12, 8], 7);
    let fast = flex::attention(&q, &k, &v, 2).expect("flex kernel");
    assert_close(
        "attention, large scores",
        fast,
        generic::attention(q, k, v, 2, false),
    );
}

#[test]
fn geglu_linear_and_add_match_the_generic_ones() {
    let x = values([2, 5, 18], 1).mul_scalar(2.0);
    let fast = flex::geglu(&x).expect("flex kernel");
    assert_close("geglu", fast, generic::geglu(x));

    let x = values([3, 7, 10], 2);
    let w = values([10, 6], 3);
    let b = values([6], 4);
    for bias in [Some(&b), None] {
        let fast = flex::linear(&x, &w, bias).expect("flex kernel");
        assert_close("linear", fast, generic::linear(x.clone(), &w, bias));
    }
    // A transposed weight view (as PyTorch's `[out, in]` read transposed).
    let wt = values([6, 10], 5).transpose();
    let fast = flex::linear(&x, &wt, Some(&b)).expect("flex kernel");
    assert_close(
        "linear, transposed weight",
        fast,
        generic::linear(x, &wt, Some(&b)),
    );

    let (a, c) = (values([4, 9, 33], 6), values([4, 9, 33], 7));
    let expected = a.clone() + c.clone();
    // `a` still held by `expected`'s inputs: the sum must not write into it.
    let kept = a.clone();
    let sum = flex::add(a, c.clone())
        .map_err(|_| ())
        .expect("flex kernel");
    assert_close("add", sum, expected.clone());
    assert_close(
        "add leaves shared inputs alone",
        kept.clone(),
        values([4, 9, 33], 6),
    );
    // A tensor nothing else holds is reused.
    let fresh = values([4, 9, 33], 6).mul_scalar(1.0);
    let sum = flex::add(fresh, c).map_err(|_| ()).expect("flex kernel");
    assert_close("add in place", sum, expected);
}

#[test]
fn token_layout_changes_match_the_generic_ones() {
    let x = values([2, 5, 3, 70], 1);
    let tokens = flex::to_tokens(&x).expect("flex kernel");
    assert_close("to_tokens", tokens.clone(), generic::to_tokens(x.clone()));
    let back = flex::to_map(&tokens, 3, 70).expect("flex kernel");
    assert_close("to_map", back.clone(), generic::to_map(tokens, 3, 70));
    assert_close("round trip", back, x);
}
