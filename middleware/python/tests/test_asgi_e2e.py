"""End to end: OpenTelemetry ASGI instrumentation -> our middleware -> a tiny ASGI app, driven by asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict, List, MutableMapping, Optional, Tuple

from conftest import ACTIVE_ONE, ACTIVE_TWO, INACTIVE_FILE, SPAN_ID_1, TRACE_ID_1, replace_atomically, write_annotations
from faultline_middleware import ASGIMiddleware, ExperimentState, request_hook
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

Message = MutableMapping[str, Any]


async def hello_app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await receive()
    body = b"hello " + scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def _scope(path: str, headers: Optional[List[Tuple[bytes, bytes]]] = None) -> Dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")] + (headers or []),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def _request(app: Any, path: str, headers: Optional[List[Tuple[bytes, bytes]]] = None) -> Tuple[int, bytes]:
    sent: List[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(path, headers), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def _server_spans(exporter: Any) -> Dict[str, ReadableSpan]:
    """Server spans keyed by request path (the app is driven with distinct paths)."""
    spans = {}
    for span in exporter.get_finished_spans():
        if span.kind == SpanKind.SERVER:
            path = span.attributes.get("url.path") or span.attributes.get("http.target")
            if path is None:
                path = "/" + str(span.attributes["http.url"]).split("/", 3)[3]
            spans[path] = span
    return spans


def _chaos(span: ReadableSpan) -> Dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k.startswith("chaos.")}


def test_marked_during_window_and_unmarked_after(tracing: Any, annotations_path: Path) -> None:
    provider, exporter = tracing
    app = OpenTelemetryMiddleware(ASGIMiddleware(hello_app, path=annotations_path), tracer_provider=provider)

    async def scenario() -> None:
        assert await _request(app, "/before") == (200, b"hello /before")
        write_annotations(annotations_path, ACTIVE_ONE)
        results = await asyncio.gather(*(_request(app, f"/during/{i}") for i in range(3)))
        assert all(status == 200 for status, _ in results)
        write_annotations(annotations_path, INACTIVE_FILE)
        assert (await _request(app, "/after"))[0] == 200

    asyncio.run(scenario())
    spans = _server_spans(exporter)
    assert sorted(spans) == ["/after", "/before", "/during/0", "/during/1", "/during/2"]
    for path in ("/before", "/after"):
        assert _chaos(spans[path]) == {} and spans[path].links == ()
    for i in range(3):
        span = spans[f"/during/{i}"]
        assert _chaos(span) == {
            "chaos.experiment.active": True,
            "chaos.experiment.name": "payment-latency",
            "chaos.experiment.id": ACTIVE_ONE["chaos.experiment/id"],
        }
        (link,) = span.links
        assert (link.context.trace_id, link.context.span_id) == (int(TRACE_ID_1, 16), int(SPAN_ID_1, 16))
    # The internal "http send" child spans are not marked: only the server span is.
    internal = [s for s in exporter.get_finished_spans() if s.kind != SpanKind.SERVER]
    assert internal and all(_chaos(s) == {} for s in internal)


def test_several_experiments_and_incoming_parent(tracing: Any, annotations_path: Path) -> None:
    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_TWO)
    app = OpenTelemetryMiddleware(ASGIMiddleware(hello_app, path=annotations_path), tracer_provider=provider)
    parent = b"00-11111111111111111111111111111111-2222222222222222-01"
    asyncio.run(_request(app, "/", [(b"traceparent", parent)]))
    span = _server_spans(exporter)["/"]
    assert span.parent is not None and span.parent.span_id == 0x2222222222222222
    assert span.attributes["chaos.experiment.id"] == "id-one,id-two"
    assert [link.attributes["chaos.experiment.name"] for link in span.links] == ["payment-latency", "db-loss"]


def test_malformed_file_never_fails_requests(tracing: Any, annotations_path: Path) -> None:
    provider, exporter = tracing
    replace_atomically(annotations_path, b'chaos.experiment/active="true\n')
    app = OpenTelemetryMiddleware(ASGIMiddleware(hello_app, path=annotations_path), tracer_provider=provider)
    assert asyncio.run(_request(app, "/x")) == (200, b"hello /x")
    assert _chaos(_server_spans(exporter)["/x"]) == {}


def test_lifespan_passes_through(annotations_path: Path) -> None:
    write_annotations(annotations_path, ACTIVE_ONE)
    app = ASGIMiddleware(hello_app, path=annotations_path)
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: List[Message] = []

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_server_request_hook_alternative(tracing: Any, annotations_path: Path) -> None:
    provider, exporter = tracing
    write_annotations(annotations_path, ACTIVE_ONE)
    app = OpenTelemetryMiddleware(
        hello_app,
        server_request_hook=request_hook(ExperimentState(annotations_path)),
        tracer_provider=provider,
    )
    asyncio.run(_request(app, "/hook"))
    span = _server_spans(exporter)["/hook"]
    assert span.attributes["chaos.experiment.active"] is True and len(span.links) == 1
