//! The snapshot seeds of the fuzz corpus (`corpus/fuzz/snapshot_load/`) must
//! stay loadable: a change of the snapshot format that orphans them shows up
//! here, not as a silently useless fuzz corpus. The seeds are made by
//! `fuzz/make-snapshot-seeds.sh`.

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
