//! Which CPU backend should be the default? A conv-heavy forward (the UNet's 320-channel 3×3
//! convolution at 64×64, batch 2) and a 1024³ matmul, on `flex` and — with
//! `--features ndarray` — on `ndarray`:
//!
//! `cargo bench --bench cpu_backends --features ndarray`
//!
//! Figures and the decision are in `docs/benchmarks.md`.

use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};

fn main() {
    divan::main();
}

fn conv_320<B: Backend>(bencher: divan::Bencher<'_, '_>) {
    let device = Default::default();
    let x = Tensor::<B, 4>::random([2, 320, 64, 64], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<B, 4>::random([320, 320, 3, 3], Distribution::Normal(0.0, 0.02), &device);
    let b = Tensor::<B, 1>::zeros([320], &device);
    bencher.bench_local(|| {
        let y = conv2d(
            x.clone(),
            w.clone(),
            Some(b.clone()),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        );
        // Reading one value forces the computation on lazy backends.
        y.slice([0..1, 0..1, 0..1, 0..1]).into_scalar()
    });
}

fn matmul_1024<B: Backend>(bencher: divan::Bencher<'_, '_>) {
    let device = Default::default();
    let a = Tensor::<B, 2>::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<B, 2>::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    bencher.bench_local(|| {
        a.clone()
            .matmul(b.clone())
            .slice([0..1, 0..1])
            .into_scalar()
    });
}

/// The pure-Rust `flex` backend.
#[divan::bench_group(sample_count = 10)]
mod flex {
    use burn::backend::Flex;

    #[divan::bench]
    fn conv2d_320ch_3x3_2x64x64(bencher: divan::Bencher<'_, '_>) {
        super::conv_320::<Flex>(bencher);
    }

    #[divan::bench]
    fn matmul_1024(bencher: divan::Bencher<'_, '_>) {
        super::matmul_1024::<Flex>(bencher);
    }
}

/// The `ndarray` backend, for comparison only.
#[cfg(feature = "ndarray")]
#[divan::bench_group(sample_count = 10)]
mod ndarray {
    use burn::backend::NdArray;

    #[divan::bench]
    fn conv2d_320ch_3x3_2x64x64(bencher: divan::Bencher<'_, '_>) {
        super::conv_320::<NdArray>(bencher);
    }

    #[divan::bench]
    fn matmul_1024(bencher: divan::Bencher<'_, '_>) {
        super::matmul_1024::<NdArray>(bencher);
    }
}
