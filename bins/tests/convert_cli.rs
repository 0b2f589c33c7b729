//! `diffmac-convert sd --download` against a stand-in hub on a local port serving a tiny
//! diffusers folder: a download that converts into a working bundle, the per-user cache
//! folder, a corrupt file, and no network.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use diffmac::backend::{DefaultBackend, default_device};
use diffmac::restore::bundle::write_tiny_diffusers;
use diffmac_hub::test_hub::{COMMIT, Faults, TestHub, serve};

const REPO: &str = "test/tiny-sd";

fn convert(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diffmac-convert"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("HF_TOKEN")
        .output()
        .expect("binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The tiny diffusers folder's files, by repository path.
fn tiny_sd(work: &Path) -> BTreeMap<String, Vec<u8>> {
    let dir = work.join("source");
    let paths = write_tiny_diffusers::<DefaultBackend>(&dir, 0, &default_device()).unwrap();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

fn hub(files: &BTreeMap<String, Vec<u8>>, faults: Faults) -> TestHub {
    serve(REPO, files.clone(), faults)
}

/// `diffmac-convert sd --download` from the hub at `endpoint` into `dest`, converted into
/// `bundle`.
fn download_and_convert(endpoint: &str, dest: &Path, bundle: &Path) -> Output {
    let args = [
        "sd",
        "--download",
        "--repo",
        REPO,
        "--sd",
        dest.to_str().unwrap(),
        "--output",
        bundle.to_str().unwrap(),
        "--quiet",
    ];
    convert(&args, &[("HF_ENDPOINT", endpoint)])
}

#[test]
fn download_then_convert_gives_a_working_bundle() {
    let work = tempfile::tempdir().unwrap();
    let files = tiny_sd(work.path());
    let server = hub(&files, Faults::default());
    let dest = work.path().join("sd");
    let bundle = work.path().join("bundle");
    let out = download_and_convert(&server.endpoint, &dest, &bundle);
    assert!(out.status.success(), "{}", stderr(&out));
    for (path, bytes) in &files {
        assert_eq!(&std::fs::read(dest.join(path)).unwrap(), bytes, "{path}");
    }
    assert!(stderr(&out).contains(COMMIT), "{}", stderr(&out));
    let check = convert(&["check", "--model", bundle.to_str().unwrap()], &[]);
    assert!(check.status.success(), "{}", stderr(&check));

    // Again into a new bundle: the files are there and checked, nothing is downloaded.
    let before = server.log.lock().unwrap().len();
    let again = work.path().join("bundle2");
    let out = download_and_convert(&server.endpoint, &dest, &again);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = server.log.lock().unwrap();
    assert!(
        log[before..].iter().all(|(p, _)| p.starts_with("/api/")),
        "only the listing is asked for: {:?}",
        &log[before..]
    );
}

#[test]
fn without_a_folder_the_download_goes_to_the_cache() {
    let work = tempfile::tempdir().unwrap();
    let files = tiny_sd(work.path());
    let server = hub(&files, Faults::default());
    let cache = work.path().join("cache");
    let bundle = work.path().join("bundle");
    let out = convert(
        &[
            "sd",
            "--download",
            "--repo",
            REPO,
            "--output",
            bundle.to_str().unwrap(),
            "-q",
        ],
        &[
            ("HF_ENDPOINT", &server.endpoint),
            ("XDG_CACHE_HOME", cache.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let folder = cache.join("diffmac/hub/test--tiny-sd").join(COMMIT);
    assert!(
        folder
            .join("unet/diffusion_pytorch_model.safetensors")
            .is_file()
    );
}

#[test]
fn a_corrupt_file_or_no_network_stops_before_anything_is_converted() {
    let work = tempfile::tempdir().unwrap();
    let files = tiny_sd(work.path());
    let corrupt = "vae/diffusion_pytorch_model.safetensors";
    let server = hub(
        &files,
        Faults {
            corrupt: [corrupt.to_owned()].into(),
            ..Faults::default()
        },
    );
    let dest = work.path().join("sd");
    let bundle = work.path().join("bundle");
    let out = download_and_convert(&server.endpoint, &dest, &bundle);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains(corrupt) && message.contains("does not match"),
        "{message}"
    );
    assert!(!dest.join(corrupt).exists());
    assert!(!bundle.join("config.json").exists());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = download_and_convert(&endpoint, &dest, &bundle);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
    assert!(!bundle.join("config.json").exists());

    // --repo without --download is a usage error.
    let out = convert(&["sd", "--sd", "x", "--output", "y", "--repo", REPO], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
