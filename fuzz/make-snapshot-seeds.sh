#!/usr/bin/env bash
# Regenerates the seed corpus of the snapshot_load fuzz target:
# corpus/fuzz/snapshot_load/*.snap, one snapshot per valid rule file of the
# parse_check seeds, plus one of all of corpus/example/ when it exists; and the
# patches of the patch_apply target (corpus/fuzz/patch_apply/*.patch, made by
# fuzz/harness/patch.rs through tests/fuzz_seeds.rs).
# Run it after any change of the snapshot format, then commit the .snap files;
# `cargo test --test fuzz_seeds` fails while they are missing or stale.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=corpus/fuzz/snapshot_load
mkdir -p "$out"
rm -f "$out"/*.snap

compile() { # NAME FILE...
    local name=$1
    shift
    cargo run --release --quiet -- compile "$@" -o "$out/$name.snap" \
        --snapshot-version "$((RANDOM % 1000 + 1))" --environment "seed-$name"
}

for file in corpus/fuzz/parse_check/valid-*.flags corpus/fuzz/parse_check/empty.flags; do
    name=$(basename "$file" .flags)
    compile "$name" "$file"
done
if compgen -G "corpus/example/*.flags" >/dev/null; then
    compile example corpus/example/*.flags
fi
rm -f corpus/fuzz/patch_apply/*.patch
VEXIL_WRITE_PATCH_SEEDS=1 cargo test --release --quiet --test fuzz_seeds patch_seeds
ls -l "$out" corpus/fuzz/patch_apply
