#!/usr/bin/env bash
# Runs the cargo-fuzz targets one after another: pyre-h1's (crates/pyre-h1/fuzz)
# and pyre-ws's (crates/pyre-ws/fuzz).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 600)
#        FUZZ_TARGETS="request_head ws_decoder" scripts/fuzz.sh 60
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
# Each target and the crate whose fuzz/ directory holds it.
declare -A crate_of=(
    [request_head]=pyre-h1
    [chunked_body]=pyre-h1
    [response_head]=pyre-h1
    [ws_decoder]=pyre-ws
)
targets="${FUZZ_TARGETS:-request_head chunked_body response_head ws_decoder}"
for target in $targets; do
    if [ -z "${crate_of[$target]:-}" ]; then
        echo "unknown fuzz target: $target (known: ${!crate_of[*]})" >&2
        exit 2
    fi
done
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root"
failed=()
for target in $targets; do
    fuzz_dir="$root/crates/${crate_of[$target]}/fuzz"
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
