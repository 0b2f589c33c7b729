//! Each operation at a Stable Diffusion 2.1 UNet shape (batch 1, 64×64 latent, 320 channels),
//! fast CPU kernel against the generic Burn composition:
//! `cargo bench -p diffmac-ops --bench ops`.

use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};
use diffmac_ops::{Activation, generic};
use divan::Bencher;

type B = Flex;

fn main() {
    divan::main();
}

fn random<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

const PATHS: &[&str] = &["fast", "generic"];

#[divan::bench(args = PATHS, sample_count = 5)]
fn conv_3x3_320(bencher: Bencher<'_, '_>, path: &str) {
    let (x, w, b) = (
        random([1, 320, 64, 64]),
        random([320, 320, 3, 3]),
        random([320]),
    );
    bencher.bench_local(|| match path {
        "fast" => diffmac_ops::conv2d(x.clone(), &w, Some(&b), 1, 1),
        _ => generic::conv2d(x.clone(), &w, Some(&b), 1, 1),
    });
}

#[divan::bench(args = PATHS, sample_count = 5)]
fn group_norm_silu_320(bencher: Bencher<'_, '_>, path: &str) {
    let (x, w, b) = (random([1, 320, 64, 64]), random([320]), random([320]));
    bencher.bench_local(|| match path {
        "fast" => diffmac_ops::group_norm(x.clone(), &w, &b, 32, 1e-5, Activation::Silu),
        _ => generic::group_norm(x.clone(), &w, &b, 32, 1e-5, Activation::Silu),
    });
}

#[divan::bench(args = PATHS, sample_count = 5)]
fn self_attention_4096_tokens(bencher: Bencher<'_, '_>, path: &str) {
    let (q, k, v) = (
        random([1, 4096, 320]),
        random([1, 4096, 320]),
        random([1, 4096, 320]),
    );
    bencher.bench_local(|| match path {
        "fast" => diffmac_ops::attention(q.clone(), k.clone(), v.clone(), 5, false),
        _ => generic::attention(q.clone(), k.clone(), v.clone(), 5, false),
    });
}

#[divan::bench(args = PATHS, sample_count = 5)]
fn geglu_4096_tokens(bencher: Bencher<'_, '_>, path: &str) {
    let x = random([1, 4096, 2560]);
    bencher.bench_local(|| match path {
        "fast" => diffmac_ops::geglu(x.clone()),
        _ => generic::geglu(x.clone()),
    });
}

#[divan::bench(args = PATHS, sample_count = 5)]
fn layer_norm_4096_tokens(bencher: Bencher<'_, '_>, path: &str) {
    let (x, w, b) = (random([1, 4096, 320]), random([320]), random([320]));
    bencher.bench_local(|| match path {
        "fast" => diffmac_ops::layer_norm(x.clone(), &w, &b, 1e-5),
        _ => generic::layer_norm(x.clone(), &w, &b, 1e-5),
    });
}
