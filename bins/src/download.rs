//! `diffmac-convert sd --download`: fetches a diffusers model from the Hugging Face hub with
//! a progress bar, into a folder of the user's or the per-user cache.

use std::path::{Path, PathBuf};

use anyhow::Context;
use diffmac_hub::{DownloadEvent, Hub, HubModel, download};
use indicatif::{ProgressBar, ProgressStyle};

/// Where downloads go when no folder is given: `$XDG_CACHE_HOME/diffmac/hub`, else
/// `~/.cache/diffmac/hub`.
pub fn default_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("diffmac").join("hub"))
}

/// Downloads `model`'s files from `repo` at `revision` into `dest`, or into
/// `<cache>/<owner>--<name>/<commit>` (one folder per commit, so a moved branch never meets
/// an older file of the same name), and returns the folder.
///
/// # Errors
/// Anything [`diffmac_hub`] reports (each names the file), or no cache folder.
pub fn fetch_model(
    model: &HubModel,
    repo: &str,
    revision: &str,
    dest: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<PathBuf> {
    let hub = Hub::from_env();
    let listing = hub.list(repo, revision)?;
    let dest = match dest {
        Some(d) => d.to_owned(),
        None => default_cache()
            .context("no cache folder (neither XDG_CACHE_HOME nor HOME is set): give --sd DIR")?
            .join(repo.replace('/', "--"))
            .join(&listing.commit),
    };
    eprintln!(
        "downloading {repo}@{revision} (commit {}) from {} into {}",
        listing.commit,
        hub.endpoint(),
        dest.display()
    );
    let mut bar: Option<ProgressBar> = None;
    download(
        &hub,
        &listing,
        model.files,
        &dest,
        &mut |event| match event {
            DownloadEvent::Start {
                file,
                size,
                resumed_from,
            } => {
                let b = if quiet {
                    ProgressBar::hidden()
                } else {
                    ProgressBar::new(size)
                };
                b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} (eta {eta})",
                )
                .expect("valid template"),
            );
                b.set_message(file.to_owned());
                b.set_position(resumed_from);
                if resumed_from > 0 {
                    b.println(format!("{file}: resuming after {resumed_from} bytes"));
                }
                bar = Some(b);
            }
            DownloadEvent::Progress { received, .. } => {
                if let Some(b) = &bar {
                    b.set_position(received);
                }
            }
            DownloadEvent::Done { file, cached } => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                if !quiet {
                    let how = if cached {
                        "already there"
                    } else {
                        "downloaded"
                    };
                    eprintln!("{file}: {how}, hash checked");
                }
            }
        },
    )?;
    Ok(dest)
}
