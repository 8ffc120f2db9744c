"""The built `faultline run` scraped at /metrics and parsed by the Prometheus project's own Python
parser, and the same metrics received over OTLP by otlp_receiver.py.

The agent runs on the host with an empty profile directory: nothing touches the kernel, but every
metric family exists from the start (at 0), which is what dashboards and alerts rely on.

Run: pytest scripts/peers/test_metrics_scrape.py (after `swift build`; `make python-test` sets
FAULTLINE_BIN and then a missing binary is a failure, not a skip).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from test_otlp_receiver import MetricsReceiver

ROOT = Path(__file__).resolve().parents[2]
FAULTLINE = Path(os.environ.get("FAULTLINE_BIN", ROOT / ".build" / "debug" / "faultline"))
REQUIRED = "FAULTLINE_BIN" in os.environ

# Every family the agent exports, its type and its label sets at start (docs/METRICS.md lists them).
EXPECTED_TYPES = {
    "faultline_injections": "counter",
    "faultline_apply_duration_seconds": "histogram",
    "faultline_reverts": "counter",
    "faultline_active_faults": "gauge",
    "faultline_profile_reload_errors": "counter",
    "faultline_ready": "gauge",
    "faultline_faults_pending": "gauge",
    "faultline_drifts": "counter",
    "faultline_journal_entries_quarantined": "counter",
    "faultline_spans_dropped": "counter",
}
BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
REVERT_REASONS = {"duration_elapsed", "signal", "manual", "profile_removed", "crash_recovery", "error"}
DRIFT_KINDS = {"changed", "removed", "replaced", "target_gone"}

pytestmark = pytest.mark.skipif(
    not REQUIRED and not FAULTLINE.exists(), reason="needs the built faultline (swift build)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> Tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.headers["Content-Type"], response.read().decode()


class Agent:
    """`faultline run` on an empty profile directory, serving on 127.0.0.1."""

    def __init__(self, tmp: Path, environment: Optional[Dict[str, str]] = None) -> None:
        assert FAULTLINE.exists(), f"{FAULTLINE} is missing: run swift build"
        (tmp / "profiles").mkdir()
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update({"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", **(environment or {})})
        self.process = subprocess.Popen(
            [str(FAULTLINE), "run", "--profiles", str(tmp / "profiles"), "--state-dir", str(tmp / "state"),
             "--annotations", str(tmp / "annotations"), "--http-address", f"127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(self.url("/readyz"))[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"faultline run did not become ready: {self.process.communicate()[1]}")
            time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> Tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stderr


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    running = Agent(tmp_path)
    yield running
    code, stderr = running.stop()
    assert code == 0, stderr


def test_scrape_parses_with_the_prometheus_parser_and_has_every_family(agent: Agent) -> None:
    status, content_type, text = _get(agent.url("/metrics"))
    assert status == 200
    assert content_type == "text/plain; version=0.0.4"
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {name: families[name].type for name in EXPECTED_TYPES if name in families} == EXPECTED_TYPES
    # Every family says what it means (# HELP), as docs/METRICS.md's "meaning" column does.
    assert [name for name in EXPECTED_TYPES if not families[name].documentation] == []

    def samples(family: str) -> List[Sample]:
        return families[family].samples

    injections = {s.labels["outcome"]: s.value for s in samples("faultline_injections")}
    assert injections == {"ok": 0, "error": 0}
    assert {s.labels["reason"] for s in samples("faultline_reverts")} == REVERT_REASONS
    assert {s.labels["kind"] for s in samples("faultline_drifts")} == DRIFT_KINDS
    assert {s.labels["kind"]: s.value for s in samples("faultline_faults_pending")} == {"apply": 0, "revert": 0}
    assert [s.value for s in samples("faultline_ready")] == [1]
    assert [s.value for s in samples("faultline_active_faults")] == [0]
    for family in ("faultline_profile_reload_errors", "faultline_journal_entries_quarantined",
                   "faultline_spans_dropped"):
        assert [(s.name, s.value) for s in samples(family)] == [(family + "_total", 0)]

    histogram = samples("faultline_apply_duration_seconds")
    bounds = [float(s.labels["le"]) for s in histogram if s.name.endswith("_bucket")]
    assert bounds == BUCKETS + [float("inf")]
    assert {s.name: s.value for s in histogram if not s.name.endswith("_bucket")} == {
        "faultline_apply_duration_seconds_count": 0,
        "faultline_apply_duration_seconds_sum": 0,
    }


def run_agent_with_receiver(
    tmp_path: Path, environment: Callable[[int], Dict[str, str]], while_running: Callable[[MetricsReceiver], None]
) -> Path:
    """Runs the agent with `environment(receiver's gRPC port)` beside a metrics receiver, calls
    `while_running(receiver)`, stops both (the agent must exit 0) and returns the points file."""
    receiver_dir = tmp_path / "receiver"
    receiver_dir.mkdir()
    receiver = MetricsReceiver(receiver_dir)
    try:
        agent_dir = tmp_path / "agent"
        agent_dir.mkdir()
        agent = Agent(agent_dir, environment(receiver.grpc_port))
        while_running(receiver)
        code, stderr = agent.stop()
        assert code == 0, stderr
    finally:
        receiver.stop()
    return receiver.metrics_out


def test_the_metrics_arrive_over_otlp_when_asked_for(tmp_path: Path) -> None:
    names: Dict[str, dict] = {}

    def wait_for_points(receiver: MetricsReceiver) -> None:
        nonlocal names
        deadline = time.monotonic() + 30
        for name in ("faultline_ready", "faultline_apply_duration_seconds"):
            receiver.points(name, expected=1, timeout=max(0.0, deadline - time.monotonic()))
        names = {p["name"]: p for p in receiver.points()}

    run_agent_with_receiver(tmp_path, lambda port: {
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTEL_TRACES_EXPORTER": "none",
    }, wait_for_points)
    assert names["faultline_ready"]["type"] == "gauge"
    assert names["faultline_ready"]["value"] == 1
    assert names["faultline_ready"]["resource"]["service.name"] == "faultline"
    assert names["faultline_apply_duration_seconds"]["type"] == "histogram"
    assert names["faultline_apply_duration_seconds"]["bounds"] == BUCKETS
    assert names["faultline_injections_total"]["type"] == "sum"
    assert names["faultline_injections_total"]["monotonic"] is True


def test_without_otel_metrics_exporter_nothing_is_sent(tmp_path: Path) -> None:
    points_file = run_agent_with_receiver(tmp_path, lambda port: {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }, lambda _: time.sleep(2))  # several export intervals, had the exporter been on
    assert not points_file.exists() or points_file.read_text() == ""
