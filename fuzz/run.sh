#!/usr/bin/env bash
# Fuzzes vexil: runs each fuzz target for FUZZ_SECONDS (default 60) seconds.
#
#   fuzz/run.sh                      # all targets
#   FUZZ_SECONDS=600 fuzz/run.sh parse_check differential
#
# Works on stable Rust: cargo-fuzz needs nightly flags, which RUSTC_BOOTSTRAP=1
# unlocks. Each target starts from a scratch copy of its committed seeds
# (corpus/fuzz/TARGET → fuzz/corpus/TARGET, gitignored), so the committed
# corpus only grows by hand. Exits non-zero when any target crashed (or did not
# build) and prints the crash inputs libFuzzer wrote to fuzz/artifacts/TARGET/.
# To keep a crash as a regression test, copy it into corpus/fuzz/TARGET/
# (tests/fuzz_regressions.rs replays that directory).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
if [ $# -gt 0 ]; then targets=("$@"); else targets=(parse_check parse_shapes differential snapshot_load patch_apply); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || exit 2
fi
export RUSTC_BOOTSTRAP=1

cd "$root/fuzz" || exit 2
failed=()
for target in "${targets[@]}"; do
    work=corpus/$target
    mkdir -p "$work" "artifacts/$target"
    if [ -d "$root/corpus/fuzz/$target" ]; then
        cp -R "$root/corpus/fuzz/$target/." "$work/"
    fi
    # The dictionary speaks the rule language; snapshots are binary.
    dict=()
    case "$target" in
        parse_check)
            # Up to 1 MiB (the harness's cap): deep nesting only crashes big.
            max_len=${FUZZ_MAX_LEN:-1048576}
            dict=(-dict=dicts/flags.dict) ;;
        parse_shapes)
            # Each byte pair repeats a fragment up to 65,536 times.
            max_len=${FUZZ_MAX_LEN:-256} ;;
        differential)
            max_len=${FUZZ_MAX_LEN:-65536}
            dict=(-dict=dicts/flags.dict) ;;
        *)
            # Snapshot and patch seeds run to KiBs; let mutations keep them whole.
            max_len=${FUZZ_MAX_LEN:-65536} ;;
    esac
    before=$(ls "artifacts/$target")
    echo "== $target: ${seconds}s from $(ls "$work" | wc -l) inputs" >&2
    # --debug-assertions: arithmetic overflow panics too.
    cargo fuzz run --debug-assertions "$target" "$work" -- \
        -max_total_time="$seconds" -timeout=10 -max_len="$max_len" "${dict[@]}"
    status=$?
    new=$(comm -13 <(echo "$before") <(ls "artifacts/$target"))
    if [ "$status" -ne 0 ] || [ -n "$new" ]; then
        failed+=("$target")
        if [ -n "$new" ]; then
            echo "== $target: crash input(s):" >&2
            for file in $new; do echo "   $root/fuzz/artifacts/$target/$file" >&2; done
        else
            echo "== $target: failed with status $status (build error?), no artifact written" >&2
        fi
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz/run.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz/run.sh: no crash in ${targets[*]} (${seconds}s each)" >&2
