#!/usr/bin/env bash
# System packages the test suite needs, installed when missing (make test runs this):
# Debian's nginx (nginx-light), the reverse proxy in tests/test_nginx_proxy.py, curl,
# and PostgreSQL's server (postgresql), the database of tests/test_bench_tfb.py.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "test-deps.sh: need root or sudo to run: $*" >&2
        return 1
    fi
}

if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
    echo "test-deps.sh: installing nginx-light"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null; then
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null
    fi
fi

# curl: a TLS client of tests/test_tls.py.
if ! command -v curl >/dev/null 2>&1; then
    echo "test-deps.sh: installing curl"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >/dev/null; then
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >/dev/null
    fi
fi

# PostgreSQL: tests/test_bench_tfb.py makes a throw-away cluster with initdb (Debian
# keeps the server's binaries in /usr/lib/postgresql/N/bin).
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
    echo "test-deps.sh: installing postgresql"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; then
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
    fi
fi
