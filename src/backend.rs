//! The backend the binaries compute on, chosen at build time by cargo feature:
//! `cuda` → burn-cuda (NVRTC kernels, autotune, fusion); otherwise the pure-Rust `flex` CPU
//! backend, picked over `ndarray` by measurement (`docs/benchmarks.md`). Libraries stay generic
//! over `B: Backend`; only binaries and benches name this alias.

#[cfg(feature = "cuda")]
/// The compute backend of this build: NVIDIA GPUs through burn-cuda.
pub type DefaultBackend = burn::backend::Cuda<f32, i32>;

#[cfg(all(not(feature = "cuda"), feature = "flex"))]
/// The compute backend of this build: the pure-Rust `flex` CPU backend.
pub type DefaultBackend = burn::backend::Flex;

#[cfg(not(any(feature = "cuda", feature = "flex")))]
compile_error!("diffmac needs a backend: enable the `flex` (CPU) or `cuda` feature");

/// A short name of [`DefaultBackend`] for logs and reports.
pub const BACKEND_NAME: &str = if cfg!(feature = "cuda") {
    "cuda"
} else {
    "flex (CPU)"
};

/// The device the binaries use: the first GPU with `cuda`, the CPU otherwise.
pub fn default_device() -> burn::tensor::Device<DefaultBackend> {
    Default::default()
}
