#!/usr/bin/env python3
"""Micro-benchmark: cost of the per-request experiment check.

Compares ``ExperimentState.current()`` (one ``os.stat`` while the file is
unchanged) with the naive approach of opening and parsing the annotations
file on every request, for a small agent-only file and for a larger
Downward-API-like file with unrelated annotations.

    python3 middleware/python/bench_read.py [--iterations N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Callable

from faultline_middleware import Experiment, ExperimentState, read_annotations

AGENT_FILE = (
    'chaos.experiment/active="true"\n'
    'chaos.experiment/ends-at="2026-11-22T05:05:00Z"\n'
    'chaos.experiment/fault="delay=500ms jitter=100ms correlation=50% loss=1%"\n'
    'chaos.experiment/id="0b3f2c1e-6d4a-4f7e-9a65-3c2b1d0e9f87"\n'
    'chaos.experiment/interface="eth0"\n'
    'chaos.experiment/name="payment-latency"\n'
    'chaos.experiment/started-at="2026-11-22T05:00:00Z"\n'
    'chaos.experiment/traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"\n'
)


def _downward_api_file() -> str:
    last_applied = json.dumps({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c"}] * 20}})
    quoted = json.dumps(last_applied)  # close enough to Go's %q for this content
    return f"kubectl.kubernetes.io/last-applied-configuration={quoted}\n" + AGENT_FILE


def _time_ns(function: Callable[[], object], iterations: int) -> float:
    function()  # warm up
    start = time.perf_counter_ns()
    for _ in range(iterations):
        function()
    return (time.perf_counter_ns() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "annotations")
        for label, content in (("agent file", AGENT_FILE), ("downward API file", _downward_api_file())):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content)
            state = ExperimentState(path)
            cached = _time_ns(state.current, args.iterations)
            naive = _time_ns(lambda: Experiment.from_annotations(read_annotations(path)), args.iterations // 10)
            assert state.current().active and state.parse_count == 1
            print(
                f"{label:18s} ({len(content.encode()):5d} bytes): "
                f"cached check {cached:8.0f} ns   naive open+parse {naive:8.0f} ns   ({naive / cached:4.1f}x)"
            )
        missing = ExperimentState(os.path.join(directory, "missing"))
        print(f"{'missing file':18s}              : cached check {_time_ns(missing.current, args.iterations):8.0f} ns")


if __name__ == "__main__":
    main()
