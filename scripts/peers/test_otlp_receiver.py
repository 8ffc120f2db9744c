"""Self-test of otlp_receiver.py with the OpenTelemetry Python SDK's real OTLP exporters.

Run: pytest scripts/peers/test_otlp_receiver.py
"""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import grpc
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

RECEIVER = Path(__file__).resolve().parent / "otlp_receiver.py"
LINK_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
LINK_SPAN = 0x00F067AA0BA902B7


class Receiver:
    """A running otlp_receiver.py subprocess."""

    def __init__(self, tmp: Path, extra_args: Sequence[str] = ()) -> None:
        self.out = tmp / "spans.jsonl"
        self.ready = tmp / "ready.json"
        self.process = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--grpc-port", "0", "--http-port", "0",
             "--out", str(self.out), "--ready-file", str(self.ready), *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"receiver did not start: {self.process.communicate()}")
            time.sleep(0.05)
        self.ports: Dict[str, int] = json.loads(self.ready.read_text())
        assert self.process.stdout is not None
        self.stdout_first_line = self.process.stdout.readline()

    @property
    def grpc_port(self) -> int:
        return self.ports["grpc"]

    @property
    def http_port(self) -> int:
        return self.ports["http"]

    def records(self, trace_id: Optional[str] = None, expected: int = 0, timeout: float = 15) -> List[Dict[str, Any]]:
        """Span records (optionally of one trace), waiting until ``expected`` are there."""
        return _wait_for_lines(
            self.out, lambda r: trace_id is None or r["trace_id"] == trace_id, expected, timeout
        )

    def stop(self, sig: int = signal.SIGTERM) -> Tuple[int, str, str]:
        self.process.send_signal(sig)
        stdout, stderr = self.process.communicate(timeout=15)
        return self.process.returncode, stdout, stderr


class MetricsReceiver(Receiver):
    """The receiver with ``--metrics-out``."""

    def __init__(self, tmp: Path) -> None:
        self.metrics_out = tmp / "points.jsonl"
        super().__init__(tmp, ["--metrics-out", str(self.metrics_out)])

    def points(
        self, name: Optional[str] = None, protocol: Optional[str] = None, expected: int = 0, timeout: float = 15
    ) -> List[Dict[str, Any]]:
        """Points (optionally of metric ``name``, received over ``protocol``), waiting until ``expected`` are there."""
        return _wait_for_lines(
            self.metrics_out,
            lambda p: (name is None or p["name"] == name) and (protocol is None or p["protocol"] == protocol),
            expected,
            timeout,
        )


def _wait_for_lines(
    path: Path, keep: Callable[[Dict[str, Any]], bool], expected: int, timeout: float
) -> List[Dict[str, Any]]:
    """The JSON lines of ``path`` that ``keep`` accepts, waiting until ``expected`` are there (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        found = [record for record in map(json.loads, lines) if keep(record)]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    running = Receiver(tmp_path_factory.mktemp("receiver"))
    yield running
    code, _, stderr = running.stop()
    assert code == 0, stderr


def _make_spans(marker: str) -> List[ReadableSpan]:
    """A server span (all attribute types, event, link, error status) and a client child."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "faultline-test", "test.marker": marker}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("faultline.test", "1.2.3")
    link = Link(
        SpanContext(LINK_TRACE, LINK_SPAN, is_remote=True, trace_flags=TraceFlags(1)),
        {"chaos.experiment.name": "payment-latency"},
    )
    with tracer.start_as_current_span(f"GET /checkout {marker}", kind=SpanKind.SERVER, links=[link]) as server:
        server.set_attributes({
            "chaos.experiment.active": True,
            "http.status_code": 503,
            "ratio": 0.25,
            "tags": ["a", "b"],
            "ints": [1, 2, 3],
            "floats": [1.5, 2.5],
            "bools": [True, False],
        })
        server.add_event("retry", {"attempt": 2})
        with tracer.start_as_current_span("call payment", kind=SpanKind.CLIENT):
            pass
        server.set_status(Status(StatusCode.ERROR, "upstream timeout"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _check_records(records: List[Dict[str, Any]], spans: List[ReadableSpan], protocol: str) -> None:
    by_name = {r["name"]: r for r in records}
    client, server = spans  # child ends first
    s = by_name[server.name]
    c = by_name["call payment"]
    trace_hex = format(server.context.trace_id, "032x")
    assert s["protocol"] == c["protocol"] == protocol
    assert s["resource"]["service.name"] == "faultline-test"
    assert s["resource"]["telemetry.sdk.language"] == "python"
    assert (s["scope"], s["scope_version"]) == ("faultline.test", "1.2.3")
    assert s["trace_id"] == c["trace_id"] == trace_hex
    assert s["span_id"] == format(server.context.span_id, "016x")
    assert s["parent_span_id"] == ""
    assert c["parent_span_id"] == s["span_id"]
    assert (s["kind"], c["kind"]) == ("SPAN_KIND_SERVER", "SPAN_KIND_CLIENT")
    assert (s["start_ns"], s["end_ns"]) == (server.start_time, server.end_time)
    assert s["status"] == {"code": "STATUS_CODE_ERROR", "message": "upstream timeout"}
    assert c["status"] == {"code": "STATUS_CODE_UNSET", "message": ""}
    assert s["attributes"] == {
        "chaos.experiment.active": True,
        "http.status_code": 503,
        "ratio": 0.25,
        "tags": ["a", "b"],
        "ints": [1, 2, 3],
        "floats": [1.5, 2.5],
        "bools": [True, False],
    }
    assert s["events"] == [{"name": "retry", "time_ns": server.events[0].timestamp, "attributes": {"attempt": 2}}]
    assert s["links"] == [{
        "trace_id": format(LINK_TRACE, "032x"),
        "span_id": format(LINK_SPAN, "016x"),
        "trace_state": "",
        "attributes": {"chaos.experiment.name": "payment-latency"},
    }]
    assert s["headers"]["x-faultline-test"] == protocol
    assert s["headers"]["authorization"] == "Bearer secret"
    assert "user-agent" in s["headers"]


def test_ports_line_and_ready_file(receiver: Receiver) -> None:
    assert json.loads(receiver.stdout_first_line) == receiver.ports
    assert set(receiver.ports) == {"grpc", "http"}
    assert all(isinstance(p, int) and p > 0 for p in receiver.ports.values())


@pytest.mark.parametrize("compression", [None, grpc.Compression.Gzip])
def test_grpc_exporter(receiver: Receiver, compression: Optional[grpc.Compression]) -> None:
    spans = _make_spans(f"grpc-{compression}")
    exporter = GrpcSpanExporter(
        endpoint=f"http://127.0.0.1:{receiver.grpc_port}",
        insecure=True,
        headers={"x-faultline-test": "grpc", "authorization": "Bearer secret"},
        compression=compression,
        timeout=10,
    )
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    trace_hex = format(spans[0].context.trace_id, "032x")
    _check_records(receiver.records(trace_hex, expected=2), spans, "grpc")


@pytest.mark.parametrize(
    "compression", [HttpCompression.NoCompression, HttpCompression.Gzip, HttpCompression.Deflate]
)
def test_http_exporter(receiver: Receiver, compression: HttpCompression) -> None:
    spans = _make_spans(f"http-{compression.value}")
    exporter = HttpSpanExporter(
        endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/traces",
        headers={"x-faultline-test": "http", "authorization": "Bearer secret"},
        compression=compression,
        timeout=10,
    )
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    trace_hex = format(spans[0].context.trace_id, "032x")
    records = receiver.records(trace_hex, expected=2)
    _check_records(records, spans, "http")
    expected_encoding = {"gzip": "gzip", "deflate": "deflate"}.get(compression.value)
    assert records[0]["headers"].get("content-encoding") == expected_encoding
    assert records[0]["headers"]["content-type"] == "application/x-protobuf"


def _post(
    port: int,
    body: bytes,
    content_type: str,
    path: str = "/v1/traces",
    headers: Optional[Dict[str, str]] = None,
    chunked: bool = False,
) -> Tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        all_headers = {"Content-Type": content_type, **(headers or {})}
        if chunked:
            connection.request("POST", path, body=iter([body[:7], body[7:]]), headers=all_headers, encode_chunked=True)
        else:
            connection.request("POST", path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _json_request(trace_hex: str) -> Dict[str, Any]:
    return {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "swift-agent"}}]},
            "scopeSpans": [{
                "scope": {"name": "faultline", "version": "0.1"},
                "spans": [{
                    "traceId": trace_hex,
                    "spanId": "b7ad6b7169203331",
                    "parentSpanId": "00f067aa0ba902b7",
                    "name": "chaos.experiment",
                    "kind": 1,
                    "startTimeUnixNano": "1763787600000000000",
                    "endTimeUnixNano": 1763787900000000000,
                    "attributes": [
                        {"key": "s", "value": {"stringValue": "é \"q\""}},
                        {"key": "i", "value": {"intValue": "-42"}},
                        {"key": "d", "value": {"doubleValue": 1.5}},
                        {"key": "b", "value": {"boolValue": True}},
                        {"key": "arr", "value": {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "x"}]}}},
                        {"key": "kv", "value": {"kvlistValue": {"values": [
                            {"key": "k", "value": {"stringValue": "v"}},
                        ]}}},
                        {"key": "raw", "value": {"bytesValue": "AAEC"}},
                        {"key": "empty", "value": {}},
                    ],
                    "events": [{"timeUnixNano": "1763787600000000001", "name": "qdisc.applied"}],
                    "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203332",
                               "attributes": [{"key": "why", "value": {"stringValue": "cause"}}]}],
                    "status": {"code": 1, "message": ""},
                    "futureField": {"ignored": True},
                }],
            }],
        }],
    }


@pytest.mark.parametrize("gzipped", [False, True])
def test_http_json(receiver: Receiver, gzipped: bool) -> None:
    trace_hex = f"{int(gzipped) + 1:032x}"
    body = json.dumps(_json_request(trace_hex)).encode()
    headers = {"X-Scenario": "json"}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    status, content_type, reply = _post(receiver.http_port, body, "application/json; charset=utf-8", headers=headers)
    assert (status, content_type, json.loads(reply)) == (200, "application/json", {})
    (record,) = receiver.records(trace_hex, expected=1)
    assert record["protocol"] == "http"
    assert record["resource"] == {"service.name": "swift-agent"}
    assert (record["scope"], record["scope_version"]) == ("faultline", "0.1")
    assert (record["span_id"], record["parent_span_id"]) == ("b7ad6b7169203331", "00f067aa0ba902b7")
    assert record["kind"] == "SPAN_KIND_INTERNAL"
    assert (record["start_ns"], record["end_ns"]) == (1763787600000000000, 1763787900000000000)
    assert record["status"] == {"code": "STATUS_CODE_OK", "message": ""}
    assert record["attributes"] == {
        "s": "é \"q\"", "i": -42, "d": 1.5, "b": True, "arr": [1, "x"], "kv": {"k": "v"}, "raw": "AAEC", "empty": None,
    }
    assert record["events"] == [{"name": "qdisc.applied", "time_ns": 1763787600000000001, "attributes": {}}]
    assert record["links"] == [{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203332",
                                "trace_state": "", "attributes": {"why": "cause"}}]
    assert record["headers"]["x-scenario"] == "json"


def _protobuf_request(trace_id: bytes, name: str) -> bytes:
    span = Span(trace_id=trace_id, span_id=b"\x01" * 8, name=name, kind=Span.SPAN_KIND_PRODUCER)
    array = ArrayValue(values=[AnyValue(bool_value=True)])
    span.attributes.append(KeyValue(key="a", value=AnyValue(array_value=array)))
    span.attributes.append(KeyValue(key="m", value=AnyValue(kvlist_value=KeyValueList(values=[]))))
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


def test_http_protobuf_chunked_and_response_body(receiver: Receiver) -> None:
    trace_id = b"\x0c" * 16
    status, content_type, reply = _post(
        receiver.http_port, _protobuf_request(trace_id, "chunked"), "application/x-protobuf", chunked=True
    )
    assert (status, content_type) == (200, "application/x-protobuf")
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(reply)
    assert not response.HasField("partial_success")
    (record,) = receiver.records(trace_id.hex(), expected=1)
    assert record["name"] == "chunked" and record["kind"] == "SPAN_KIND_PRODUCER"
    assert record["attributes"] == {"a": [True], "m": {}}
    assert record["scope"] == "" and record["resource"] == {}


def test_http_keep_alive(receiver: Receiver) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=10)
    try:
        for index in range(3):
            body = _protobuf_request(bytes([0x0D]) * 15 + bytes([index]), f"keepalive-{index}")
            connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "content_type", "body", "extra", "status", "rpc_code"),
    [
        ("/v1/logs", "application/x-protobuf", b"", {}, 404, 5),
        ("/v1/traces", "text/plain", b"hello", {}, 415, 12),
        ("/v1/traces", "application/x-protobuf", b"\xff\xff\xff", {}, 400, 3),
        ("/v1/traces", "application/x-protobuf", b"not gzip", {"Content-Encoding": "gzip"}, 400, 3),
        ("/v1/traces", "application/x-protobuf", b"", {"Content-Encoding": "br"}, 415, 12),
    ],
)
def test_http_errors_protobuf_status(
    receiver: Receiver, path: str, content_type: str, body: bytes, extra: Dict[str, str], status: int, rpc_code: int
) -> None:
    got_status, got_type, reply = _post(receiver.http_port, body, content_type, path=path, headers=extra)
    assert (got_status, got_type) == (status, "application/x-protobuf")
    decoded = status_pb2.Status.FromString(reply)
    assert decoded.code == rpc_code and decoded.message


def test_http_json_errors(receiver: Receiver) -> None:
    bad_id = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex", "name": "x"}]}]}]})
    for body in (b"{not json", bad_id.encode(), b"[]"):
        status, content_type, reply = _post(receiver.http_port, body, "application/json")
        assert (status, content_type) == (400, "application/json")
        assert json.loads(reply)["code"] == 3


def test_http_get_not_allowed(receiver: Receiver) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=10)
    try:
        connection.request("GET", "/v1/traces")
        response = connection.getresponse()
        assert response.status == 405 and response.getheader("Allow") == "POST"
    finally:
        connection.close()


def test_grpc_raw_stub_metadata(receiver: Receiver) -> None:
    trace_id = b"\x0e" * 16
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(_protobuf_request(trace_id, "raw-grpc"))
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        response = stub.Export(request, metadata=[("x-run", "1"), ("x-run", "2"), ("other", "no")], timeout=10)
    assert isinstance(response, trace_service_pb2.ExportTraceServiceResponse)
    (record,) = receiver.records(trace_id.hex(), expected=1)
    assert record["protocol"] == "grpc"
    assert record["headers"]["x-run"] == "1, 2"
    assert "other" not in record["headers"]


def _grpc_export(port: int, trace_id: bytes, name: str, timeout: float) -> float:
    """Sends one span over gRPC; returns how long the answer took, in seconds."""
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(_protobuf_request(trace_id, name))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        grpc.channel_ready_future(channel).result(timeout=10)
        started = time.monotonic()
        stub.Export(request, timeout=timeout)
        return time.monotonic() - started


def test_first_rpc_delay_holds_back_only_the_first_answer(tmp_path: Path) -> None:
    running = Receiver(tmp_path, ["--first-rpc-delay", "1.5"])
    try:
        first = _grpc_export(running.grpc_port, b"\x21" * 16, "slow", timeout=10)
        second = _grpc_export(running.grpc_port, b"\x22" * 16, "fast", timeout=10)
        status, _, _ = _post(running.http_port, _protobuf_request(b"\x23" * 16, "http"), "application/x-protobuf")
        assert status == 200
        assert first >= 1.5, first
        assert second < 1.0, second
        assert {r["name"] for r in running.records(expected=3)} == {"slow", "fast", "http"}
    finally:
        code, _, stderr = running.stop()
    assert code == 0, stderr


def test_first_rpc_delay_spans_of_a_client_that_gave_up_are_not_recorded(tmp_path: Path) -> None:
    running = Receiver(tmp_path, ["--first-rpc-delay", "2"])
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            _grpc_export(running.grpc_port, b"\x24" * 16, "abandoned", timeout=0.5)
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _grpc_export(running.grpc_port, b"\x25" * 16, "delivered", timeout=10)
        time.sleep(max(0.0, started + 3 - time.monotonic()))  # past the 2 s the answer was held back
        assert [r["name"] for r in running.records(expected=1)] == ["delivered"]
    finally:
        code, _, stderr = running.stop()
    assert code == 0, stderr


def test_first_rpc_delay_does_not_hold_up_the_shutdown(tmp_path: Path) -> None:
    running = Receiver(tmp_path, ["--first-rpc-delay", "60"])
    waiting = threading.Thread(
        target=lambda: pytest.raises(grpc.RpcError, _grpc_export, running.grpc_port, b"\x27" * 16, "held", 60),
        daemon=True,
    )
    waiting.start()
    time.sleep(1)  # the export is in the receiver's hands
    started = time.monotonic()
    code, _, stderr = running.stop()
    assert code == 0, stderr
    assert time.monotonic() - started < 10
    waiting.join(10)
    assert not waiting.is_alive()


def test_first_rpc_delay_over_http(tmp_path: Path) -> None:
    running = Receiver(tmp_path, ["--first-rpc-delay", "1.5"])
    try:
        started = time.monotonic()
        status, _, _ = _post(running.http_port, _protobuf_request(b"\x26" * 16, "slow-http"), "application/x-protobuf")
        elapsed = time.monotonic() - started
        assert status == 200
        assert elapsed >= 1.5, elapsed
        assert [r["name"] for r in running.records(expected=1)] == ["slow-http"]
    finally:
        code, _, stderr = running.stop()
    assert code == 0, stderr


def test_first_rpc_delay_must_be_a_duration(tmp_path: Path) -> None:
    for value in ("-1", "nan", "soon"):
        result = subprocess.run(
            [sys.executable, str(RECEIVER), "--first-rpc-delay", value, "--out", str(tmp_path / "x.jsonl")],
            capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 2, (value, result)
        assert "--first-rpc-delay" in result.stderr


def test_print_mode_and_sigint(tmp_path: Path) -> None:
    running = Receiver(tmp_path, ["--print", "--all-headers"])
    try:
        status, _, _ = _post(running.http_port, _protobuf_request(b"\x0f" * 16, "printed-span"),
                             "application/x-protobuf", headers={"Other-Header": "yes"})
        assert status == 200
        (record,) = running.records(expected=1)
        assert record["headers"]["other-header"] == "yes"
    finally:
        code, stdout, stderr = running.stop(signal.SIGINT)
    assert code == 0, stderr
    assert json.loads(running.stdout_first_line) == running.ports
    assert "printed-span" in stdout and "0f0f0f0f" in stdout and "PRODUCER" in stdout


def test_port_in_use_fails(receiver: Receiver, tmp_path: Path) -> None:
    for flag, port in (("--http-port", receiver.http_port), ("--grpc-port", receiver.grpc_port)):
        result = subprocess.run(
            [sys.executable, str(RECEIVER), flag, str(port), "--out", str(tmp_path / "x.jsonl")],
            capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 1, (flag, result)
        assert "otlp_receiver:" in result.stderr


def test_middleware_spans_reach_receiver(receiver: Receiver, tmp_path: Path) -> None:
    """Both pieces together: a WSGI request marked by faultline_middleware, exported over OTLP/gRPC."""
    middleware = pytest.importorskip("faultline_middleware")
    wsgi = pytest.importorskip("opentelemetry.instrumentation.wsgi")
    from wsgiref.util import setup_testing_defaults

    annotations = tmp_path / "annotations"
    annotations.write_text(
        'chaos.experiment/active="true"\n'
        'chaos.experiment/id="exp-1"\n'
        'chaos.experiment/name="payment-latency"\n'
        f'chaos.experiment/traceparent="00-{LINK_TRACE:032x}-{LINK_SPAN:016x}-01"\n'
    )
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "payment-service"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))

    def app(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = wsgi.OpenTelemetryMiddleware(middleware.WSGIMiddleware(app, path=annotations), tracer_provider=provider)
    environ: Dict[str, Any] = {}
    setup_testing_defaults(environ)
    body = wrapped(environ, lambda status, headers, exc_info=None: None)
    assert b"".join(body) == b"ok"
    body.close()  # type: ignore[attr-defined]
    (span,) = memory.get_finished_spans()

    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, timeout=10)
    try:
        assert exporter.export([span]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    (record,) = receiver.records(format(span.context.trace_id, "032x"), expected=1)
    assert record["kind"] == "SPAN_KIND_SERVER"
    assert record["attributes"]["chaos.experiment.active"] is True
    assert record["attributes"]["chaos.experiment.name"] == "payment-latency"
    assert record["attributes"]["chaos.experiment.id"] == "exp-1"
    assert record["links"][0]["trace_id"] == format(LINK_TRACE, "032x")
    assert record["links"][0]["attributes"] == {
        "chaos.experiment.name": "payment-latency",
        "chaos.experiment.id": "exp-1",
    }


def _export_to_file(tmp_path: Path) -> Tuple[List[ReadableSpan], Path]:
    """Spans exported over gRPC to a receiver running with ``--file``; the file it wrote."""
    path = tmp_path / "otlp.json"
    running = Receiver(tmp_path, ["--file", str(path)])
    try:
        spans = _make_spans("file")
        exporter = GrpcSpanExporter(endpoint=f"http://127.0.0.1:{running.grpc_port}", insecure=True, timeout=10)
        try:
            assert exporter.export(spans) == SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        running.records(expected=2)
    finally:
        code, _, stderr = running.stop()
    assert code == 0, stderr
    return spans, path


def test_file_option_writes_the_collector_file_format(tmp_path: Path) -> None:
    """--file appends each export as one OTLP/JSON line, as the Collector's file exporter does."""
    spans, path = _export_to_file(tmp_path)
    lines = path.read_text().splitlines()
    assert len(lines) == 1  # one export request, one line
    request = json.loads(lines[0])
    (resource_spans,) = request["resourceSpans"]
    service = [a for a in resource_spans["resource"]["attributes"] if a["key"] == "service.name"]
    assert service == [{"key": "service.name", "value": {"stringValue": "faultline-test"}}]
    by_name = {s["name"]: s for s in resource_spans["scopeSpans"][0]["spans"]}
    client, server = spans
    s = by_name[server.name]
    c = by_name["call payment"]
    # Hex ids, 64-bit integers as strings, enums as numbers.
    assert s["traceId"] == format(server.context.trace_id, "032x")
    assert s["spanId"] == format(server.context.span_id, "016x")
    assert c["parentSpanId"] == s["spanId"]
    assert s["kind"] == 2 and c["kind"] == 3
    assert s["status"]["code"] == 2
    assert s["startTimeUnixNano"] == str(server.start_time)
    status = [a for a in s["attributes"] if a["key"] == "http.status_code"]
    assert status == [{"key": "http.status_code", "value": {"intValue": "503"}}]
    (link,) = s["links"]
    assert (link["traceId"], link["spanId"]) == (format(LINK_TRACE, "032x"), format(LINK_SPAN, "016x"))


FAULTLINE = Path(__file__).resolve().parents[2] / ".build" / "debug" / "faultline"


@pytest.mark.skipif(not FAULTLINE.exists(), reason="needs the built faultline (swift build)")
def test_faultline_analyze_reads_the_file(tmp_path: Path) -> None:
    """The receiver's file is what `faultline analyze` reads: real SDK spans, end to end."""
    spans, path = _export_to_file(tmp_path)
    client, server = spans
    window = f"{server.start_time // 10**9 - 1}/{server.end_time // 10**9 + 2}"
    result = subprocess.run(
        [str(FAULTLINE), "analyze", str(path), "--window", window, "--output", "json",
         "--fail-if", "error_rate > 50%"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1, result.stderr  # the server span is an error: the condition holds
    report = json.loads(result.stdout)
    assert report["inputs"] == [{"file": str(path), "lines": 1, "spans": 2, "malformedLines": 0}]
    rows = {(r["service"], r["operation"], r["role"]): r for r in report["operations"]}
    row = rows[("faultline-test", server.name, "server")]
    assert row["window"]["count"] == 1 and row["window"]["errors"] == 1
    assert row["window"]["p50Ms"] == pytest.approx((server.end_time - server.start_time) / 1e6, abs=0.001)
    assert ("faultline-test", "call payment", "client") in rows
    assert report["verdicts"][0]["outcome"] == "fail"
