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
///
/// With `cuda`, the first call also makes compiled kernels and autotune results persist on
/// disk (see [`kernel_cache_dir`]) and, with `DIFFMAC_KERNEL_LOG=FILE`, logs each kernel
/// compilation and autotune result to FILE.
pub fn default_device() -> burn::tensor::Device<DefaultBackend> {
    #[cfg(feature = "cuda")]
    kernel_cache::keep_once();
    Default::default()
}

/// Device memory the compute backend's allocator holds (reserved pages, in bytes): the
/// process's device footprint, which the benchmark reports per item. `None` on the CPU.
pub fn device_memory_reserved() -> Option<u64> {
    #[cfg(feature = "cuda")]
    {
        use cubecl::Runtime;
        let client = cubecl::cuda::CudaRuntime::client(&default_device());
        client.memory_usage().ok().map(|usage| usage.bytes_reserved)
    }
    #[cfg(not(feature = "cuda"))]
    None
}

/// Gives the device pages nothing uses back, so that [`device_memory_reserved`] read after
/// some work approximates that work's peak. Nothing to do on the CPU.
pub fn release_unused_device_memory() {
    #[cfg(feature = "cuda")]
    {
        use cubecl::Runtime;
        cubecl::cuda::CudaRuntime::client(&default_device()).memory_cleanup();
    }
}

/// Where the `cuda` build keeps compiled kernels (PTX) and autotune results between runs:
/// `$DIFFMAC_KERNEL_CACHE`, else `$XDG_CACHE_HOME/diffmac/kernels`, else
/// `~/.cache/diffmac/kernels`; `None` when `DIFFMAC_KERNEL_CACHE=off` or no home is known.
///
/// Why: on a fresh machine, burn-cuda compiles and autotunes several hundred kernels for the
/// SD 2.1 UNet (minutes on an H200, `docs/performance.md`); without a cache every run pays
/// that again. A `cubecl.toml` or `burn.toml` found from the working directory (CubeCL's own
/// configuration) takes precedence over this default.
pub fn kernel_cache_dir() -> Option<std::path::PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`kernel_cache_dir`] with the environment passed in (testable without touching it).
fn cache_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<std::path::PathBuf> {
    let env = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("DIFFMAC_KERNEL_CACHE") {
        return (dir != "off").then(|| dir.into());
    }
    let base = env("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".cache")))?;
    Some(base.join("diffmac").join("kernels"))
}

#[cfg(feature = "cuda")]
mod kernel_cache {
    use cubecl::config::autotune::AutotuneLogLevel;
    use cubecl::config::compilation::CompilationLogLevel;
    use cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};
    use std::path::Path;

    /// Configures CubeCL once, before the first device exists: its kernel and autotune caches
    /// go to [`super::kernel_cache_dir`], and with `DIFFMAC_KERNEL_LOG=FILE` every kernel
    /// compilation and autotune result is logged to FILE (where first-run minutes go), as are
    /// per-kernel times with `CUBECL_DEBUG_OPTION=profile` (a summary at each sync). Leaves
    /// CubeCL alone when it is configured already (a config file, or an embedding program).
    pub(super) fn keep_once() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if CubeClRuntimeConfig::storage().lock().is_some() || config_file_found() {
                return;
            }
            let mut config = CubeClRuntimeConfig::default().override_from_env();
            if let Some(dir) = super::kernel_cache_dir()
                && std::fs::create_dir_all(&dir).is_ok()
            {
                config.compilation.cache = Some(CacheConfig::File(dir.clone()));
                config.autotune.cache = CacheConfig::File(dir);
            }
            if let Some(log) = std::env::var_os("DIFFMAC_KERNEL_LOG").filter(|v| !v.is_empty()) {
                config.compilation.logger.file = Some(log.clone().into());
                config.compilation.logger.level = CompilationLogLevel::Basic;
                config.autotune.logger.file = Some(log.clone().into());
                config.autotune.logger.level = AutotuneLogLevel::Minimal;
                // Per-kernel times, when `CUBECL_DEBUG_OPTION=profile` turns them on.
                config.profiling.logger.file = Some(log.into());
            }
            CubeClRuntimeConfig::set(config);
        });
    }

    /// Whether CubeCL would load a config file: it looks for these names from the working
    /// directory upwards.
    fn config_file_found() -> bool {
        let Ok(cwd) = std::env::current_dir() else {
            return false;
        };
        let names = ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"];
        cwd.ancestors()
            .any(|dir: &Path| names.iter().any(|name| dir.join(name).is_file()))
    }
}

#[cfg(test)]
mod tests {
    use super::cache_dir_from;
    use std::path::PathBuf;

    fn dir(vars: &[(&str, &str)]) -> Option<PathBuf> {
        cache_dir_from(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).into())
        })
    }

    #[test]
    fn kernel_cache_dir_follows_the_environment() {
        assert_eq!(
            dir(&[("DIFFMAC_KERNEL_CACHE", "/k"), ("HOME", "/h")]),
            Some("/k".into())
        );
        assert_eq!(
            dir(&[("DIFFMAC_KERNEL_CACHE", "off"), ("HOME", "/h")]),
            None
        );
        assert_eq!(
            dir(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]),
            Some("/x/diffmac/kernels".into())
        );
        assert_eq!(
            dir(&[("XDG_CACHE_HOME", ""), ("HOME", "/h")]),
            Some("/h/.cache/diffmac/kernels".into())
        );
        assert_eq!(dir(&[]), None);
    }
}
