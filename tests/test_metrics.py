"""--metrics-port: Prometheus text on a separate listener, values equal to the traffic
sent (status classes, refusals by reason, bytes both ways, the duration histogram),
gauges while a request is held, and sums over --workers that survive a killed worker.
The text is parsed with prometheus_client's parser (the reference client)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    SUPERVISOR_READY,
    ServerProcess,
    children,
    connect,
    read_until_closed,
    serve,
    serve_command,
    wait_for,
)

APP = "tests.apps.metrics_app:app"
METRICS_READY = re.compile(r"Pyre metrics on http://127\.0\.0\.1:(\d+)/metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WAIT_SECONDS = 10.0

Samples = dict[str, float]


def metrics_port(server: ServerProcess) -> int:
    match = METRICS_READY.search(server.wait_for_log("Pyre metrics on"))
    assert match, server.log
    return int(match.group(1))


def scrape(port: int) -> Samples:
    """The samples, keyed ``name{label="value",...}`` (labels sorted), after checking
    the response and that every family has HELP and TYPE."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("pyre_")
        assert family.documentation, family.name
        assert family.type in ("counter", "gauge", "histogram"), family.name
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def scrape_until(port: int, condition: Callable[[Samples], bool]) -> Samples:
    """Scrapes until ``condition`` holds (servers publish a few times a second)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        samples = scrape(port)
        if condition(samples):
            return samples
        assert time.monotonic() < deadline, f"metrics never matched:\n{samples}"
        time.sleep(0.05)


def responses(samples: Samples) -> float:
    return sum(v for k, v in samples.items() if k.startswith("pyre_requests_total{"))


def rejected(reason: str, status: int) -> str:
    return f'pyre_rejected_requests_total{{reason="{reason}",status="{status}"}}'


def histogram(samples: Samples) -> list[tuple[float, float]]:
    """The duration buckets as (upper bound, cumulative count), in order."""
    buckets = []
    for key, value in samples.items():
        match = re.fullmatch(r'pyre_request_duration_seconds_bucket\{le="([^"]+)"\}', key)
        if match:
            buckets.append((float(match.group(1)), value))
    return sorted(buckets)


def exchange(port: int, request: bytes) -> tuple[int, int, bytes]:
    """Sends ``request`` on a new connection and reads until the server closes;
    returns (bytes sent, bytes received, the response)."""
    with connect(port) as sock:
        sock.sendall(request)
        response = read_until_closed(sock)
    return len(request), len(response), response


def test_values_equal_the_traffic_sent(tmp_path: Path) -> None:
    with serve(APP, "--metrics-port", "0", "--limit-request-body", "10", tmp=tmp_path) as server:
        port = metrics_port(server)
        assert responses(scrape(port)) == 0
        requests = (
            [b"GET /status/200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"] * 5
            + [b"GET /status/404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"] * 2
            + [b"GET /status/500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]
            # No Host: refused by the codec (400).
            + [b"GET /status/200 HTTP/1.1\r\n\r\n"]
            # A declared body over --limit-request-body: refused at the head (413).
            + [b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"]
        )
        sent = received = 0
        statuses = []
        for request in requests:
            out, back, response = exchange(server.port, request)
            sent, received = sent + out, received + back
            statuses.append(int(response.split(b" ", 2)[1]))
        assert statuses == [200] * 5 + [404] * 2 + [500, 400, 413]

        samples = scrape_until(port, lambda s: responses(s) == len(requests))
        assert samples['pyre_requests_total{class="2xx"}'] == 5
        assert samples['pyre_requests_total{class="4xx"}'] == 4  # 2 x 404, 400, 413
        assert samples['pyre_requests_total{class="5xx"}'] == 1
        assert samples['pyre_requests_total{class="1xx"}'] == 0
        assert samples[rejected("missing_host", 400)] == 1
        assert samples[rejected("body_too_large", 413)] == 1
        assert sum(v for k, v in samples.items() if k.startswith("pyre_rejected")) == 2
        assert samples["pyre_connections_accepted_total"] == len(requests)
        # Every byte both ways, exactly: the scrapes go to the other listener.
        assert samples["pyre_received_bytes_total"] == sent
        assert samples["pyre_sent_bytes_total"] == received
        assert samples["pyre_requests_in_flight"] == 0
        assert samples["pyre_requests_aborted_total"] == 0
        # The histogram holds the application's 8 responses, not the 2 refusals.
        buckets = histogram(samples)
        assert buckets[-1][0] == float("inf")
        assert [count for _, count in buckets] == sorted(count for _, count in buckets)
        assert buckets[-1][1] == samples["pyre_request_duration_seconds_count"] == 8
        assert samples["pyre_request_duration_seconds_sum"] > 0


def test_gauges_while_a_request_is_held_in_flight(tmp_path: Path) -> None:
    with serve(APP, "--metrics-port", "0", tmp=tmp_path) as server:
        port = metrics_port(server)
        held = connect(server.port)
        idle = connect(server.port)
        try:
            held.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            samples = scrape_until(
                port,
                lambda s: s["pyre_requests_in_flight"] == 1 and s["pyre_connections_open"] == 2,
            )
            assert responses(samples) == 0
        finally:
            held.close()
            idle.close()
        # The client went away mid-request: no response, one request aborted.
        samples = scrape_until(port, lambda s: s["pyre_connections_open"] == 0)
        assert samples["pyre_requests_in_flight"] == 0
        assert samples["pyre_requests_aborted_total"] == 1
        assert responses(samples) == 0


def test_header_timeout_and_concurrency_limit_are_counted_as_refusals(tmp_path: Path) -> None:
    args = ("--metrics-port", "0", "--limit-concurrency", "1", "--timeout-header", "1")
    with serve(APP, *args, tmp=tmp_path) as server:
        port = metrics_port(server)
        with connect(server.port) as held, connect(server.port) as slow:
            held.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            scrape_until(port, lambda s: s["pyre_requests_in_flight"] == 1)
            _, _, busy = exchange(server.port, b"GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert busy.startswith(b"HTTP/1.1 503 ")
            slow.sendall(b"GET / HTTP/1.1\r\n")  # and nothing more
            assert read_until_closed(slow).startswith(b"HTTP/1.1 408 ")
        samples = scrape_until(port, lambda s: s["pyre_requests_in_flight"] == 0)
    assert samples[rejected("concurrency_limit", 503)] == 1
    assert samples[rejected("header_timeout", 408)] == 1
    assert samples['pyre_requests_total{class="5xx"}'] == 1
    assert samples['pyre_requests_total{class="4xx"}'] == 1
    assert samples["pyre_requests_aborted_total"] == 1  # the held request
    assert samples["pyre_request_duration_seconds_count"] == 0


def test_only_get_metrics_is_served(tmp_path: Path) -> None:
    with serve(APP, "--metrics-port", "0", tmp=tmp_path) as server:
        port = metrics_port(server)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 404
        assert httpx.get(f"http://127.0.0.1:{port}/metricsx", timeout=5).status_code == 404
        head = httpx.head(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert head.status_code == 200 and head.headers["content-type"] == CONTENT_TYPE
        assert httpx.post(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 501


def test_no_metrics_listener_unless_asked(tmp_path: Path) -> None:
    with serve(APP, tmp=tmp_path) as server:
        assert httpx.get(f"{server.url}/status/204", timeout=5).status_code == 204
    assert "metrics" not in server.log


def drive_until_both_workers_served(port: int, workers: set[int]) -> int:
    """Sends concurrent requests to ``/pid`` until each worker answered some;
    returns how many requests were answered."""
    seen: set[int] = set()
    answered = 0
    lock = threading.Lock()
    deadline = time.monotonic() + WAIT_SECONDS

    def client() -> None:
        nonlocal answered
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(25):
                pid = int(http.get("/pid", headers={"connection": "close"}).text)
                with lock:
                    seen.add(pid)
                    answered += 1

    while seen != workers:
        assert time.monotonic() < deadline, f"only {seen} of {workers} served"
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen <= workers
    return answered


def test_workers_are_summed_and_a_killed_worker_keeps_its_counts(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pyre", APP, "--host", "127.0.0.1", "--port", "0"]
    command += ["--workers", "2", "--metrics-port", "0"]
    with serve_command(command, SUPERVISOR_READY, tmp=tmp_path) as server:
        port = metrics_port(server)
        pid = server.process.pid
        workers = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        answered = drive_until_both_workers_served(server.port, workers)
        samples = scrape_until(port, lambda s: s['pyre_requests_total{class="2xx"}'] == answered)
        assert samples["pyre_request_duration_seconds_count"] == answered
        assert samples["pyre_connections_accepted_total"] == answered

        # Kill one: once replaced, its published counts stay in the totals.
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in children(pid) and len(children(pid)) == 2)
        server.wait_for_log(f"Worker [{victim}] exited")
        samples = scrape(port)
        assert samples['pyre_requests_total{class="2xx"}'] == answered
        assert samples["pyre_request_duration_seconds_count"] == answered
        assert samples["pyre_requests_in_flight"] == 0

        more = 0
        for _ in range(10):
            assert httpx.get(f"{server.url}/pid", timeout=5).status_code == 200
            more += 1
        scrape_until(port, lambda s: s['pyre_requests_total{class="2xx"}'] == answered + more)


def test_totals_survive_a_sighup_rolling_restart(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pyre", APP, "--host", "127.0.0.1", "--port", "0"]
    command += ["--workers", "2", "--metrics-port", "0"]
    with serve_command(command, SUPERVISOR_READY, tmp=tmp_path) as server:
        port = metrics_port(server)
        pid = server.process.pid
        first = wait_for(lambda: len(children(pid)) == 2 and children(pid))
        answered = drive_until_both_workers_served(server.port, first)
        scrape_until(port, lambda s: s['pyre_requests_total{class="2xx"}'] == answered)
        os.kill(pid, signal.SIGHUP)
        second = wait_for(lambda: (c := children(pid)) and len(c) == 2 and not (c & first) and c)
        # The replaced workers' counts are kept; the new ones add theirs.
        more = drive_until_both_workers_served(server.port, second)
        samples = scrape_until(
            port, lambda s: s['pyre_requests_total{class="2xx"}'] == answered + more
        )
        assert samples["pyre_request_duration_seconds_count"] == answered + more
        assert samples["pyre_requests_in_flight"] == 0


def test_metrics_port_in_use_fails_to_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        command = [sys.executable, "-m", "pyre", APP, "--port", "0", "--metrics-port", str(busy)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "metrics" in result.stderr and "Traceback" not in result.stderr
