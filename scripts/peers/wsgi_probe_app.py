#!/usr/bin/env python3
"""A tiny WSGI app instrumented like a real service, for faultline's middleware tests.

The app answers ``ok`` to every request.  It is wrapped, innermost first, in
``faultline_middleware.WSGIMiddleware`` (reading ``--annotations``) and
OpenTelemetry's WSGI instrumentation (``OpenTelemetryMiddleware``, which
starts one SERVER span per request, named ``GET <path>``), and exported with
the OpenTelemetry Python SDK's OTLP exporter to ``--endpoint``::

    python3 scripts/peers/wsgi_probe_app.py --annotations FILE \\
        --endpoint http://127.0.0.1:4317 [--protocol grpc|http/protobuf] \\
        [--request /during ...]

Requests are made in-process (``wsgiref.util.setup_testing_defaults`` and a
direct call of the app), so no port is opened.  Each request's span is
exported synchronously (``SimpleSpanProcessor``) before its result line is
printed.

* With ``--request PATH`` (repeatable) the app makes those GET requests and
  exits.
* Without it, the app prints ``{"ready": true}`` once it is set up (imports
  are slow on an emulated CPU), then reads one path per line on stdin and
  answers each with a result line; EOF shuts the SDK down and exits.  That way
  a test can start it ahead of time and make a request at a precise moment.

Each result is one JSON line on stdout::

    {"path": "/during", "status": "200 OK", "body": "ok", "span": "GET /during",
     "trace_id": "32 hex", "span_id": "16 hex", "attributes": {...},
     "links": [{"trace_id": ..., "span_id": ..., "attributes": {...}}],
     "exported": true}

``attributes`` are the span's ``chaos.*`` attributes as the SDK holds them.
Exit status: 0, or 1 when an export failed (``"exported": false``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence
from wsgiref.util import setup_testing_defaults

try:
    import faultline_middleware
except ImportError:  # not installed: use the checkout's copy
    sys.path.insert(
        0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "middleware", "python", "src")
    )
    import faultline_middleware

from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class RecordingExporter(SpanExporter):
    """Delegates to the OTLP exporter and remembers what it exported and whether it succeeded."""

    def __init__(self, delegate: SpanExporter) -> None:
        self.delegate = delegate
        self.spans: List[ReadableSpan] = []
        self.results: List[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.delegate.export(spans)
        self.spans.extend(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


def make_exporter(endpoint: str, protocol: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter

        return GRPCExporter(endpoint=endpoint, insecure=True, timeout=10)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter

    return HTTPExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=10)


def hello(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def request(app: Callable[..., Iterable[bytes]], exporter: RecordingExporter, path: str) -> Dict[str, Any]:
    """GET ``path`` in-process; the span is exported (synchronously) when the response is closed."""
    environ: Dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
    setup_testing_defaults(environ)
    status: List[str] = []

    def start_response(line: str, headers: List[Any], exc_info: Optional[Any] = None) -> Callable[[bytes], None]:
        status.append(line)
        return lambda _data: None

    already = len(exporter.spans)
    response = app(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        close = getattr(response, "close", None)
        if close is not None:
            close()
    new = exporter.spans[already:]
    result: Dict[str, Any] = {"path": path, "status": status[0] if status else "", "body": body.decode()}
    if new:
        span = new[-1]
        context = span.get_span_context()
        result.update(
            span=span.name,
            trace_id=format(context.trace_id, "032x"),
            span_id=format(context.span_id, "016x"),
            attributes={k: v for k, v in (span.attributes or {}).items() if k.startswith("chaos.")},
            links=[
                {
                    "trace_id": format(link.context.trace_id, "032x"),
                    "span_id": format(link.context.span_id, "016x"),
                    "attributes": dict(link.attributes or {}),
                }
                for link in span.links
            ],
        )
    result["exported"] = bool(new) and all(r == SpanExportResult.SUCCESS for r in exporter.results)
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", required=True, help="the faultline annotation file")
    parser.add_argument("--endpoint", required=True, help="OTLP endpoint, e.g. http://127.0.0.1:4317")
    parser.add_argument("--protocol", choices=("grpc", "http/protobuf"), default="grpc")
    parser.add_argument("--service-name", default="wsgi-probe")
    parser.add_argument("--request", action="append", metavar="PATH", help="GET PATH, then exit (repeatable)")
    args = parser.parse_args(argv)

    exporter = RecordingExporter(make_exporter(args.endpoint, args.protocol))
    provider = TracerProvider(resource=Resource.create({"service.name": args.service_name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = OpenTelemetryMiddleware(
        faultline_middleware.WSGIMiddleware(hello, path=args.annotations), tracer_provider=provider
    )

    ok = True

    def answer(path: str) -> None:
        nonlocal ok
        result = request(app, exporter, path)
        ok = ok and result["exported"]
        print(json.dumps(result, sort_keys=True), flush=True)

    try:
        if args.request:
            for path in args.request:
                answer(path)
        else:
            print(json.dumps({"ready": True}), flush=True)
            for line in sys.stdin:
                if line.strip():
                    answer(line.strip())
    finally:
        provider.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
