#!/usr/bin/env bash
# `make attack`: slowhttptest's slowloris, slow-body and slow-read attacks on Pyre
# (benchmarks/attack.py), each with 1,000 connections for ATTACK_SECONDS (default 60).
# Installs Debian's slowhttptest when missing, as scripts/test-deps.sh does for nginx,
# and raises the open-file limit to its hard maximum for the server and the attacker.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "attack.sh: need root or sudo to run: $*" >&2
        return 1
    fi
}

if ! command -v slowhttptest >/dev/null 2>&1; then
    echo "attack.sh: installing slowhttptest"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slowhttptest >/dev/null; then
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slowhttptest >/dev/null
    fi
fi

ulimit -n "$(ulimit -Hn)"
exec .venv/bin/python benchmarks/attack.py --duration "${ATTACK_SECONDS:-60}" "$@"
