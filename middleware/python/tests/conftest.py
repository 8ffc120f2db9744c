"""Shared fixtures: writing annotation files the way the agent/kubelet does, and an SDK tracer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Dict, Iterator, Mapping, Tuple

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TRACE_ID_1 = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID_1 = "00f067aa0ba902b7"
TRACE_ID_2 = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID_2 = "b7ad6b7169203331"

ACTIVE_ONE: Dict[str, str] = {
    "chaos.experiment/active": "true",
    "chaos.experiment/ends-at": "2026-11-22T05:05:00Z",
    "chaos.experiment/fault": "delay=500ms jitter=100ms correlation=50% loss=1%",
    "chaos.experiment/id": "0b3f2c1e-6d4a-4f7e-9a65-3c2b1d0e9f87",
    "chaos.experiment/interface": "eth0",
    "chaos.experiment/name": "payment-latency",
    "chaos.experiment/started-at": "2026-11-22T05:00:00Z",
    "chaos.experiment/traceparent": f"00-{TRACE_ID_1}-{SPAN_ID_1}-01",
}
ACTIVE_TWO: Dict[str, str] = {
    "chaos.experiment/active": "true",
    "chaos.experiment/fault": "loss=5%",
    "chaos.experiment/id": "id-one,id-two",
    "chaos.experiment/interface": "eth0,eth1",
    "chaos.experiment/name": "payment-latency,db-loss",
    "chaos.experiment/started-at": "2026-11-22T05:00:00Z",
    "chaos.experiment/traceparent": (
        f"00-{TRACE_ID_1}-{SPAN_ID_1}-01,00-{TRACE_ID_2}-{SPAN_ID_2}-00"
    ),
}
INACTIVE_FILE: Dict[str, str] = {"chaos.experiment/active": "false"}


def go_quote(value: str) -> str:
    """Python rendition of Go's strconv.Quote (what kubelet's %q produces) for valid UTF-8."""
    out = ['"']
    simple = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r",
              "\t": r"\t", "\v": r"\v", "\\": r"\\", '"': r"\""}
    for ch in value:
        code = ord(ch)
        if ch in simple:
            out.append(simple[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_annotations(annotations: Mapping[str, str]) -> str:
    """Format like kubelet: sorted keys, one ``key=%q`` line each."""
    return "".join(f"{key}={go_quote(annotations[key])}\n" for key in sorted(annotations))


def replace_atomically(path: Path, content: str | bytes) -> None:
    """Write a temp file in the same directory and rename it over ``path``."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".annotations.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def write_annotations(path: Path, annotations: Mapping[str, str]) -> None:
    replace_atomically(path, format_annotations(annotations))


@pytest.fixture
def annotations_path(tmp_path: Path) -> Path:
    return tmp_path / "annotations"


@pytest.fixture
def tracing() -> Iterator[Tuple[TracerProvider, InMemorySpanExporter]]:
    """A real SDK tracer provider exporting into memory (not installed globally)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()
