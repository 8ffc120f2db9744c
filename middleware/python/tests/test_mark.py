"""mark_span / mark_current_span / request_hook against the real SDK."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict

import faultline_middleware
import pytest
from conftest import ACTIVE_ONE, ACTIVE_TWO, SPAN_ID_1, TRACE_ID_1, write_annotations
from faultline_middleware import (
    INACTIVE,
    Experiment,
    ExperimentState,
    mark_current_span,
    mark_span,
    request_hook,
)
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext


def test_mark_span_sets_attributes_and_links(tracing: Any) -> None:
    provider, exporter = tracing
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        assert mark_span(span, Experiment.from_annotations(ACTIVE_TWO))
        assert not mark_span(span, Experiment.from_annotations(ACTIVE_TWO))  # idempotent
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes["chaos.experiment.active"] is True
    assert finished.attributes["chaos.experiment.name"] == "payment-latency,db-loss"
    assert finished.attributes["chaos.experiment.id"] == "id-one,id-two"
    assert len(finished.links) == 2
    assert finished.links[0].context.trace_id == int(TRACE_ID_1, 16)
    assert finished.links[0].context.span_id == int(SPAN_ID_1, 16)
    assert dict(finished.links[1].attributes) == {
        "chaos.experiment.name": "db-loss",
        "chaos.experiment.id": "id-two",
    }
    # The link does not change the parent: the request span stays a root here.
    assert finished.parent is None


def test_inactive_touches_nothing(tracing: Any) -> None:
    provider, exporter = tracing
    with provider.get_tracer("test").start_as_current_span("request") as span:
        assert not mark_span(span, INACTIVE)
    (finished,) = exporter.get_finished_spans()
    assert not any(key.startswith("chaos.") for key in finished.attributes)
    assert finished.links == ()


def test_non_recording_span_is_ignored() -> None:
    span = NonRecordingSpan(SpanContext(1, 2, False))
    assert not mark_span(span, Experiment.from_annotations(ACTIVE_ONE))


class _OldApiSpan:
    """A recording span from an opentelemetry-api without Span.add_link (< 1.23)."""

    def __init__(self) -> None:
        self.attributes: Dict[str, Any] = {}

    def is_recording(self) -> bool:
        return True

    def set_attributes(self, attributes: Dict[str, Any]) -> None:
        self.attributes.update(attributes)


def test_old_api_without_add_link_still_gets_attributes() -> None:
    span = _OldApiSpan()
    assert mark_span(span, Experiment.from_annotations(ACTIVE_ONE))  # type: ignore[arg-type]
    assert span.attributes["chaos.experiment.name"] == "payment-latency"


def test_mark_current_span_with_state(tracing: Any, annotations_path: Path) -> None:
    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_ONE)
    state = ExperimentState(annotations_path)
    with provider.get_tracer("test").start_as_current_span("handler"):
        assert mark_current_span(state) is None  # safe as a Flask before_request function
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes["chaos.experiment.id"] == ACTIVE_ONE["chaos.experiment/id"]
    assert len(finished.links) == 1


def test_mark_current_span_default_state(
    tracing: Any, annotations_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_ONE)
    monkeypatch.setenv("FAULTLINE_ANNOTATIONS", str(annotations_path))
    monkeypatch.setattr(faultline_middleware._otel, "_default_state", None)
    with provider.get_tracer("test").start_as_current_span("handler"):
        mark_current_span()
    assert faultline_middleware.default_state().path == str(annotations_path)
    assert exporter.get_finished_spans()[0].attributes["chaos.experiment.active"] is True


def test_request_hook(tracing: Any, annotations_path: Path) -> None:
    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_ONE)
    hook = request_hook(ExperimentState(annotations_path))
    span = provider.get_tracer("test").start_span("server")
    hook(span, {"PATH_INFO": "/"})  # WSGI/Flask signature: (span, environ)
    span.end()
    assert exporter.get_finished_spans()[0].attributes["chaos.experiment.name"] == "payment-latency"


class _BrokenState(ExperimentState):
    def current(self) -> Experiment:
        raise RuntimeError("boom")


def test_failures_never_propagate(tracing: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG, logger="faultline_middleware")
    provider, _ = tracing
    with provider.get_tracer("test").start_as_current_span("handler"):
        mark_current_span(_BrokenState(tmp_path / "x"))
        mark_current_span(_BrokenState(tmp_path / "x"))
    assert trace.get_current_span() is trace.INVALID_SPAN
