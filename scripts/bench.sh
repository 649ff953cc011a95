#!/usr/bin/env bash
# Side-by-side HTTP benchmark: Pyre against uvicorn, granian, socketify and robyn, and
# a pure-Rust hyper hello world as the limit (benchmarks/run.py).
#
# Usage: scripts/bench.sh [run.py options]     (make bench runs it with none)
#        scripts/bench.sh --servers uvicorn,granian --duration 5 --warmup 2
#        scripts/bench.sh --stream [stream.py options]   (make bench-stream: the
#        streaming benchmark, benchmarks/stream.py, with nginx and curl)
#        scripts/bench.sh --balance [balance.py options]   (make bench-balance: two
#        workers, shared listener vs SO_REUSEPORT, benchmarks/balance.py)
#        scripts/bench.sh --client [client.py options]   (make bench-client: the
#        client benchmark, benchmarks/client.py, against nginx)
#        scripts/bench.sh --client-tls [client.py options]   (make bench-client-tls:
#        the same client benchmark over HTTPS, client.py --tls, against nginx with a
#        CA made with openssl for the run)
#        scripts/bench.sh --websocket [websocket.py options]   (make bench-ws: the
#        WebSocket benchmark, benchmarks/websocket.py)
#        scripts/bench.sh --profile --label NAME [profile.py options]   (make
#        bench-profile: a flame graph and a where-the-time-goes table of the hello
#        world, benchmarks/profile.py, with py-spy and perf)
#        scripts/bench.sh --tls [tls.py options]   (make bench-tls: HTTPS against
#        uvicorn, granian and nginx in front of uvicorn, benchmarks/tls.py)
#        scripts/bench.sh --tfb [techempower.py options]   (make bench-tfb: the
#        TechEmpower-style suite, benchmarks/techempower.py, against a PostgreSQL it
#        starts; also installs postgresql and libuv1, and makes .venv-tfb-robyn)
#
# 1. installs wrk (or, with --stream, nginx-light and curl; each option lists its
#    own tools) if missing (apt-get, as root directly, else through sudo);
# 2. creates .venv-bench with the machine's python3, separate from the project's .venv
#    so the peers' dependencies never leak into the tests, and installs the pinned
#    benchmarks/requirements.txt there;
# 3. builds Pyre from the working tree in release mode (pip install ., maturin) into
#    .venv-bench, unless --servers leaves pyre out; a failed build is reported and the
#    peers are still measured (run.py then reports Pyre as unavailable);
# 4. runs .venv-bench/bin/python benchmarks/run.py (or stream.py, balance.py) with the
#    arguments given here.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
venv="$root/.venv-bench"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "bench.sh: need root or sudo to run: $*" >&2
        return 1
    fi
}

script=benchmarks/run.py
tools=(wrk taskset)
if [ "${1:-}" = "--stream" ]; then
    shift
    script=benchmarks/stream.py
    tools=(nginx curl taskset)
elif [ "${1:-}" = "--balance" ]; then
    shift
    script=benchmarks/balance.py
    tools=(wrk)
elif [ "${1:-}" = "--client" ]; then
    shift
    script=benchmarks/client.py
    tools=(nginx taskset)
elif [ "${1:-}" = "--client-tls" ]; then
    shift
    set -- --tls "$@"
    script=benchmarks/client.py
    tools=(nginx openssl taskset)
elif [ "${1:-}" = "--tls" ]; then
    shift
    script=benchmarks/tls.py
    tools=(wrk nginx curl openssl taskset)
elif [ "${1:-}" = "--profile" ]; then
    shift
    script=benchmarks/profile.py
    tools=(wrk taskset perf)
elif [ "${1:-}" = "--tfb" ]; then
    shift
    script=benchmarks/techempower.py
    tools=(wrk taskset initdb libuv)
elif [ "${1:-}" = "--websocket" ]; then
    shift
    script=benchmarks/websocket.py
    tools=(taskset)
fi

apt_install() {
    echo "bench.sh: installing $1"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1"; then
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1"
    fi
}

have() {
    case "$1" in
        # PostgreSQL's server (Debian keeps it in /usr/lib/postgresql/N/bin).
        initdb) compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 ;;
        # socketify's native library links libuv.
        libuv) ldconfig -p 2>/dev/null | grep -q 'libuv\.so\.1' ;;
        *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ;;
    esac
}

for tool in "${tools[@]}"; do
    if ! have "$tool"; then
        package="$tool"
        [ "$tool" = taskset ] && package=util-linux
        [ "$tool" = nginx ] && package=nginx-light
        [ "$tool" = perf ] && package=linux-perf
        [ "$tool" = initdb ] && package=postgresql
        [ "$tool" = libuv ] && package=libuv1
        apt_install "$package"
    fi
done

if [ "$script" = benchmarks/run.py ]; then
    # socketify's bundled uWebSockets library links libuv.
    if ! have libuv; then
        apt_install libuv1
    fi
    # The pure-Rust limit (the hyper target): its own crate, outside the workspace.
    if ! cargo build --release --quiet --manifest-path benchmarks/hyper-hello/Cargo.toml; then
        echo "bench.sh: WARNING: building benchmarks/hyper-hello failed; hyper will be reported unavailable" >&2
    fi
fi

# Does this run include pyre? (--servers LIST or --servers=LIST; default all.)
want_pyre=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --servers=*) servers="${args[$i]#--servers=}" ;;
        --servers) servers="${args[$((i + 1))]:-}" ;;
        *) continue ;;
    esac
    case ",$servers," in
        *pyre* | *framework*) want_pyre=1 ;;
        *) want_pyre=0 ;;
    esac
done

if [ ! -x "$venv/bin/python" ]; then
    echo "bench.sh: creating $venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet -r benchmarks/requirements.txt
if [ "$script" = benchmarks/run.py ]; then
    # robyn pins an uvloop older than the other peers': its own environment.
    if [ ! -x "$root/.venv-robyn/bin/python" ]; then
        "$PYTHON" -m venv "$root/.venv-robyn"
    fi
    "$root/.venv-robyn/bin/python" -m pip --disable-pip-version-check install --quiet \
        -r benchmarks/requirements-robyn.txt
fi

if [ "$script" = benchmarks/techempower.py ]; then
    # Robyn 0.88 pins uvloop 0.22 (the other peers run 0.23): its own environment.
    robyn="$root/.venv-tfb-robyn"
    if [ ! -x "$robyn/bin/python" ]; then
        echo "bench.sh: creating $robyn for Robyn"
        "$PYTHON" -m venv "$robyn"
    fi
    if ! "$robyn/bin/python" -m pip --disable-pip-version-check install --quiet \
        -r benchmarks/tfb/requirements-robyn.txt; then
        echo "bench.sh: WARNING: installing Robyn failed; it will be reported unavailable" >&2
    fi
fi

if [ "$want_pyre" -eq 1 ]; then
    echo "bench.sh: building Pyre from the working tree (release) into $venv"
    # Uninstall first so the same version number is rebuilt from the tree, while
    # Pyre's own dependencies still resolve. Its own cargo target dir keeps rebuilds
    # incremental without invalidating `make build`'s (pyo3 rebuilds when the
    # interpreter path changes).
    "${pip[@]}" uninstall --quiet --yes pyre-http >/dev/null 2>&1 || true
    if ! CARGO_TARGET_DIR="$root/target/bench" "${pip[@]}" install --quiet "$root"; then
        echo "bench.sh: WARNING: building Pyre failed; it will be reported unavailable" >&2
    fi
fi

export PATH="$PATH:/usr/sbin"
exec "$venv/bin/python" "$script" "$@"
