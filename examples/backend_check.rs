//! Checks the backend this build runs on (`flex`, or `cuda` with `--features cuda`) against the
//! CPU reference backend, and times it: a UNet-sized 3×3 convolution and a matmul.
//!
//! ```sh
//! cargo run --release --example backend_check
//! cargo run --release --features cuda --example backend_check   # on an NVIDIA GPU
//! ```
//!
//! Prints one JSON line per operation; exits non-zero when a result differs from the CPU
//! reference by more than 1e-3 relative to its largest value.

use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};

/// Deterministic pseudo-random values in [-scale, scale] (no RNG state shared with Burn).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tensor<B: Backend, const D: usize>(
    data: &[f32],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape), device)
}

/// Runs `op` once to warm up (kernel compilation, autotune), then `runs` times; returns the
/// output of the last run and the median time in milliseconds.
fn timed<B: Backend, const D: usize>(
    runs: usize,
    op: impl Fn() -> Tensor<B, D>,
) -> (Vec<f32>, f64) {
    let first = op().into_data();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        // Reading back one value waits for the device to finish.
        let _ = op().slice_dim(0, 0..1).into_data();
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (
        first.convert::<f32>().into_vec::<f32>().expect("f32 data"),
        times[runs / 2],
    )
}

fn compare(name: &str, ours: &[f32], reference: &[f32], ms: f64, gflop: f64) -> bool {
    let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let max_err = ours
        .iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let rel = max_err / max_ref.max(f32::MIN_POSITIVE);
    println!(
        "{{\"op\": \"{name}\", \"backend\": \"{BACKEND_NAME}\", \"median_ms\": {ms:.3}, \"gflops\": {:.1}, \"max_rel_err\": {rel:.2e}}}",
        gflop / (ms / 1e3)
    );
    rel <= 1e-3
}

fn main() -> std::process::ExitCode {
    let device = default_device();
    let cpu = Default::default();
    let runs = if cfg!(feature = "cuda") { 50 } else { 3 };
    let options = || ConvOptions::new([1, 1], [1, 1], [1, 1], 1);

    let (x, w) = (
        values(2 * 320 * 64 * 64, 1, 1.0),
        values(320 * 320 * 9, 2, 0.05),
    );
    let (ours, ms) = {
        let (xt, wt) = (
            tensor::<DefaultBackend, 4>(&x, [2, 320, 64, 64], &device),
            tensor::<DefaultBackend, 4>(&w, [320, 320, 3, 3], &device),
        );
        timed(runs, || conv2d(xt.clone(), wt.clone(), None, options()))
    };
    let reference = conv2d(
        tensor::<Flex, 4>(&x, [2, 320, 64, 64], &cpu),
        tensor::<Flex, 4>(&w, [320, 320, 3, 3], &cpu),
        None,
        options(),
    )
    .into_data()
    .into_vec::<f32>()
    .expect("f32 data");
    let conv_flop = 2.0 * 2.0 * 320.0 * 64.0 * 64.0 * 320.0 * 9.0 / 1e9;
    let conv_ok = compare("conv2d_320ch_3x3_2x64x64", &ours, &reference, ms, conv_flop);

    let n = if cfg!(feature = "cuda") { 4096 } else { 1024 };
    let (a, b) = (values(n * n, 3, 1.0), values(n * n, 4, 1.0));
    let (ours, ms) = {
        let (at, bt) = (
            tensor::<DefaultBackend, 2>(&a, [n, n], &device),
            tensor::<DefaultBackend, 2>(&b, [n, n], &device),
        );
        timed(runs, || at.clone().matmul(bt.clone()))
    };
    let reference = tensor::<Flex, 2>(&a, [n, n], &cpu)
        .matmul(tensor::<Flex, 2>(&b, [n, n], &cpu))
        .into_data()
        .into_vec::<f32>()
        .expect("f32 data");
    let matmul_ok = compare(
        &format!("matmul_{n}"),
        &ours,
        &reference,
        ms,
        2.0 * (n as f64).powi(3) / 1e9,
    );

    if conv_ok && matmul_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
