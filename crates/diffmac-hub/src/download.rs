//! Downloading files of a listed repository into a folder: resumable, and checked.
//!
//! A file is written to `NAME.part` first; an interrupted download leaves the bytes received
//! there and the next call asks the server for the rest (an HTTP range request). Only a
//! complete file whose hash is the hub's is renamed to its name, so a file with its final
//! name is always whole and right. A file already there with the right hash is kept as it
//! is (a second run downloads nothing); one with another hash is never overwritten.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::client::Hub;
use crate::error::{HubError, Result};
use crate::hash::hash_file;
use crate::listing::{HubFile, RepoListing};

/// What a download is doing, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadEvent<'a> {
    /// A file starts (or resumes): its size and the bytes already there.
    Start {
        /// The file's path in the repository.
        file: &'a str,
        /// Its full size.
        size: u64,
        /// Bytes kept from an earlier, interrupted download.
        resumed_from: u64,
    },
    /// More bytes of the current file arrived: how many it has now.
    Progress {
        /// The file's path in the repository.
        file: &'a str,
        /// Bytes on disk so far.
        received: u64,
    },
    /// The file is in place and its hash checked.
    Done {
        /// The file's path in the repository.
        file: &'a str,
        /// It was already there (nothing downloaded).
        cached: bool,
    },
}

/// Downloads `paths` of `listing` into `dest` (created if needed), keeping the repository's
/// folder layout, and returns the local path of each, in order.
///
/// # Errors
/// [`HubError::MissingFile`] if a path is not in the listing (checked before anything is
/// downloaded) or the server has no such file; [`HubError::Interrupted`] when the connection
/// breaks (run again to resume); [`HubError::ChecksumMismatch`] when the bytes are not the
/// hub's; [`HubError::ExistingDiffers`] when `dest` already holds another file of that name;
/// [`HubError::Io`] for local files.
pub fn download(
    hub: &Hub,
    listing: &RepoListing,
    paths: &[&str],
    dest: &Path,
    on_event: &mut dyn FnMut(DownloadEvent<'_>),
) -> Result<Vec<PathBuf>> {
    let files = paths
        .iter()
        .map(|p| {
            listing.file(p).ok_or_else(|| HubError::MissingFile {
                repo: listing.repo.clone(),
                file: (*p).to_owned(),
                why: format!("not listed at commit {}", listing.commit),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    files
        .into_iter()
        .map(|file| download_file(hub, listing, file, dest, on_event))
        .collect()
}

/// One file: kept if already right, else resumed or fetched into `.part`, checked, renamed.
fn download_file(
    hub: &Hub,
    listing: &RepoListing,
    file: &HubFile,
    dest: &Path,
    on_event: &mut dyn FnMut(DownloadEvent<'_>),
) -> Result<PathBuf> {
    let target = dest.join(&file.path);
    if target.exists() {
        let got = hash_file(&target, &file.hash)?;
        if got != file.hash.hex() {
            return Err(HubError::ExistingDiffers {
                path: target,
                file: file.path.clone(),
                algorithm: file.hash.algorithm(),
                expected: file.hash.hex().to_owned(),
                got,
            });
        }
        on_event(DownloadEvent::Done {
            file: &file.path,
            cached: true,
        });
        return Ok(target);
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    }
    let part = part_path(&target);
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if have > file.size {
        // Longer than the file can be: not a prefix of it.
        remove(&part)?;
        have = 0;
    }
    on_event(DownloadEvent::Start {
        file: &file.path,
        size: file.size,
        resumed_from: have,
    });
    if have < file.size {
        fetch_into(hub, listing, file, &part, have, on_event)?;
    }
    let got = hash_file(&part, &file.hash)?;
    if got != file.hash.hex() {
        remove(&part)?;
        return Err(HubError::ChecksumMismatch {
            file: file.path.clone(),
            algorithm: file.hash.algorithm(),
            expected: file.hash.hex().to_owned(),
            got,
        });
    }
    std::fs::rename(&part, &target).map_err(|e| HubError::io(&target, e))?;
    on_event(DownloadEvent::Done {
        file: &file.path,
        cached: false,
    });
    Ok(target)
}

/// Appends the bytes from `have` on to `part` (or rewrites it when the server does not
/// resume), until the file's size.
fn fetch_into(
    hub: &Hub,
    listing: &RepoListing,
    file: &HubFile,
    part: &Path,
    have: u64,
    on_event: &mut dyn FnMut(DownloadEvent<'_>),
) -> Result<()> {
    let url = hub.file_url(listing, &file.path);
    let mut response = hub.get(&url, (have > 0).then_some(have))?;
    let status = response.status().as_u16();
    let from = match status {
        200 => 0,
        206 => {
            let range = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !range.starts_with(&format!("bytes {have}-")) {
                return Err(HubError::Protocol {
                    url,
                    problem: format!("asked for bytes from {have} on, got the range {range:?}"),
                });
            }
            have
        }
        404 => {
            return Err(HubError::MissingFile {
                repo: listing.repo.clone(),
                file: file.path.clone(),
                why: "HTTP 404 on download".into(),
            });
        }
        _ => return Err(HubError::Http { url, status }),
    };
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(from == 0)
        .append(from > 0)
        .open(part)
        .map_err(|e| HubError::io(part, e))?;
    let mut received = from;
    let mut reader = response.body_mut().as_reader();
    let mut buffer = vec![0u8; 1 << 20];
    let mut last_report = received;
    while received < file.size {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                flush(&mut out, part)?;
                return Err(HubError::Interrupted {
                    file: file.path.clone(),
                    received,
                    size: file.size,
                    problem: e.to_string(),
                });
            }
        };
        // Never more than the listed size: extra bytes would only fail the hash anyway.
        let n = n.min((file.size - received) as usize);
        out.write_all(&buffer[..n])
            .map_err(|e| HubError::io(part, e))?;
        received += n as u64;
        if received - last_report >= 1 << 20 || received == file.size {
            on_event(DownloadEvent::Progress {
                file: &file.path,
                received,
            });
            last_report = received;
        }
    }
    flush(&mut out, part)?;
    if received < file.size {
        return Err(HubError::Interrupted {
            file: file.path.clone(),
            received,
            size: file.size,
            problem: "the server closed the connection early".into(),
        });
    }
    Ok(())
}

/// Writes the `.part` file's bytes to disk, so a resumed download starts from what is there.
fn flush(out: &mut File, part: &Path) -> Result<()> {
    out.flush()
        .and_then(|()| out.sync_all())
        .map_err(|e| HubError::io(part, e))
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| HubError::io(path, e))
}

/// `unet/model.safetensors` → `unet/model.safetensors.part`.
pub fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(".part");
    target.with_file_name(name)
}
