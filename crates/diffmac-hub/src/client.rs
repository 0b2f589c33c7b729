//! The hub's address and credentials, and the HTTP agent that talks to it.

use std::time::Duration;

use crate::error::{HubError, Result};
use crate::listing::RepoListing;

/// The public Hugging Face hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A connection to one hub: its endpoint (the public hub or a mirror) and an optional
/// access token for private or gated repositories.
#[derive(Debug, Clone)]
pub struct Hub {
    endpoint: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Hub {
    /// The hub at `endpoint` (e.g. `https://huggingface.co`), with `token` sent as a bearer
    /// token when given.
    pub fn new(endpoint: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            // Statuses are answers to act on (404: missing file, 206: resumed), not errors.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            // A stalled connection fails after a minute without a byte; a slow one goes on.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("diffmac-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            agent,
        }
    }

    /// The hub the usual environment variables name: `HF_ENDPOINT` (default
    /// [`DEFAULT_ENDPOINT`]) and `HF_TOKEN`.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        Self::new(&endpoint, std::env::var("HF_TOKEN").ok())
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Lists `repo` (`owner/name`) at `revision` (branch, tag or commit): the commit it
    /// resolves to, and every file with its size and hash.
    ///
    /// # Errors
    /// [`HubError::Unreachable`] without a connection, [`HubError::RepoNotFound`] for an
    /// unknown (or private) repository or revision, [`HubError::Protocol`] for an answer
    /// that is not a listing.
    pub fn list(&self, repo: &str, revision: &str) -> Result<RepoListing> {
        let url = format!(
            "{}/api/models/{repo}/revision/{}?blobs=true",
            self.endpoint,
            encode_segment(revision)
        );
        let mut response = self.get(&url, None)?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            401 | 403 | 404 => {
                return Err(HubError::RepoNotFound {
                    endpoint: self.endpoint.clone(),
                    repo: repo.to_owned(),
                    revision: revision.to_owned(),
                    status,
                });
            }
            _ => return Err(HubError::Http { url, status }),
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| HubError::Unreachable {
                url: url.clone(),
                problem: e.to_string(),
            })?;
        RepoListing::from_json(repo, &url, &body)
    }

    /// The address of `path` at the listing's commit.
    pub fn file_url(&self, listing: &RepoListing, path: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{path}",
            self.endpoint, listing.repo, listing.commit
        )
    }

    /// A GET of `url`, from byte `from` on when given.
    pub(crate) fn get(
        &self,
        url: &str,
        from: Option<u64>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut request = self.agent.get(url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        if let Some(from) = from {
            request = request.header("Range", &format!("bytes={from}-"));
        }
        request.call().map_err(|e| HubError::Unreachable {
            url: url.to_owned(),
            problem: e.to_string(),
        })
    }
}

/// A revision as one URL path segment (`refs/pr/1` → `refs%2Fpr%2F1`).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
