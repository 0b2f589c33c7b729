//! Downloads from a local test hub: a good download, a resumed one, a checksum mismatch, a
//! missing file, no network — each a clear error, and no file with its final name unless it
//! is whole and checked.

use std::collections::BTreeMap;
use std::path::Path;

use diffmac_hub::test_hub::{self as common, Faults, serve};
use diffmac_hub::{DownloadEvent, Hub, HubError, download, part_path};

const REPO: &str = "owner/model";

fn repo_files() -> BTreeMap<String, Vec<u8>> {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    BTreeMap::from([
        ("unet/config.json".to_owned(), br#"{"a": 1}"#.to_vec()),
        ("unet/model.safetensors".to_owned(), big),
        ("vae/model.safetensors".to_owned(), vec![42u8; 5000]),
    ])
}

const WANTED: &[&str] = &[
    "unet/config.json",
    "unet/model.safetensors",
    "vae/model.safetensors",
];

fn fetch(hub: &Hub, dest: &Path) -> Result<Vec<std::path::PathBuf>, HubError> {
    let listing = hub.list(REPO, "main")?;
    download(hub, &listing, WANTED, dest, &mut |_| {})
}

#[test]
fn a_good_download_is_complete_checked_and_not_repeated() {
    let files = repo_files();
    let server = serve(REPO, files.clone(), Faults::default());
    let hub = Hub::new(&server.endpoint, None);
    let dest = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let listing = hub.list(REPO, "main").unwrap();
    assert_eq!(listing.commit, common::COMMIT);
    let paths = download(&hub, &listing, WANTED, dest.path(), &mut |e| {
        events.push(format!("{e:?}"))
    })
    .unwrap();
    for (path, name) in paths.iter().zip(WANTED) {
        assert_eq!(path, &dest.path().join(name));
        assert_eq!(std::fs::read(path).unwrap(), files[*name], "{name}");
        assert!(!part_path(path).exists());
    }
    assert!(events.iter().any(|e| e.contains("Progress")), "{events:?}");
    // Downloads name the commit, not the branch.
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|(p, _)| p.contains(&format!("/resolve/{}/", common::COMMIT)))
    );

    // Again: everything is already there and right, nothing is downloaded.
    let before = server.log.lock().unwrap().len();
    let mut cached = 0;
    download(&hub, &listing, WANTED, dest.path(), &mut |e| {
        if let DownloadEvent::Done { cached: true, .. } = e {
            cached += 1;
        }
    })
    .unwrap();
    assert_eq!(cached, 3);
    assert_eq!(server.log.lock().unwrap().len(), before);
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let files = repo_files();
    let faults = Faults {
        cut: Some(("unet/model.safetensors".into(), 1_000_000)),
        ..Faults::default()
    };
    let server = serve(REPO, files.clone(), faults);
    let hub = Hub::new(&server.endpoint, None);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch(&hub, dest.path()).unwrap_err();
    let HubError::Interrupted {
        file,
        received,
        size,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(file, "unet/model.safetensors");
    assert_eq!((*received, *size), (1_000_000, 3_000_000));
    assert!(
        err.to_string()
            .contains("run the same command again to resume"),
        "{err}"
    );
    let target = dest.path().join("unet/model.safetensors");
    assert!(
        !target.exists(),
        "an incomplete file never takes the final name"
    );
    assert_eq!(
        std::fs::metadata(part_path(&target)).unwrap().len(),
        1_000_000
    );

    let mut resumed_from = None;
    let listing = hub.list(REPO, "main").unwrap();
    download(&hub, &listing, WANTED, dest.path(), &mut |e| {
        if let DownloadEvent::Start {
            file: "unet/model.safetensors",
            resumed_from: r,
            ..
        } = e
        {
            resumed_from = Some(r);
        }
    })
    .unwrap();
    assert_eq!(resumed_from, Some(1_000_000));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        files["unet/model.safetensors"]
    );
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|(_, r)| r.as_deref() == Some("bytes=1000000-")),
        "the rest was asked for with a range: {log:?}"
    );
}

#[test]
fn a_checksum_mismatch_is_refused_and_leaves_no_file() {
    for name in ["unet/config.json", "vae/model.safetensors"] {
        let faults = Faults {
            corrupt: [name.to_owned()].into(),
            ..Faults::default()
        };
        let server = serve(REPO, repo_files(), faults);
        let hub = Hub::new(&server.endpoint, None);
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&hub, dest.path()).unwrap_err();
        let HubError::ChecksumMismatch {
            file, algorithm, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(file, name);
        let want = if name.ends_with(".json") {
            "git-sha1"
        } else {
            "sha256"
        };
        assert_eq!(*algorithm, want);
        assert!(err.to_string().contains(name), "{err}");
        let target = dest.path().join(name);
        assert!(!target.exists() && !part_path(&target).exists());
    }
}

#[test]
fn a_file_already_there_with_other_content_is_left_alone() {
    let server = serve(REPO, repo_files(), Faults::default());
    let hub = Hub::new(&server.endpoint, None);
    let dest = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dest.path().join("unet")).unwrap();
    let mine = dest.path().join("unet/config.json");
    std::fs::write(&mine, b"my own config").unwrap();
    let err = fetch(&hub, dest.path()).unwrap_err();
    assert!(matches!(err, HubError::ExistingDiffers { .. }), "{err}");
    assert!(err.to_string().contains("left as it is"), "{err}");
    assert_eq!(std::fs::read(&mine).unwrap(), b"my own config");
}

#[test]
fn missing_files_and_repositories_are_named() {
    // Listed but not served.
    let faults = Faults {
        lost: ["vae/model.safetensors".to_owned()].into(),
        ..Faults::default()
    };
    let server = serve(REPO, repo_files(), faults);
    let hub = Hub::new(&server.endpoint, None);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch(&hub, dest.path()).unwrap_err();
    assert!(
        matches!(&err, HubError::MissingFile { file, .. } if file == "vae/model.safetensors"),
        "{err}"
    );
    assert!(!dest.path().join("vae/model.safetensors").exists());

    // Not listed: refused before anything is downloaded.
    let listing = hub.list(REPO, "main").unwrap();
    let before = server.log.lock().unwrap().len();
    let err = download(
        &hub,
        &listing,
        &["text_encoder/model.safetensors"],
        dest.path(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("text_encoder/model.safetensors"),
        "{err}"
    );
    assert!(err.to_string().contains("not listed"), "{err}");
    assert_eq!(server.log.lock().unwrap().len(), before);

    // Another repository.
    let err = hub.list("owner/other", "main").unwrap_err();
    assert!(
        matches!(err, HubError::RepoNotFound { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("owner/other@main"), "{err}");
}

#[test]
fn no_network_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hub = Hub::new(&format!("http://127.0.0.1:{port}"), None);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch(&hub, dest.path()).unwrap_err();
    assert!(matches!(err, HubError::Unreachable { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("HF_ENDPOINT"),
        "{message}"
    );
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}
