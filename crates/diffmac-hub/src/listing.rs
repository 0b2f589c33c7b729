//! A repository's file list at one commit, as the hub's model API gives it
//! (`GET /api/models/{repo}/revision/{revision}?blobs=true`): each file's size and the hash
//! that identifies its content.

use serde::Deserialize;

use crate::error::{HubError, Result};

/// How a file's content is identified on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentHash {
    /// Large (LFS) files: the SHA-256 of the content, lower-case hex.
    Sha256(String),
    /// Small files kept in git itself: the git blob id, SHA-1 of `"blob {len}\0"` and the
    /// content, lower-case hex (the hub lists no SHA-256 for them).
    GitSha1(String),
}

impl ContentHash {
    /// `sha256` or `git-sha1`, for messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Sha256(_) => "sha256",
            Self::GitSha1(_) => "git-sha1",
        }
    }

    /// The expected hash, lower-case hex.
    pub fn hex(&self) -> &str {
        match self {
            Self::Sha256(h) | Self::GitSha1(h) => h,
        }
    }
}

/// One file of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// Its path in the repository (`unet/config.json`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// What its content must hash to.
    pub hash: ContentHash,
}

/// A repository's files at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoListing {
    /// `owner/name`.
    pub repo: String,
    /// The commit the revision resolved to: downloads name it, so that every file comes
    /// from the same commit even if the branch moves meanwhile.
    pub commit: String,
    /// Every file.
    pub files: Vec<HubFile>,
}

impl RepoListing {
    /// The file at `path`, if the repository has it.
    pub fn file(&self, path: &str) -> Option<&HubFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Parses the model API's JSON answer for `repo`; `url` is named in errors.
    ///
    /// # Errors
    /// [`HubError::Protocol`] when the answer lacks the commit or a file's size or hash, or
    /// names a path that could leave the destination folder (absolute, `..`).
    pub fn from_json(repo: &str, url: &str, json: &str) -> Result<Self> {
        let bad = |problem: String| HubError::Protocol {
            url: url.to_owned(),
            problem,
        };
        let raw: RawListing =
            serde_json::from_str(json).map_err(|e| bad(format!("not a model listing: {e}")))?;
        let commit = raw
            .sha
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("the listing names no commit".into()))?;
        let files = raw
            .siblings
            .into_iter()
            .map(|s| {
                if !is_safe_relative(&s.rfilename) {
                    return Err(bad(format!("unsafe file path {:?}", s.rfilename)));
                }
                let (size, hash) = match s.lfs {
                    Some(lfs) => (lfs.size, ContentHash::Sha256(lfs.sha256.to_lowercase())),
                    None => {
                        let id = s.blob_id.ok_or_else(|| {
                            bad(format!("{}: no hash listed (blobs=true?)", s.rfilename))
                        })?;
                        let size = s
                            .size
                            .ok_or_else(|| bad(format!("{}: no size listed", s.rfilename)))?;
                        (size, ContentHash::GitSha1(id.to_lowercase()))
                    }
                };
                Ok(HubFile {
                    path: s.rfilename,
                    size,
                    hash,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            repo: repo.to_owned(),
            commit,
            files,
        })
    }
}

/// A path made only of normal components joined by `/`: it stays inside the folder it is
/// joined to.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

#[derive(Deserialize)]
struct RawListing {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<RawSibling>,
}

#[derive(Deserialize)]
struct RawSibling {
    rfilename: String,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    size: Option<u64>,
    lfs: Option<RawLfs>,
}

#[derive(Deserialize)]
struct RawLfs {
    sha256: String,
    size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"{"id":"o/n","sha":"abc123","siblings":[
        {"rfilename":"unet/config.json","blobId":"DEADBEEF","size":12},
        {"rfilename":"unet/model.safetensors","blobId":"x","size":135,
         "lfs":{"sha256":"FF00","size":3000,"pointerSize":135}}]}"#;

    #[test]
    fn small_files_have_git_ids_and_large_ones_sha256() {
        let l = RepoListing::from_json("o/n", "u", LISTING).unwrap();
        assert_eq!(l.commit, "abc123");
        let small = l.file("unet/config.json").unwrap();
        assert_eq!(small.size, 12);
        assert_eq!(small.hash, ContentHash::GitSha1("deadbeef".into()));
        let large = l.file("unet/model.safetensors").unwrap();
        assert_eq!(large.size, 3000, "the LFS size, not the pointer's");
        assert_eq!(large.hash, ContentHash::Sha256("ff00".into()));
        assert!(l.file("vae/config.json").is_none());
    }

    #[test]
    fn listings_that_would_escape_the_folder_or_lack_hashes_are_refused() {
        for bad in [
            r#"{"sha":"a","siblings":[{"rfilename":"../x","blobId":"1","size":1}]}"#,
            r#"{"sha":"a","siblings":[{"rfilename":"/etc/x","blobId":"1","size":1}]}"#,
            r#"{"sha":"a","siblings":[{"rfilename":"a/./b","blobId":"1","size":1}]}"#,
            r#"{"sha":"a","siblings":[{"rfilename":"x","size":1}]}"#,
            r#"{"siblings":[]}"#,
            "<html>",
        ] {
            let err = RepoListing::from_json("o/n", "http://h/api", bad).unwrap_err();
            assert!(matches!(err, HubError::Protocol { .. }), "{bad}: {err}");
        }
    }
}
