//! diffmac patch: `CUBECL_AUTOTUNE_DEFER`, a comma-separated list of name fragments
//! (case-insensitive). Autotune candidates whose names contain one are benchmarked only when no
//! other candidate of the same batch runs, so that each shape compiles fewer kernels on its
//! first run (each candidate is one NVRTC compilation, about a second on CUDA).

use alloc::string::String;
use alloc::vec::Vec;

/// Whether the candidate `name` is deferred by `CUBECL_AUTOTUNE_DEFER`.
pub(crate) fn is_deferred(name: &str) -> bool {
    let fragments = fragments();
    if fragments.is_empty() {
        return false;
    }
    let name = name.to_lowercase();
    fragments.iter().any(|fragment| name.contains(fragment.as_str()))
}

#[cfg(feature = "std")]
fn fragments() -> &'static [String] {
    static FRAGMENTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FRAGMENTS.get_or_init(|| {
        std::env::var("CUBECL_AUTOTUNE_DEFER")
            .map(|list| parse(&list))
            .unwrap_or_default()
    })
}

#[cfg(not(feature = "std"))]
fn fragments() -> &'static [String] {
    &[]
}

#[cfg_attr(not(feature = "std"), allow(dead_code))]
fn parse(list: &str) -> Vec<String> {
    list.split(',')
        .map(|fragment| fragment.trim().to_lowercase())
        .filter(|fragment| !fragment.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn fragments_are_trimmed_lowercase_and_never_empty() {
        assert_eq!(parse(" Cmma, ,conv_direct,"), ["cmma", "conv_direct"]);
        assert!(parse("").is_empty());
    }
}
