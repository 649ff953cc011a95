#!/usr/bin/env bash
# Runs the Python test suite on several CPython versions, each in its own venv.
#
# Usage: scripts/test-pythons.sh [VERSION ...]      e.g. scripts/test-pythons.sh 3.10 3.12
#
# Without arguments it tests every python3.10 .. python3.13 it can find: on PATH
# (pyenv shims that do not run for the active version are skipped) or under
# ${PYENV_ROOT:-/root/.pyenv}/versions/3.X*/bin/python3. A version asked for by
# name that cannot be found counts as a failure.
#
# For each version 3.X it:
#   1. creates .venv-py3X with that interpreter (reused if it already runs 3.X;
#      TEST_PYTHONS_FRESH=1 recreates it) and installs requirements/test.txt as
#      pinned (the requirements files are never changed). If a pin cannot be
#      installed on 3.X (no wheel or sdist; typically Requires-Python excludes 3.X),
#      every such pin is listed with pip's reason and the version stops there; a pin
#      that had no wheel and was built from its sdist is noted in the summary;
#   2. builds the extension into that venv (maturin develop --release) with its own
#      cargo target dir, target/py3X, so the main build in target/ is left alone.
#      The extension lands in python/pyre/ as _core.cpython-3X-*.so, next to the
#      other versions' (the file names differ by ABI tag, so none is overwritten);
#   3. runs `python -m pytest -q -p no:cacheprovider` from the repo root with that
#      venv's python (the tests start servers with sys.executable, so the servers
#      run on 3.X too), with the venv's bin first on PATH.
#
# Logs: target/py3X/test-pythons/{install,build,pytest}.log (and pip-report.json).
# TEST_PYTHONS_TIMEOUT (seconds, default 1800) bounds each pytest run.
# Prints one summary line per version and exits non-zero if any version failed.
# The venvs belong in .gitignore as /.venv-py3*/ (3.13+ venvs also ignore
# themselves with their own .gitignore).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
pyenv_root="${PYENV_ROOT:-/root/.pyenv}"
pytest_timeout="${TEST_PYTHONS_TIMEOUT:-1800}"

usage() {
    echo "usage: $0 [3.10 3.11 3.12 3.13 ...]" >&2
    exit 2
}

# Prints the path of an interpreter that really runs CPython $1 (e.g. 3.12), or
# nothing. Every python$1 on PATH is tried in order (a pyenv shim for a version
# that is not active exits non-zero), then the pyenv installs, newest first.
find_python() {
    local want="$1" candidate
    local -a candidates=()
    mapfile -t candidates < <(type -ap "python$want" 2>/dev/null || true)
    local -a pyenv_installs=()
    if [ -d "$pyenv_root/versions" ]; then
        mapfile -t pyenv_installs < <(
            compgen -G "$pyenv_root/versions/$want.*/bin/python3" | sort -rV || true
        )
    fi
    candidates+=("${pyenv_installs[@]}")
    for candidate in "${candidates[@]}"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        local got
        got="$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" \
            || continue
        if [ "$got" = "$want" ]; then
            # Resolve shims and symlinks to the real interpreter.
            "$candidate" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 0
}

# --- which versions ---------------------------------------------------------------
explicit=1
versions=()
if [ "$#" -eq 0 ]; then
    explicit=0
    versions=(3.10 3.11 3.12 3.13)
else
    for arg in "$@"; do
        case "$arg" in
            -h | --help) usage ;;
        esac
        arg="${arg#python}"
        [[ "$arg" =~ ^3[0-9]+$ ]] && arg="3.${arg#3}"
        [[ "$arg" =~ ^3\.[0-9]+$ ]] || usage
        versions+=("$arg")
    done
fi

declare -A summary=()
order=()
failed=0

record() { # version status detail
    summary["$1"]="$(printf '%-5s %-13s %s' "$1" "$2" "$3")"
    order+=("$1")
}

# Every pin pip cannot install on this interpreter, with the reason pip gives
# (usually "Requires-Python >=3.11"). pip stops at the first one, so this resolves
# the requirements again (--dry-run, on a flattened copy in the log dir; the
# requirements files are not touched) without each pin found so far, until the
# rest resolves. Prints one "name==version (reason)" per line.
unavailable_pins() {
    local python="$1" logs="$2"
    "$python" - "$root/requirements/test.txt" "$logs" <<'EOF'
import os, re, subprocess, sys

def flatten(path):
    lines = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"-r\s+(\S+)$", line)
            if m:
                lines += flatten(os.path.join(os.path.dirname(path), m.group(1)))
            elif line:
                lines.append(line)
    return lines

def name(line):
    return re.split(r"[=<>!~;\s\[]", line, maxsplit=1)[0].lower().replace("_", "-")

requirements, logs = sys.argv[1], sys.argv[2]
lines, excluded = flatten(requirements), {}
flat = os.path.join(logs, "requirements-flat.txt")
for _ in range(len(lines)):
    with open(flat, "w") as f:
        f.write("\n".join(l for l in lines if name(l) not in excluded) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
         "--disable-pip-version-check", "--ignore-installed", "-r", flat],
        capture_output=True, text=True,
    ).stderr
    m = re.search(r"No matching distribution found for (\S+)", out)
    if not m:
        break
    req = m.group(1)
    reason = "no distribution for this Python"
    version = req.partition("==")[2]
    ignored = re.search(r"require a different python version: (.*)", out)
    if ignored and version:
        for entry in ignored.group(1).split("; "):
            v, _, rp = entry.partition(" ")
            if v == version:
                reason = rp
    if name(req) in excluded:
        break
    excluded[name(req)] = f"{req} ({reason})"
for entry in excluded.values():
    print(entry)
EOF
}

# Names of the packages pip failed to build from source, from an install log.
failed_builds() {
    grep -oE "(Failed to build|Failed building wheel for|ERROR: Failed building wheel for) [^ ]+" "$1" \
        | awk '{print $NF}' | sort -u | tr '\n' ' ' || true
}

# Requirements installed from a source distribution (no usable wheel), from a
# `pip install --report` file.
sdist_installs() {
    local python="$1" report="$2"
    [ -s "$report" ] || return 0
    "$python" - "$report" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    report = json.load(f)
for item in report.get("install", []):
    url = (item.get("download_info") or {}).get("url", "")
    if url and not url.split("#")[0].endswith(".whl"):
        meta = item.get("metadata", {})
        print(f"{meta.get('name')}=={meta.get('version')}", end=" ")
EOF
}

# --- one version --------------------------------------------------------------------
for version in "${versions[@]}"; do
    tag="py${version/./}"
    venv="$root/.venv-$tag"
    target="$root/target/$tag"
    logs="$target/test-pythons"
    mkdir -p "$logs"
    : >"$logs/install.log"

    python="$(find_python "$version")"
    if [ -z "$python" ]; then
        if [ "$explicit" -eq 1 ]; then
            echo "==> $version: no interpreter found" >&2
            record "$version" "NOT FOUND" "no python$version on PATH or under $pyenv_root/versions"
            failed=1
        fi
        continue
    fi
    echo "==> $version: $python -> .venv-$tag" >&2

    # 1. venv and pinned requirements.
    if [ "${TEST_PYTHONS_FRESH:-0}" = 1 ] || ! [ -x "$venv/bin/python" ] \
        || [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$version" ]; then
        rm -rf "$venv"
        if ! "$python" -m venv "$venv" >>"$logs/install.log" 2>&1; then
            cat "$logs/install.log" >&2
            record "$version" "VENV FAILED" "see $logs/install.log"
            failed=1
            continue
        fi
    fi
    rm -f "$logs/pip-report.json"
    echo "    installing requirements/test.txt (log: ${logs#"$root"/}/install.log)" >&2
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check \
        --report "$logs/pip-report.json" -r requirements/test.txt >>"$logs/install.log" 2>&1; then
        grep -E "^ERROR" "$logs/install.log" | cut -c1-240 >&2 || tail -n 25 "$logs/install.log" >&2
        detail="see ${logs#"$root"/}/install.log"
        broken="$(failed_builds "$logs/install.log")"
        if grep -q "No matching distribution found for" "$logs/install.log"; then
            echo "    finding every pin that cannot be installed on Python $version..." >&2
            missing="$(unavailable_pins "$venv/bin/python" "$logs" | tee -a "$logs/install.log")"
            sed 's/^/    unavailable: /' <<<"$missing" >&2
            detail="pins not installable: $(paste -sd ',' - <<<"$missing" | sed 's/,/, /g'); $detail"
        fi
        [ -n "$broken" ] && detail="source build failed: ${broken% }; $detail"
        record "$version" "INSTALL FAILED" "$detail"
        failed=1
        continue
    fi
    from_source="$(sdist_installs "$venv/bin/python" "$logs/pip-report.json")"
    if [ -n "$from_source" ]; then
        echo "    note: no wheel for Python $version, built from source: $from_source" >&2
    fi

    # 2. the extension, with this version's own cargo target dir.
    echo "    building the extension (CARGO_TARGET_DIR=target/$tag, log: ${logs#"$root"/}/build.log)" >&2
    if ! VIRTUAL_ENV="$venv" CARGO_TARGET_DIR="target/$tag" \
        "$venv/bin/maturin" develop --release --quiet >"$logs/build.log" 2>&1; then
        tail -n 40 "$logs/build.log" >&2
        record "$version" "BUILD FAILED" "see ${logs#"$root"/}/build.log"
        failed=1
        continue
    fi

    # 3. the tests, on this venv's interpreter.
    echo "    running pytest (log: ${logs#"$root"/}/pytest.log)" >&2
    status=0
    VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
        timeout --kill-after=30 "$pytest_timeout" \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider 2>&1 | tee "$logs/pytest.log" \
        || status=$?
    line="$(grep -E '[0-9]+ (passed|failed|errors?|skipped)|no tests ran' "$logs/pytest.log" \
        | grep -E ' in [0-9.]+s' | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)"
    [ -n "$line" ] || line="no pytest summary (exit $status)"
    [ -n "$from_source" ] && line="$line; built from source: ${from_source% }"
    if [ "$status" -eq 0 ]; then
        record "$version" "PASSED" "$line"
    else
        [ "$status" -eq 124 ] && line="timed out after ${pytest_timeout}s; $line"
        record "$version" "TESTS FAILED" "$line"
        failed=1
    fi
done

# --- summary ------------------------------------------------------------------------
echo
echo "Summary (one line per Python version):"
if [ "${#order[@]}" -eq 0 ]; then
    echo "  no Python 3.10-3.13 interpreter found"
    exit 2
fi
for version in "${order[@]}"; do
    echo "  ${summary[$version]}"
done
exit "$failed"
