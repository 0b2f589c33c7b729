//! A stand-in hub on a local port, for tests of code that downloads (this crate's, and
//! `diffmac-convert sd --download`'s): it serves the model API's listing and `resolve`
//! downloads of an in-memory repository, with range requests, and can misbehave on purpose
//! (cut a download short, serve other bytes than listed, lose a file). Not a server for
//! anything but tests: one thread per connection, no keep-alive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Files above this size are listed as LFS files (with a SHA-256), as on the hub.
const LFS_FROM: usize = 64;

/// The commit every listing names.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// How the server misbehaves.
#[derive(Default)]
pub struct Faults {
    /// The first download of this file sends this many bytes and then closes.
    pub cut: Option<(String, usize)>,
    /// Files served with one byte changed (the listing has the right hash).
    pub corrupt: BTreeSet<String>,
    /// Files listed but answered with 404.
    pub lost: BTreeSet<String>,
}

/// The requests seen: (path, Range header).
pub type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A running test hub.
pub struct TestHub {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Every request.
    pub log: Log,
}

/// Serves `files` (repository path → content) of repository `repo` until the process ends.
///
/// # Panics
/// If no local port can be bound.
pub fn serve(repo: &str, files: BTreeMap<String, Vec<u8>>, faults: Faults) -> TestHub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let state = Arc::new(Mutex::new(faults));
    let (repo, files, log2) = (repo.to_owned(), Arc::new(files), log.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (repo, files, log, state) =
                (repo.clone(), files.clone(), log2.clone(), state.clone());
            std::thread::spawn(move || handle(stream, &repo, &files, &log, &state));
        }
    });
    TestHub { endpoint, log }
}

fn handle(
    mut stream: TcpStream,
    repo: &str,
    files: &BTreeMap<String, Vec<u8>>,
    log: &Log,
    faults: &Mutex<Faults>,
) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_owned());
        }
    }
    log.lock().expect("log").push((path.clone(), range.clone()));

    let listing_prefix = format!("/api/models/{repo}/revision/");
    let resolve_prefix = format!("/{repo}/resolve/{COMMIT}/");
    if path.starts_with(&listing_prefix) {
        return respond(&mut stream, "200 OK", &[], listing(files).as_bytes(), None);
    }
    let Some(name) = path.strip_prefix(&resolve_prefix) else {
        return respond(&mut stream, "404 Not Found", &[], b"no such repo", None);
    };
    let mut faults = faults.lock().expect("faults");
    let Some(bytes) = files.get(name).filter(|_| !faults.lost.contains(name)) else {
        return respond(&mut stream, "404 Not Found", &[], b"no such file", None);
    };
    let mut bytes = bytes.clone();
    if faults.corrupt.contains(name) {
        bytes[0] ^= 0xff;
    }
    let cut = match &faults.cut {
        Some((file, n)) if file == name => {
            let n = *n;
            faults.cut = None;
            Some(n)
        }
        _ => None,
    };
    drop(faults);
    let from = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok());
    match from {
        Some(from) => {
            let header = format!(
                "Content-Range: bytes {from}-{}/{}",
                bytes.len() - 1,
                bytes.len()
            );
            respond(
                &mut stream,
                "206 Partial Content",
                &[header],
                &bytes[from..],
                cut,
            )
        }
        None => respond(&mut stream, "200 OK", &[], &bytes, cut),
    }
}

/// Writes a response; with `cut`, only that many body bytes (the Content-Length promises
/// all of them) before the connection closes.
fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
    cut: Option<usize>,
) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body[..cut.unwrap_or(body.len()).min(body.len())]);
    let _ = stream.flush();
}

/// The model API's answer for `files`, with LFS entries for the large ones.
fn listing(files: &BTreeMap<String, Vec<u8>>) -> String {
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, bytes)| {
            let mut git = Sha1::new();
            git.update(format!("blob {}\0", bytes.len()).as_bytes());
            git.update(bytes);
            let mut entry = serde_json::json!({
                "rfilename": name,
                "blobId": hex(&git.finalize()),
                "size": bytes.len(),
            });
            if bytes.len() >= LFS_FROM {
                entry["size"] = 134.into();
                entry["lfs"] = serde_json::json!({
                    "sha256": hex(&Sha256::digest(bytes)),
                    "size": bytes.len(),
                    "pointerSize": 134,
                });
            }
            entry
        })
        .collect();
    serde_json::json!({"id": "test", "sha": COMMIT, "siblings": siblings}).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
