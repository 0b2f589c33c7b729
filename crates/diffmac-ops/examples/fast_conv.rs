//! A 3×3 convolution and a GroupNorm + SiLU through the operation layer, as a program that
//! embeds it would call them, timed against Burn's own composition of the same operations:
//! `cargo run --release -p diffmac-ops --example fast_conv`.

use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};
use diffmac_ops::{Activation, generic};

fn main() {
    let device = Default::default();
    let random = |shape: [usize; 4]| {
        Tensor::<Flex, 4>::random(shape, Distribution::Normal(0.0, 1.0), &device)
    };
    let x = random([1, 320, 64, 64]);
    let weight = random([320, 320, 3, 3]).mul_scalar(0.02);
    let gamma = Tensor::<Flex, 1>::ones([320], &device);
    let beta = Tensor::<Flex, 1>::zeros([320], &device);

    let start = Instant::now();
    let h = diffmac_ops::group_norm(x.clone(), &gamma, &beta, 32, 1e-5, Activation::Silu);
    let fast = diffmac_ops::conv2d(h, &weight, None, 1, 1);
    let fast_ms = start.elapsed().as_secs_f64() * 1e3;

    let start = Instant::now();
    let h = generic::group_norm(x, &gamma, &beta, 32, 1e-5, Activation::Silu);
    let reference = generic::conv2d(h, &weight, None, 1, 1);
    let generic_ms = start.elapsed().as_secs_f64() * 1e3;

    let difference = (fast - reference).abs().max().into_scalar();
    println!("GroupNorm + SiLU + 3×3 conv, 320 channels at 64×64:");
    println!(
        "  operation layer {fast_ms:.1} ms, generic {generic_ms:.1} ms, max difference {difference:.2e}"
    );
}
