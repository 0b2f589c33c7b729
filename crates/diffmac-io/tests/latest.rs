//! `latest` pointers: a step folder, a `latest` file, a checkpoints folder and a run folder all
//! lead to the same checkpoint; anything else is an error naming the path.

use diffmac_io::resolve_latest;

#[test]
fn every_way_of_naming_a_checkpoint_leads_to_it() {
    let run = tempfile::tempdir().unwrap();
    let checkpoints = run.path().join("checkpoints");
    let step = checkpoints.join("step-0000002");
    std::fs::create_dir_all(&step).unwrap();
    std::fs::write(step.join("state.json"), "{}").unwrap();
    std::fs::write(checkpoints.join("latest"), "step-0000002\n").unwrap();
    for path in [
        step.clone(),
        checkpoints.join("latest"),
        checkpoints.clone(),
        run.path().to_path_buf(),
    ] {
        assert_eq!(
            resolve_latest(&path, "state.json").unwrap(),
            step,
            "{path:?}"
        );
    }

    // A pointer to a folder that is gone, and a folder that is nothing of the kind.
    std::fs::write(checkpoints.join("latest"), "step-0000009\n").unwrap();
    let err = resolve_latest(run.path(), "state.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("step-0000009") && err.contains("latest"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = resolve_latest(empty.path(), "state.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains(&empty.path().display().to_string()), "{err}");
}
