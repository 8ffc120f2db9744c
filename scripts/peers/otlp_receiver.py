#!/usr/bin/env python3
"""OTLP trace and metrics receiver used as a test peer (gRPC and HTTP, on 127.0.0.1 unless ``--host``).

Built on the official protocol definitions (``opentelemetry-proto``) with
``grpcio`` and ``protobuf``::

    python3 scripts/peers/otlp_receiver.py --grpc-port 0 --http-port 0 \\
        --out spans.jsonl [--metrics-out points.jsonl] [--file otlp.json] \\
        [--ready-file ready.json] [--print] [--all-headers] [--first-rpc-delay SECONDS]

* gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``
  (gzip/deflate request compression is handled by gRPC itself).
* HTTP: ``POST /v1/traces`` with ``application/x-protobuf`` or
  ``application/json`` (OTLP/JSON: hex trace/span ids), optional
  ``Content-Encoding: gzip`` or ``deflate``, ``Content-Length`` or chunked
  bodies.  Success answers an ``ExportTraceServiceResponse`` in the request's
  encoding; errors answer a ``google.rpc.Status`` (protobuf, or JSON for JSON
  requests) with 400/404/405/413/415.
* Metrics, the same way: gRPC
  ``opentelemetry.proto.collector.metrics.v1.MetricsService/Export`` and HTTP
  ``POST /v1/metrics`` (protobuf or OTLP/JSON).

Once both servers listen, the chosen ports are printed as one JSON line on
stdout, ``{"grpc": 4317, "http": 4318}``, and the same line is written
(atomically) to ``--ready-file``.  Port 0 picks a free port.

Every received span is appended to ``--out`` as one JSON line, flushed
immediately::

    {"protocol": "grpc" | "http",
     "resource": {attr: value, ...},
     "scope": "name", "scope_version": "1.0",
     "name": "span name",
     "trace_id": "32 hex", "span_id": "16 hex", "parent_span_id": "16 hex" | "",
     "trace_state": "",
     "kind": "SPAN_KIND_SERVER",           # proto enum name (UNSPECIFIED/INTERNAL/SERVER/CLIENT/PRODUCER/CONSUMER)
     "start_ns": 1700000000000000000, "end_ns": 1700000000500000000,
     "status": {"code": "STATUS_CODE_ERROR", "message": "..."},   # or STATUS_CODE_UNSET / STATUS_CODE_OK
     "attributes": {attr: value, ...},
     "events": [{"name": "...", "time_ns": 0, "attributes": {...}}],
     "links": [{"trace_id": "...", "span_id": "...", "trace_state": "", "attributes": {...}}],
     "headers": {"authorization": "...", "x-...": "...", "user-agent": "...", ...}}

Attribute values become plain JSON: string, int, float (non-finite as the
strings "NaN"/"Infinity"/"-Infinity"), bool, list (array values), object
(kvlist values), base64 string (bytes values), null (empty value).
``headers`` holds the HTTP request headers / gRPC metadata named
``x-*``, ``authorization``, ``user-agent``, ``content-type``,
``content-encoding`` and ``grpc-encoding`` (all of them with
``--all-headers``), keys lower-cased, repeated values joined with ", ".

With ``--file PATH`` every export request is also appended to PATH as one
line of OTLP/JSON, the OpenTelemetry Collector ``file`` exporter's format
(camelCase fields, hex ids, 64-bit integers as strings, enums as numbers),
which ``faultline analyze`` reads.

``--print`` also pretty-prints each span on stdout (after the ports line).

``--first-rpc-delay SECONDS`` plays a collector that is slow to answer: the
first export request (gRPC or HTTP, whichever comes first) is read at once
but answered only after SECONDS; later requests are answered at once.  Its
spans are recorded only if the client still waits for the answer then (a
gRPC client past its deadline, or an HTTP client that closed the connection,
has given up on them, so they were not delivered).

Every received metric data point is appended to ``--metrics-out`` as one JSON
line, flushed immediately (without ``--metrics-out`` metrics are accepted and
dropped)::

    {"protocol": "grpc" | "http", "resource": {...}, "scope": "name",
     "name": "faultline_injections_total", "unit": "", "description": "",
     "type": "sum" | "gauge" | "histogram" | "exponential_histogram" | "summary",
     "attributes": {attr: value, ...}, "time_ns": 1700000000000000000,
     "value": 3,                                   # sum and gauge (int or float)
     "monotonic": true, "temporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",   # sum
     "count": 4, "sum": 0.5, "bounds": [0.1, 1.0], "bucket_counts": [1, 3, 0],  # histogram
     "headers": {...}}

SIGTERM and SIGINT stop both servers and exit with status 0.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import logging
import math
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import zlib
from concurrent import futures
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar, Union

try:
    import grpc
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError, Message
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
except ImportError as _exc:  # pragma: no cover - depends on the environment
    sys.stderr.write(
        f"otlp_receiver: missing dependency: {_exc}\n"
        f"  pip install -r {os.path.join(os.path.dirname(os.path.abspath(__file__)), 'requirements.txt')}\n"
    )
    raise SystemExit(2) from None

ExportTraceServiceRequest = trace_service_pb2.ExportTraceServiceRequest
ExportTraceServiceResponse = trace_service_pb2.ExportTraceServiceResponse
ExportMetricsServiceRequest = metrics_service_pb2.ExportMetricsServiceRequest
ExportMetricsServiceResponse = metrics_service_pb2.ExportMetricsServiceResponse

DEFAULT_HOST = "127.0.0.1"
TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"
CONTENT_TYPE_PROTOBUF = "application/x-protobuf"
CONTENT_TYPE_JSON = "application/json"
MAX_BODY_BYTES = 64 * 1024 * 1024
SELECTED_HEADERS = frozenset(
    {"authorization", "user-agent", "content-type", "content-encoding", "grpc-encoding"}
)

# google.rpc.Code values used in error replies.
RPC_INVALID_ARGUMENT = 3
RPC_NOT_FOUND = 5
RPC_RESOURCE_EXHAUSTED = 8
RPC_UNIMPLEMENTED = 12
RPC_INTERNAL = 13

_log = logging.getLogger("otlp_receiver")

JSONValue = Any
Record = Dict[str, JSONValue]
_Message = TypeVar("_Message", bound=Message)


# ---------------------------------------------------------------------------
# Protobuf -> plain JSON
# ---------------------------------------------------------------------------


def any_value_to_python(value: AnyValue) -> JSONValue:
    """Convert an OTLP ``AnyValue`` to a plain JSON-serialisable value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value_to_python(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "double_value":
        number = value.double_value
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    return getattr(value, kind)  # string_value, bool_value, int_value


def attributes_to_dict(attributes: Iterable[KeyValue]) -> Dict[str, JSONValue]:
    """Convert repeated ``KeyValue`` to a dict (a later duplicate key wins)."""
    return {kv.key: any_value_to_python(kv.value) for kv in attributes}


def _enum_name(enum: Any, number: int) -> Union[str, int]:
    try:
        return str(enum.Name(number))
    except ValueError:  # a value newer than our proto definitions
        return number


def span_records(
    request: ExportTraceServiceRequest, protocol: str, headers: Dict[str, str]
) -> Iterator[Record]:
    """Yield one plain-dict record per span of an export request."""
    for resource_spans in request.resource_spans:
        resource = attributes_to_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                yield {
                    "protocol": protocol,
                    "resource": resource,
                    "scope": scope.name,
                    "scope_version": scope.version,
                    "name": span.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "trace_state": span.trace_state,
                    "kind": _enum_name(Span.SpanKind, span.kind),
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status": {
                        "code": _enum_name(Status.StatusCode, span.status.code),
                        "message": span.status.message,
                    },
                    "attributes": attributes_to_dict(span.attributes),
                    "events": [
                        {
                            "name": event.name,
                            "time_ns": event.time_unix_nano,
                            "attributes": attributes_to_dict(event.attributes),
                        }
                        for event in span.events
                    ],
                    "links": [
                        {
                            "trace_id": link.trace_id.hex(),
                            "span_id": link.span_id.hex(),
                            "trace_state": link.trace_state,
                            "attributes": attributes_to_dict(link.attributes),
                        }
                        for link in span.links
                    ],
                    "headers": headers,
                }


def _number(point: Any) -> Union[int, float]:
    """A ``NumberDataPoint``'s value, whichever of int and double it carries."""
    return point.as_int if point.WhichOneof("value") == "as_int" else point.as_double


def metric_point_records(
    request: ExportMetricsServiceRequest, protocol: str, headers: Dict[str, str]
) -> Iterator[Record]:
    """Yield one plain-dict record per metric data point of an export request."""
    for resource_metrics in request.resource_metrics:
        resource = attributes_to_dict(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                base = {
                    "protocol": protocol,
                    "resource": resource,
                    "scope": scope_metrics.scope.name,
                    "name": metric.name,
                    "unit": metric.unit,
                    "description": metric.description,
                    "type": kind,
                    "headers": headers,
                }
                data = getattr(metric, kind) if kind else None
                for point in getattr(data, "data_points", ()):
                    record = dict(base, attributes=attributes_to_dict(point.attributes), time_ns=point.time_unix_nano)
                    if kind in ("sum", "gauge"):
                        record["value"] = _number(point)
                    if kind == "sum":
                        record["monotonic"] = metric.sum.is_monotonic
                        record["temporality"] = _enum_name(AggregationTemporality, metric.sum.aggregation_temporality)
                    if kind == "histogram":
                        record["count"] = point.count
                        record["sum"] = point.sum
                        record["bounds"] = list(point.explicit_bounds)
                        record["bucket_counts"] = list(point.bucket_counts)
                    if kind in ("exponential_histogram", "summary"):
                        record["count"] = point.count
                        record["sum"] = point.sum
                    yield record


def select_headers(
    pairs: Iterable[Tuple[str, Union[str, bytes]]], include_all: bool = False
) -> Dict[str, str]:
    """Pick the interesting request headers / gRPC metadata (see module doc)."""
    selected: Dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name.startswith(":"):
            continue
        if not (include_all or name.startswith("x-") or name in SELECTED_HEADERS):
            continue
        text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        selected[name] = f"{selected[name]}, {text}" if name in selected else text
    return selected


def format_span(record: Record) -> str:
    """Human-readable multi-line rendering of a span record (for ``--print``)."""
    duration_ms = (record["end_ns"] - record["start_ns"]) / 1e6
    kind = str(record["kind"]).replace("SPAN_KIND_", "")
    status = str(record["status"]["code"]).replace("STATUS_CODE_", "")
    if record["status"]["message"]:
        status += f" ({record['status']['message']})"
    lines = [
        f"--- {record['name']!r} [{record['protocol']}] {kind} {duration_ms:.3f} ms status={status}",
        f"    trace={record['trace_id']} span={record['span_id']} parent={record['parent_span_id'] or '-'}",
        f"    scope={record['scope']} {record['scope_version']}".rstrip(),
    ]

    def block(title: str, values: Dict[str, JSONValue]) -> None:
        if values:
            lines.append(f"    {title}:")
            lines.extend(f"      {key} = {json.dumps(value)}" for key, value in values.items())

    block("resource", record["resource"])
    block("attributes", record["attributes"])
    for event in record["events"]:
        offset_ms = (event["time_ns"] - record["start_ns"]) / 1e6
        lines.append(f"    event +{offset_ms:.3f} ms {event['name']!r} {json.dumps(event['attributes'])}")
    for link in record["links"]:
        lines.append(f"    link {link['trace_id']}/{link['span_id']} {json.dumps(link['attributes'])}")
    block("headers", record["headers"])
    return "\n".join(lines) + "\n"


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _rewrite_ids(node: JSONValue, convert: Callable[[str, str], str]) -> None:
    """Replace, in place and at any depth, each string id field's value by ``convert(key, value)``.

    Ids are bytes: protobuf's JSON mapping writes them as base64, OTLP/JSON as hex.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = convert(key, value)
            else:
                _rewrite_ids(value, convert)
    elif isinstance(node, list):
        for item in node:
            _rewrite_ids(item, convert)


def collector_file_line(request: ExportTraceServiceRequest) -> str:
    """One line of the Collector ``file`` exporter's format for ``request`` (no newline)."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    _rewrite_ids(document, lambda _key, value: base64.b64decode(value).hex())
    return json.dumps(document, separators=(",", ":"))


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


class SpanSink:
    """Thread-safe writer of span records (JSON lines and/or pretty output).

    Writing waits until :meth:`open` is called, so that nothing is printed
    before the ports line even if a client connects very early.
    """

    def __init__(
        self,
        out: Optional[IO[str]],
        pretty: Optional[IO[str]],
        requests: Optional[IO[str]] = None,
        metrics_out: Optional[IO[str]] = None,
    ) -> None:
        self._out = out
        self._metrics_out = metrics_out
        self._pretty = pretty
        self._requests = requests
        self._lock = threading.Lock()
        self._opened = threading.Event()

    def open(self, first_stdout_line: str) -> None:
        with self._lock:
            sys.stdout.write(first_stdout_line + "\n")
            sys.stdout.flush()
        self._opened.set()

    def record(self, protocol: str, request: ExportTraceServiceRequest, headers: Dict[str, str]) -> int:
        records = list(span_records(request, protocol, headers))
        request_line = collector_file_line(request) if self._requests is not None else None
        self._opened.wait()
        with self._lock:
            if self._requests is not None:
                self._requests.write(request_line + "\n")
                self._requests.flush()
            for record in records:
                if self._out is not None:
                    self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
                    self._out.flush()
                if self._pretty is not None:
                    self._pretty.write(format_span(record))
                    self._pretty.flush()
        _log.debug("%s: %d span(s) from %s", protocol, len(records), headers.get("user-agent", "?"))
        return len(records)


    def record_metrics(
        self, protocol: str, request: ExportMetricsServiceRequest, headers: Dict[str, str]
    ) -> int:
        records = list(metric_point_records(request, protocol, headers))
        self._opened.wait()
        with self._lock:
            if self._metrics_out is not None:
                for record in records:
                    self._metrics_out.write(json.dumps(record, separators=(",", ":")) + "\n")
                self._metrics_out.flush()
        _log.debug("%s: %d metric point(s) from %s", protocol, len(records), headers.get("user-agent", "?"))
        return len(records)


class FirstExportDelay:
    """How long to hold back each answer: ``seconds`` for the first export request, 0 after."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._taken = seconds <= 0

    def take(self) -> float:
        with self._lock:
            if self._taken:
                return 0.0
            self._taken = True
            return self._seconds


# ---------------------------------------------------------------------------
# gRPC
# ---------------------------------------------------------------------------


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """``opentelemetry.proto.collector.trace.v1.TraceService``."""

    def __init__(self, sink: SpanSink, all_headers: bool, delay: FirstExportDelay) -> None:
        self._sink = sink
        self._all_headers = all_headers
        self._delay = delay

    def Export(  # noqa: N802 - name fixed by the service definition
        self, request: ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        delay = self._delay.take()
        if delay:
            # Wakes early when the RPC ends: the client's deadline or cancellation, or our shutdown.
            ended = threading.Event()
            context.add_callback(ended.set)
            ended.wait(delay)
            if not context.is_active():
                _log.debug("gRPC: the client gave up on the delayed export; its spans are not recorded")
                return ExportTraceServiceResponse()
        headers = select_headers(
            ((m.key, m.value) for m in context.invocation_metadata()), self._all_headers
        )
        try:
            self._sink.record("grpc", request, headers)
        except Exception as exc:  # pragma: no cover - I/O failure on --out
            _log.exception("failed to record gRPC export")
            context.abort(grpc.StatusCode.INTERNAL, f"receiver failed: {exc}")
        return ExportTraceServiceResponse()


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    """``opentelemetry.proto.collector.metrics.v1.MetricsService`` (no delay: only spans test that)."""

    def __init__(self, sink: SpanSink, all_headers: bool) -> None:
        self._sink = sink
        self._all_headers = all_headers

    def Export(  # noqa: N802 - name fixed by the service definition
        self, request: ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> ExportMetricsServiceResponse:
        headers = select_headers(
            ((m.key, m.value) for m in context.invocation_metadata()), self._all_headers
        )
        try:
            self._sink.record_metrics("grpc", request, headers)
        except Exception as exc:  # pragma: no cover - I/O failure on --metrics-out
            _log.exception("failed to record gRPC metrics export")
            context.abort(grpc.StatusCode.INTERNAL, f"receiver failed: {exc}")
        return ExportMetricsServiceResponse()


def start_grpc(
    sink: SpanSink, host: str, port: int, all_headers: bool, delay: FirstExportDelay
) -> Tuple[grpc.Server, int]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_BODY_BYTES),
            # Fail loudly if the port is taken instead of silently sharing it.
            ("grpc.so_reuseport", 0),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(sink, all_headers, delay), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(sink, all_headers), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise OSError(f"cannot listen for gRPC on {host}:{port}: {exc}") from None
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {host}:{port}")
    server.start()
    return server, bound


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class RequestError(Exception):
    """An error answered with an HTTP status and a google.rpc.Status body."""

    def __init__(self, status: HTTPStatus, rpc_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.rpc_code = rpc_code
        self.message = message


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_rpc_status(code: int, message: str) -> bytes:
    """Protobuf encoding of ``google.rpc.Status{code, message}`` (no details)."""
    text = message.encode("utf-8")
    out = b""
    if code:
        out += b"\x08" + _varint(code)
    if text:
        out += b"\x12" + _varint(len(text)) + text
    return out


def _hex_id_to_base64(key: str, value: str) -> str:
    """OTLP/JSON carries ids as hex; protobuf's JSON mapping wants base64 for bytes."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise RequestError(
            HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"{key} is not hex: {value[:64]!r}"
        ) from None
    return base64.b64encode(raw).decode("ascii")


def parse_otlp_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON ``ExportTraceServiceRequest`` (unknown fields are ignored)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, "JSON body is not an object")
    _rewrite_ids(document, _hex_id_to_base64)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"invalid OTLP/JSON: {exc}") from None
    return request


def parse_export(body: bytes, is_json: bool, message_class: Type[_Message], invalid: str) -> _Message:
    """A new ``message_class`` read from an export body: binary protobuf, or JSON in protobuf's own
    mapping (unknown fields ignored).  A body that does not parse is a 400 saying ``invalid: why``."""
    request = message_class()
    try:
        if is_json:
            json_format.Parse(body.decode("utf-8"), request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"{invalid}: {exc}") from None
    return request


def decode_body(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate
    except (OSError, EOFError, zlib.error) as exc:
        raise RequestError(
            HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"cannot decode {encoding} body: {exc}"
        ) from None
    raise RequestError(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, RPC_UNIMPLEMENTED, f"unsupported Content-Encoding {encoding!r}"
    )


class OTLPHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, sink: SpanSink, all_headers: bool, delay: FirstExportDelay) -> None:
        self.sink = sink
        self.all_headers = all_headers
        self.delay = delay
        super().__init__((host, port), OTLPHTTPHandler)


class OTLPHTTPHandler(BaseHTTPRequestHandler):
    """``POST /v1/traces`` and ``POST /v1/metrics`` (OTLP/HTTP, binary protobuf or JSON)."""

    server: OTLPHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "faultline-otlp-receiver/1"

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        is_json = self._content_type() == CONTENT_TYPE_JSON
        try:
            body = self._read_body()
            path = self.path.split("?", 1)[0]
            if path not in (TRACES_PATH, METRICS_PATH):
                raise RequestError(HTTPStatus.NOT_FOUND, RPC_NOT_FOUND, f"no such path {self.path!r}")
            content_type = self._content_type()
            if content_type not in (CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON):
                raise RequestError(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    RPC_UNIMPLEMENTED,
                    f"unsupported Content-Type {content_type!r}",
                )
            body = decode_body(body, self.headers.get("Content-Encoding", ""))
            if path == METRICS_PATH:
                self._export_metrics(body, is_json)
                return
            if is_json:  # OTLP/JSON: hex ids
                request = parse_otlp_json(body)
            else:
                request = parse_export(body, False, ExportTraceServiceRequest, "invalid protobuf")
            delay = self.server.delay.take()
            if delay:
                time.sleep(delay)
                if self._client_gone():
                    _log.debug("HTTP: the client gave up on the delayed export; its spans are not recorded")
                    self.close_connection = True
                    return
            headers = select_headers(self.headers.items(), self.server.all_headers)
            try:
                self.server.sink.record("http", request, headers)
            except Exception as exc:  # pragma: no cover - I/O failure on --out
                _log.exception("failed to record HTTP export")
                raise RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, RPC_INTERNAL, str(exc)) from None
        except RequestError as error:
            self._reply_error(error, is_json)
            return
        self._reply_ok(ExportTraceServiceResponse(), is_json)

    def _export_metrics(self, body: bytes, is_json: bool) -> None:
        """Records a ``/v1/metrics`` export and answers it; errors raise ``RequestError``."""
        request = parse_export(body, is_json, ExportMetricsServiceRequest, "invalid metrics export")
        self.server.sink.record_metrics("http", request, select_headers(self.headers.items(), self.server.all_headers))
        self._reply_ok(ExportMetricsServiceResponse(), is_json)

    def do_GET(self) -> None:  # noqa: N802
        self._method_not_allowed()

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _method_not_allowed(self) -> None:
        self.close_connection = True  # any request body is left unread
        error = RequestError(HTTPStatus.METHOD_NOT_ALLOWED, RPC_UNIMPLEMENTED, f"{self.command} not allowed")
        self._reply_error(error, False, extra_headers=[("Allow", "POST")])

    def _client_gone(self) -> bool:
        """Whether the client closed the connection (readable at end of file) while we waited."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise RequestError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, RPC_RESOURCE_EXHAUSTED, "body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise RequestError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, RPC_RESOURCE_EXHAUSTED, "body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after the chunk data

    def _reply(
        self,
        status: HTTPStatus,
        content_type: str,
        body: bytes,
        extra_headers: Sequence[Tuple[str, str]] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _reply_ok(self, response: Message, as_json: bool) -> None:
        """200 with ``response`` in the request's encoding."""
        if as_json:
            self._reply(HTTPStatus.OK, CONTENT_TYPE_JSON, json_format.MessageToJson(response).encode())
        else:
            self._reply(HTTPStatus.OK, CONTENT_TYPE_PROTOBUF, response.SerializeToString())

    def _reply_error(
        self, error: RequestError, as_json: bool, extra_headers: Sequence[Tuple[str, str]] = ()
    ) -> None:
        _log.debug("HTTP %d: %s", error.status, error.message)
        if as_json:
            body = json.dumps({"code": error.rpc_code, "message": error.message}).encode()
            self._reply(error.status, CONTENT_TYPE_JSON, body, extra_headers)
        else:
            body = encode_rpc_status(error.rpc_code, error.message)
            self._reply(error.status, CONTENT_TYPE_PROTOBUF, body, extra_headers)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        _log.debug("http %s - %s", self.address_string(), format % args)


def start_http(
    sink: SpanSink, host: str, port: int, all_headers: bool, delay: FirstExportDelay
) -> Tuple[OTLPHTTPServer, threading.Thread, int]:
    server = OTLPHTTPServer(host, port, sink, all_headers, delay)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="otlp-http", daemon=True
    )
    thread.start()
    return server, thread, server.server_address[1]


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ready.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="OTLP trace and metrics receiver (gRPC + HTTP on 127.0.0.1) writing spans and metric points as JSON lines."
    )
    parser.add_argument("--grpc-port", type=int, default=0, help="gRPC port (0 = pick a free one)")
    parser.add_argument("--http-port", type=int, default=0, help="HTTP port (0 = pick a free one)")
    parser.add_argument("--out", help="append one JSON line per received span to this file")
    parser.add_argument("--metrics-out", help="append one JSON line per received metric data point to this file")
    parser.add_argument(
        "--file",
        help="append each export request to this file as one OTLP/JSON line (the Collector file exporter's format)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default 127.0.0.1; 0.0.0.0 for peers in other namespaces)"
    )
    parser.add_argument("--ready-file", help="write the ports JSON here once listening")
    parser.add_argument("--print", action="store_true", help="pretty-print each span to stdout")
    parser.add_argument("--all-headers", action="store_true", help="record every request header/metadata")
    parser.add_argument(
        "--first-rpc-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="answer the first export request only after SECONDS (a collector slow to answer)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging to stderr")
    args = parser.parse_args(argv)
    if not (args.first_rpc_delay >= 0 and math.isfinite(args.first_rpc_delay)):
        parser.error("--first-rpc-delay must be a number of seconds >= 0")
    for name in ("grpc_port", "http_port"):
        if not 0 <= getattr(args, name) <= 65535:
            parser.error(f"--{name.replace('_', '-')} must be in 0..65535")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="otlp_receiver: %(message)s",
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Optional[FrameType]) -> None:
        _log.debug("signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    out = open(args.out, "a", encoding="utf-8") if args.out else None  # noqa: SIM115 - closed below
    requests = open(args.file, "a", encoding="utf-8") if args.file else None  # noqa: SIM115 - closed below
    metrics_out = open(args.metrics_out, "a", encoding="utf-8") if args.metrics_out else None  # noqa: SIM115
    sink = SpanSink(out, sys.stdout if args.print else None, requests, metrics_out)
    delay = FirstExportDelay(args.first_rpc_delay)
    grpc_server: Optional[grpc.Server] = None
    http_server: Optional[OTLPHTTPServer] = None
    try:
        try:
            grpc_server, grpc_port = start_grpc(sink, args.host, args.grpc_port, args.all_headers, delay)
            http_server, http_thread, http_port = start_http(sink, args.host, args.http_port, args.all_headers, delay)
        except OSError as exc:
            sys.stderr.write(f"otlp_receiver: {exc}\n")
            return 1
        ports_line = json.dumps({"grpc": grpc_port, "http": http_port})
        if args.ready_file:
            write_atomically(args.ready_file, ports_line + "\n")
        sink.open(ports_line)
        while not stop.wait(0.5):
            pass
        http_server.shutdown()
        http_thread.join(5)
        return 0
    finally:
        if http_server is not None:
            http_server.server_close()
        if grpc_server is not None:
            grpc_server.stop(grace=1.0).wait(5)
        if out is not None:
            out.close()
        if requests is not None:
            requests.close()
        if metrics_out is not None:
            metrics_out.close()


if __name__ == "__main__":
    sys.exit(main())
