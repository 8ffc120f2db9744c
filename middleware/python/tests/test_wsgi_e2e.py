"""End to end: wsgiref server -> OpenTelemetry WSGI instrumentation -> our middleware -> app."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from conftest import ACTIVE_ONE, ACTIVE_TWO, INACTIVE_FILE, SPAN_ID_1, TRACE_ID_1, replace_atomically, write_annotations
from faultline_middleware import WSGIMiddleware, request_hook
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind


def hello_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = b"hello " + environ.get("PATH_INFO", "/").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True


def _serve(app: Callable[..., Any]) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(port: int, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _server_spans(exporter: Any, expected: int) -> List[ReadableSpan]:
    """Server spans, once ``expected`` of them ended.

    The instrumentation ends a span after the server has iterated (and sent)
    the response body, so the client can see the response first.
    """
    deadline = time.monotonic() + 10
    while True:
        spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
        if len(spans) >= expected or time.monotonic() > deadline:
            assert len(spans) == expected
            return spans
        time.sleep(0.01)


def _request_path(span: ReadableSpan) -> str:
    """The request path, whichever HTTP semantic-convention version the instrumentation uses."""
    attributes = span.attributes
    for key in ("url.path", "http.target"):
        if key in attributes:
            return str(attributes[key])
    return urlsplit(str(attributes.get("http.url") or attributes.get("url.full"))).path


def _chaos_attributes(span: ReadableSpan) -> Dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k.startswith("chaos.")}


@pytest.fixture
def instrumented(tracing: Any, annotations_path: Path) -> Iterator[Tuple[int, Any]]:
    provider, exporter = tracing
    app = OpenTelemetryMiddleware(WSGIMiddleware(hello_app, path=annotations_path), tracer_provider=provider)
    for port in _serve(app):
        yield port, exporter


def test_marked_during_window_and_unmarked_after(instrumented: Tuple[int, Any], annotations_path: Path) -> None:
    port, exporter = instrumented

    # Before: no file at all.
    assert _get(port, "/before") == (200, b"hello /before")

    # During: the agent publishes the experiment.
    write_annotations(annotations_path, ACTIVE_ONE)
    for i in range(3):
        assert _get(port, f"/during/{i}")[0] == 200

    # After: the agent flips the file to inactive.
    write_annotations(annotations_path, INACTIVE_FILE)
    assert _get(port, "/after")[0] == 200

    spans = {_request_path(s): s for s in _server_spans(exporter, 5)}
    assert len(spans) == 5
    assert _chaos_attributes(spans["/before"]) == {} and spans["/before"].links == ()
    assert _chaos_attributes(spans["/after"]) == {} and spans["/after"].links == ()
    for i in range(3):
        span = spans[f"/during/{i}"]
        assert _chaos_attributes(span) == {
            "chaos.experiment.active": True,
            "chaos.experiment.name": "payment-latency",
            "chaos.experiment.id": ACTIVE_ONE["chaos.experiment/id"],
        }
        (link,) = span.links
        assert (link.context.trace_id, link.context.span_id) == (int(TRACE_ID_1, 16), int(SPAN_ID_1, 16))
        assert link.attributes["chaos.experiment.name"] == "payment-latency"


def test_incoming_trace_is_kept_as_parent(instrumented: Tuple[int, Any], annotations_path: Path) -> None:
    port, exporter = instrumented
    write_annotations(annotations_path, ACTIVE_TWO)
    client_trace, client_span = "11111111111111111111111111111111", "2222222222222222"
    _get(port, "/", {"traceparent": f"00-{client_trace}-{client_span}-01"})
    (span,) = _server_spans(exporter, 1)
    assert span.context.trace_id == int(client_trace, 16)
    assert span.parent is not None and span.parent.span_id == int(client_span, 16)
    assert span.attributes["chaos.experiment.name"] == "payment-latency,db-loss"
    assert len(span.links) == 2


def test_malformed_file_never_fails_requests(instrumented: Tuple[int, Any], annotations_path: Path) -> None:
    port, exporter = instrumented
    replace_atomically(annotations_path, b'chaos.experiment/active="true"\nchaos.experiment/id="torn')
    assert _get(port, "/") == (200, b"hello /")
    annotations_path.unlink()
    annotations_path.mkdir()
    assert _get(port, "/") == (200, b"hello /")
    assert all(_chaos_attributes(s) == {} for s in _server_spans(exporter, 2))


def test_wrong_order_marks_nothing(tracing: Any, annotations_path: Path) -> None:
    """Documented pitfall: outside the instrumentation there is no request span yet."""
    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_ONE)
    app = WSGIMiddleware(OpenTelemetryMiddleware(hello_app, tracer_provider=provider), path=annotations_path)
    for port in _serve(app):
        assert _get(port, "/")[0] == 200
    (span,) = _server_spans(exporter, 1)
    assert _chaos_attributes(span) == {}


def test_request_hook_alternative(tracing: Any, annotations_path: Path) -> None:
    from faultline_middleware import ExperimentState

    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_ONE)
    app = OpenTelemetryMiddleware(
        hello_app, request_hook=request_hook(ExperimentState(annotations_path)), tracer_provider=provider
    )
    for port in _serve(app):
        assert _get(port, "/")[0] == 200
    (span,) = _server_spans(exporter, 1)
    assert span.attributes["chaos.experiment.active"] is True and len(span.links) == 1
