#!/usr/bin/env bash
# Runs the pyre-h1 cargo-fuzz targets (crates/pyre-h1/fuzz) one after another.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 600)
#        FUZZ_TARGETS="request_head chunked_body" scripts/fuzz.sh 60
#
# Each target starts from its committed seeds (fuzz/seeds/<target>) and grows its
# working corpus (fuzz/corpus/<target>, git-ignored). A crash leaves its input in
# fuzz/artifacts/<target>/; the script still runs the other targets, then exits
# non-zero. cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 enables them on stable.
set -euo pipefail

seconds="${1:-600}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/crates/pyre-h1/fuzz"
targets="${FUZZ_TARGETS:-request_head chunked_body response_head}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root"
failed=()
for target in $targets; do
    mkdir -p "$fuzz_dir/corpus/$target"
    echo "==> fuzzing $target for ${seconds}s" >&2
    if ! cargo fuzz run "$target" --fuzz-dir "$fuzz_dir" \
        "$fuzz_dir/corpus/$target" "$fuzz_dir/seeds/$target" \
        -- -max_total_time="$seconds" -print_final_stats=1; then
        echo "==> $target FAILED (reproducer in $fuzz_dir/artifacts/$target/)" >&2
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "==> all targets ran ${seconds}s without a crash" >&2
