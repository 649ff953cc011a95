#!/usr/bin/env bash
# Builds the wheel (make wheel) and proves it works on its own: installs it into a
# fresh venv (its dependencies from PyPI), serves a tiny ASGI app with the installed
# pyre-http command on a free loopback port, and checks the answer. Run by .ci/run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -INT "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

rm -rf dist
make wheel
wheel="$(ls dist/pyre_http-*.whl | head -n 1)"
echo "wheel-check: $(basename "$wheel")"
case "$(basename "$wheel")" in
    *manylinux*) ;;
    *) echo "wheel-check: not a manylinux wheel: $wheel" >&2; exit 1 ;;
esac

"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"

cat > "$work/wheel_app.py" <<'PY'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"served by the wheel"})
PY

cd "$work"
"$work/venv/bin/pyre-http" wheel_app:app --host 127.0.0.1 --port 0 --lifespan off \
    >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 100); do
    port="$(sed -n 's/.*Pyre running on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log")"
    [ -n "$port" ] && break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "wheel-check: the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
body="$("$work/venv/bin/python" -c "
import urllib.request
print(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=10).read().decode())
")"
if [ "$body" != "served by the wheel" ]; then
    echo "wheel-check: unexpected answer: $body" >&2
    exit 1
fi
echo "wheel-check: the installed wheel served a request on port $port"
