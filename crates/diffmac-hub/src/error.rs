//! What can go wrong while fetching from the hub. Each variant names the repository file or
//! the local file concerned, so a user can tell a typo from a network problem from a
//! corrupt download.

use std::path::PathBuf;

/// Everything that can go wrong while listing or downloading a hub repository.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The server could not be reached at all (no network, wrong endpoint, DNS, TLS).
    #[error("cannot reach {url}: {problem} (no network? a mirror can be set with HF_ENDPOINT)")]
    Unreachable {
        /// The address asked for.
        url: String,
        /// What the HTTP client said.
        problem: String,
    },
    /// The repository or revision does not exist, or is private (401/403/404 on the listing).
    #[error(
        "{repo}@{revision}: no such repository or revision on {endpoint} (HTTP {status}; a \
         private or gated repository needs HF_TOKEN)"
    )]
    RepoNotFound {
        /// The hub.
        endpoint: String,
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit asked for.
        revision: String,
        /// The HTTP status.
        status: u16,
    },
    /// A file that is needed is not in the repository, or the server does not have it.
    #[error("{repo}: {file} is not in the repository ({why})")]
    MissingFile {
        /// `owner/name`.
        repo: String,
        /// The file's path in the repository.
        file: String,
        /// Not listed, or the HTTP status of its download.
        why: String,
    },
    /// The server answered with a status that is neither success nor a known failure.
    #[error("{url}: HTTP {status}")]
    Http {
        /// The address asked for.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The server's answer does not make sense (a listing that is not JSON, a resumed
    /// download starting at another byte than asked).
    #[error("{url}: {problem}")]
    Protocol {
        /// The address asked for.
        url: String,
        /// What was wrong.
        problem: String,
    },
    /// The connection broke during a download; the bytes received are kept in the `.part`
    /// file and the next run resumes from there.
    #[error(
        "{file}: download interrupted after {received} of {size} bytes ({problem}); run the \
         same command again to resume"
    )]
    Interrupted {
        /// The file's path in the repository.
        file: String,
        /// Bytes in the `.part` file now.
        received: u64,
        /// The file's full size.
        size: u64,
        /// What the HTTP client said.
        problem: String,
    },
    /// The downloaded bytes do not have the hash the hub lists; the partial file is deleted.
    #[error(
        "{file}: the download does not match the hub's {algorithm} (expected {expected}, got \
         {got}); the bad copy was deleted, run again to fetch it anew"
    )]
    ChecksumMismatch {
        /// The file's path in the repository.
        file: String,
        /// `sha256` (large files) or `git-sha1` (small files).
        algorithm: &'static str,
        /// The hub's hash.
        expected: String,
        /// The hash of what arrived.
        got: String,
    },
    /// A file of that name is already in the destination and is not the hub's file: it is
    /// left alone.
    #[error(
        "{}: already exists and differs from {file} on the hub ({algorithm} {got}, expected \
         {expected}); it is left as it is: move it away or choose another folder",
        path.display()
    )]
    ExistingDiffers {
        /// The local file.
        path: PathBuf,
        /// The file's path in the repository.
        file: String,
        /// `sha256` or `git-sha1`.
        algorithm: &'static str,
        /// The hub's hash.
        expected: String,
        /// The local file's hash.
        got: String,
    },
    /// A local file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`HubError`].
pub type Result<T, E = HubError> = std::result::Result<T, E>;
