# Pyre's build. The two commands a newcomer needs are at the top of README.md:
#   make test   builds everything in release mode and runs every test and check
#   make serve  builds and serves the example application (examples/hello.py)
# Everything is installed into .venv from pinned requirements, using the machine's
# python3, so a fresh machine needs only Rust, Python 3 and make.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.requirements-installed
# Python files outside the package and tests, linted too (the folders may hold none yet).
PY_EXTRA := $(wildcard benchmarks/*.py benchmarks/*/*.py examples/*.py examples/*/*.py)

.PHONY: test test-deps serve serve-framework wheel wheel-check build rust-test py-test lint fmt fuzz autobahn bench bench-stream bench-balance bench-client bench-client-tls bench-codec bench-ws bench-tls bench-profile bench-tfb attack soak clean

test: build rust-test py-test lint
	@echo "make test: all Rust and Python tests and checks passed"

$(STAMP): requirements/build.txt requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/test.txt
	touch $@

# Release build of the extension, installed into .venv (python/ stays editable).
build: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --quiet

rust-test:
	cargo test --workspace --all-targets
	cargo test --workspace --doc

# System packages some tests need (Debian's nginx), installed when missing.
test-deps:
	scripts/test-deps.sh

py-test: build test-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(BIN)/ruff check python tests $(PY_EXTRA)
	$(BIN)/ruff format --check python tests $(PY_EXTRA)

fmt: $(STAMP)
	cargo fmt --all
	$(BIN)/ruff format python tests $(PY_EXTRA)
	$(BIN)/ruff check --fix python tests $(PY_EXTRA)

# A release wheel in dist/. maturin checks the glibc symbols it uses and tags it with
# the manylinux policy they allow (manylinux_2_34 when built on Debian 12); a wheel for
# older systems needs an older build machine (a manylinux container or maturin's zig).
wheel: $(STAMP)
	$(BIN)/maturin build --release --quiet --out dist

# Builds the wheel, installs it into a fresh venv and serves a request with it.
wheel-check:
	scripts/wheel-check.sh

# Builds, then serves the framework example (examples/framework_app) on
# http://127.0.0.1:8000 until Ctrl+C.
serve-framework: build
	$(BIN)/pyre-http examples.framework_app.main:app --host 127.0.0.1 --port 8000

# Builds, then serves examples/hello.py on http://127.0.0.1:8000 until Ctrl+C.
serve: build
	$(BIN)/pyre-http examples.hello:app --host 127.0.0.1 --port 8000

# Fuzz every codec entry point; FUZZ_SECONDS per target (default 600). Not part of test.
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The Autobahn|Testsuite WebSocket cases 1-7, 9, 10, 12 and 13 (kosoku) against Pyre's
# echo apps (ASGI and PSGI), with a summary table; reports in reports/autobahn/.
# `make test` runs cases 1-7 and 10 (tests/test_autobahn.py). Not part of `make test`.
AUTOBAHN_ARGS ?=
autobahn: build
	$(BIN)/python -m tests.autobahn $(AUTOBAHN_ARGS)

# Side-by-side HTTP benchmark against uvicorn and granian (own venv, wrk, pinned
# CPUs); see benchmarks/README.md. Not part of `make test`.
bench:
	scripts/bench.sh

# Streaming: 1 GiB download (pathsend vs nginx, uvicorn+Starlette), 1 GiB upload,
# memory under slow readers, slow uploads and 10,000 idle connections.
bench-stream:
	scripts/bench.sh --stream

# Two workers: one shared listener (--workers 2) vs one SO_REUSEPORT listener per
# worker: balance under several loads, and errors when a worker restarts.
bench-balance:
	scripts/bench.sh --balance

# Client: pyre.client against httpx and aiohttp on nginx (10,000 small GETs over 8
# keep-alive connections, a 1 GiB download, RSS under a slow consumer).
# A flame graph (py-spy) and a table of where a hello-world request's CPU time goes
# (perf), into benchmarks/results/flame-current.* (benchmarks/profile.py).
bench-profile:
	scripts/bench.sh --profile --label current

bench-client:
	scripts/bench.sh --client

# The same client benchmark over HTTPS (nginx with TLS 1.3, every client verifying
# against a CA made for the run; benchmarks/client.py --tls, own venv, pinned CPUs).
bench-client-tls:
	scripts/bench.sh --client-tls

# WebSockets: echo round trips over 64 connections and a broadcast to N clients, on
# Pyre, uvicorn and granian (benchmarks/websocket.py, own venv, pinned CPUs).
bench-ws:
	scripts/bench.sh --websocket

# HTTPS: hello world over TLS (kept-alive and a handshake per request), memory per
# idle TLS connection and a 1 GiB download, against uvicorn --ssl-*, granian's TLS and
# nginx terminating TLS in front of uvicorn (benchmarks/tls.py).
bench-tls:
	scripts/bench.sh --tls

# TechEmpower-style suite: json, plaintext, db, queries, fortunes and updates on Pyre
# (ASGI, PSGI, pyre.framework) and its peers, against a PostgreSQL started for the run,
# every response verified first (benchmarks/techempower.py). TFB_ARGS=--quick for CI.
TFB_ARGS ?=
bench-tfb:
	scripts/bench.sh --tfb $(TFB_ARGS)

# Codec micro-benchmarks (criterion): validated parse vs bare httparse, chunked.
bench-codec:
	cargo bench -p pyre-h1 --bench codec

# Slow-client attacks (slowhttptest: slowloris, slow body, slow read), 1,000
# connections each for ATTACK_SECONDS (default 60), while a normal client is served;
# see benchmarks/README.md. Not part of `make test`.
attack: build
	scripts/attack.sh

# Soak: SOAK_SECONDS (default 300) of mixed traffic with random client aborts; then
# the server's fds and connections must be back to baseline and RSS growth under 5%.
SOAK_SECONDS ?= 300
soak: build
	$(BIN)/python benchmarks/soak.py --duration $(SOAK_SECONDS)

clean:
	cargo clean
	rm -rf $(VENV) .pytest_cache .ruff_cache
