//! The snapshot and patch seeds of the fuzz corpus
//! (`corpus/fuzz/snapshot_load/`, `corpus/fuzz/patch_apply/`) must stay
//! loadable: a change of the snapshot or patch format that orphans them shows
//! up here, not as a silently useless fuzz corpus. The seeds are made by
//! `fuzz/make-snapshot-seeds.sh` (the patch seeds by this test, run with
//! `VEXIL_WRITE_PATCH_SEEDS=1`).

#[path = "../fuzz/harness/patch.rs"]
mod patch;
#[path = "../fuzz/harness/snapshot.rs"]
mod snapshot;

use std::path::Path;

#[test]
fn snapshot_seeds_are_loadable() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/fuzz/snapshot_load");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("directory entry").path())
                .filter(|path| path.is_file())
                .collect()
        })
        .unwrap_or_default();
    seeds.sort();
    assert!(
        !seeds.is_empty(),
        "{} holds no snapshot seeds; regenerate them with `fuzz/make-snapshot-seeds.sh` \
         and commit the .snap files",
        dir.display()
    );
    for path in seeds {
        let data = std::fs::read(&path).expect("readable seed");
        if let Err(e) = snapshot::load(&data) {
            panic!(
                "{} does not load ({e}); regenerate the seeds with `fuzz/make-snapshot-seeds.sh`",
                path.display()
            );
        }
    }
}

#[test]
fn patch_seeds_apply_to_the_harness_base() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/fuzz/patch_apply");
    if std::env::var_os("VEXIL_WRITE_PATCH_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).expect("seed directory");
        for (name, bytes) in patch::seeds() {
            std::fs::write(dir.join(format!("{name}.patch")), bytes).expect("seed written");
        }
    }
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("directory entry").path())
                .filter(|path| path.is_file())
                .collect()
        })
        .unwrap_or_default();
    seeds.sort();
    assert!(
        seeds.len() >= patch::seeds().len(),
        "{} lacks patch seeds; regenerate them with `fuzz/make-snapshot-seeds.sh`",
        dir.display()
    );
    for path in seeds {
        let data = std::fs::read(&path).expect("readable seed");
        if let Err(e) = vexil::snapshot::apply_patch(&patch::BASE, &data) {
            panic!(
                "{} does not apply ({e}); regenerate the seeds with `fuzz/make-snapshot-seeds.sh`",
                path.display()
            );
        }
        // And the harness's own checks pass on it, mutated frame included.
        patch::apply(&data);
        let mut flipped = data.clone();
        if let Some(byte) = flipped.get_mut(30) {
            *byte ^= 0x55;
        }
        patch::apply(&flipped);
    }
}
