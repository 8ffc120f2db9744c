#!/usr/bin/env python3
"""A three-tier traced application, for the proof that ``faultline analyze`` sees what a fault did.

One role per process, each exporting its spans with the OpenTelemetry Python SDK over OTLP/gRPC
to ``--endpoint`` (batched, flushed at exit), W3C trace context propagated between them::

    gateway  --GET /checkout-->  frontend  --GET /data-->  backend
    (client spans,               (WSGI app in the faulted   (HTTP/1.1 server)
     load generator)              pod, wrapped in faultline_middleware,
                                  one kept-alive connection to backend)

* ``backend --bind ADDR --port P``: answers ``GET /data`` on HTTP/1.1 (keep-alive), one SERVER
  span per request.
* ``frontend --bind ADDR --port P --backend URL --annotations FILE``: a WSGI app behind
  ``faultline_middleware.WSGIMiddleware`` (which marks its request spans with the active
  experiment) and OpenTelemetry's WSGI instrumentation; each request makes one CLIENT span
  ``GET /data`` to the backend over a kept-alive connection, so a fault on the frontend's
  interface delays each call once, not once per TCP handshake.
* ``gateway --target URL --interval S``: until SIGTERM or stdin EOF, one CLIENT span
  ``GET /checkout`` per request, closed loop, with a 5 s timeout (a timed-out request is an error
  span with ``exception.type`` TimeoutError).

Each role prints ``{"ready": true}`` once it serves (or, for the gateway, sends), and stops when
its stdin reaches EOF (or on SIGTERM), flushing its spans before it exits 0. (A test closes the
pipe: a child of a test process may inherit a signal mask that blocks SIGTERM.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, Optional, Sequence
from wsgiref.simple_server import WSGIRequestHandler, make_server

try:
    import faultline_middleware
except ImportError:  # not installed: use the checkout's copy
    sys.path.insert(
        0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "middleware", "python", "src")
    )
    import faultline_middleware

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def make_provider(service: str, endpoint: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10), schedule_delay_millis=500)
    )
    return provider


def ready() -> None:
    print(json.dumps({"ready": True}), flush=True)


def stop_on_eof_or_sigterm(stop: Callable[[], None]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stop())
    threading.Thread(target=lambda: (sys.stdin.read(), stop()), daemon=True).start()


# --- backend -------------------------------------------------------------------------------------


def serve_until_stopped(server: Any, provider: TracerProvider) -> None:
    """Serves until stdin closes or SIGTERM, then flushes the spans."""
    stop_on_eof_or_sigterm(lambda: threading.Thread(target=server.shutdown).start())
    ready()
    try:
        server.serve_forever()
    finally:
        provider.shutdown()


def run_backend(args: argparse.Namespace) -> None:
    provider = make_provider("backend", args.endpoint)
    tracer = provider.get_tracer("traced_app.backend")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the frontend reuses one connection
        # The whole response in one segment, sent at once: with headers and body in two, Nagle holds
        # the body until the frontend's ACK comes back, and a delay on the frontend's egress would
        # then count twice.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            context = propagate.extract(dict(self.headers.items()))
            with tracer.start_as_current_span(f"GET {self.path}", context=context, kind=SpanKind.SERVER) as span:
                span.set_attribute("http.request.method", "GET")
                span.set_attribute("http.response.status_code", 200)
                body = b"data"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    serve_until_stopped(server, provider)


# --- frontend ------------------------------------------------------------------------------------


class BackendClient:
    """One kept-alive HTTP/1.1 connection to the backend (the frontend serves one request at a time)."""

    def __init__(self, url: str, tracer: trace.Tracer) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.tracer = tracer
        self.connection: Optional[http.client.HTTPConnection] = None

    def get(self, path: str) -> int:
        with self.tracer.start_as_current_span(f"GET {path}", kind=SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", "GET")
            headers: Dict[str, str] = {}
            propagate.inject(headers)
            for attempt in range(2):
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
                try:
                    self.connection.request("GET", path, headers=headers)
                    response = self.connection.getresponse()
                    response.read()
                    span.set_attribute("http.response.status_code", response.status)
                    return response.status
                except (OSError, http.client.HTTPException):
                    self.connection.close()
                    self.connection = None
                    if attempt == 1:
                        span.set_status(Status(StatusCode.ERROR))
                        raise
                    span.set_attribute("http.request.resend_count", attempt + 1)
        return 0


def run_frontend(args: argparse.Namespace) -> None:
    provider = make_provider("frontend", args.endpoint)
    backend = BackendClient(args.backend, provider.get_tracer("traced_app.frontend"))

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            status = backend.get("/data")
        except (OSError, http.client.HTTPException):
            status = 502
        line = "200 OK" if status == 200 else "502 Bad Gateway"
        start_response(line, [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok" if status == 200 else b"no"]

    wrapped = OpenTelemetryMiddleware(
        faultline_middleware.WSGIMiddleware(app, path=args.annotations), tracer_provider=provider
    )

    class Quiet(WSGIRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

    server = make_server(args.bind, args.port, wrapped, handler_class=Quiet)
    serve_until_stopped(server, provider)


# --- gateway -------------------------------------------------------------------------------------


def run_gateway(args: argparse.Namespace) -> None:
    provider = make_provider("gateway", args.endpoint)
    tracer = provider.get_tracer("traced_app.gateway")
    parsed = urllib.parse.urlsplit(args.target)
    stop = threading.Event()
    stop_on_eof_or_sigterm(stop.set)
    ready()
    sent = 0
    while not stop.is_set():
        with tracer.start_as_current_span("GET /checkout", kind=SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", "GET")
            headers: Dict[str, str] = {}
            propagate.inject(headers)
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
            try:
                connection.request("GET", "/checkout", headers=headers)
                response = connection.getresponse()
                response.read()
                span.set_attribute("http.response.status_code", response.status)
                if response.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            except (socket.timeout, TimeoutError) as error:
                span.record_exception(TimeoutError(str(error)))
                span.set_status(Status(StatusCode.ERROR))
            except (OSError, http.client.HTTPException) as error:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR))
            finally:
                connection.close()
        sent += 1
        stop.wait(args.interval)
    provider.shutdown()
    print(json.dumps({"sent": sent}), flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=("backend", "frontend", "gateway"))
    parser.add_argument("--endpoint", required=True, help="OTLP/gRPC endpoint, e.g. http://127.0.0.1:4317")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backend", help="frontend: the backend's URL")
    parser.add_argument("--annotations", help="frontend: the faultline annotation file")
    parser.add_argument("--target", help="gateway: the frontend's URL")
    parser.add_argument("--interval", type=float, default=0.1, help="gateway: pause between requests (s)")
    args = parser.parse_args(argv)
    {"backend": run_backend, "frontend": run_frontend, "gateway": run_gateway}[args.role](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
