"""otlp_receiver.py's metrics side, fed by the OpenTelemetry Python SDK's real OTLP metric exporters.

Run: pytest scripts/peers/test_otlp_receiver_metrics.py
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from test_otlp_receiver import MetricsReceiver, _post

BOUNDS = [0.001, 0.01, 0.1]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsReceiver]:
    running = MetricsReceiver(tmp_path_factory.mktemp("metrics-receiver"))
    yield running
    code, _, stderr = running.stop()
    assert code == 0, stderr


def _record_and_export(exporter: MetricExporter, prefix: str) -> None:
    """A counter with a label, a gauge and a histogram, exported once by the SDK."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "metrics-test"}),
        views=[View(instrument_name=f"{prefix}_seconds", aggregation=ExplicitBucketHistogramAggregation(BOUNDS))],
    )
    meter = provider.get_meter("receiver-test")
    counter = meter.create_counter(f"{prefix}_total")
    counter.add(2, {"outcome": "ok"})
    counter.add(1, {"outcome": "error"})
    meter.create_up_down_counter(f"{prefix}_active").add(3)
    histogram = meter.create_histogram(f"{prefix}_seconds")
    for seconds in (0.0005, 0.005, 0.05, 0.5):
        histogram.record(seconds)
    provider.shutdown()  # exports once more and stops


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_metric_exports_are_written_one_line_per_point(receiver: MetricsReceiver, protocol: str) -> None:
    if protocol == "grpc":
        exporter: MetricExporter = GrpcMetricExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
    else:
        exporter = HttpMetricExporter(endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/metrics")
    prefix = f"sdk_{protocol}"
    _record_and_export(exporter, prefix)

    counters = receiver.points(f"{prefix}_total", protocol, expected=2)
    by_outcome = {p["attributes"]["outcome"]: p for p in counters}
    assert by_outcome["ok"]["value"] == 2
    assert by_outcome["error"]["value"] == 1
    assert by_outcome["ok"]["type"] == "sum"
    assert by_outcome["ok"]["monotonic"] is True
    assert by_outcome["ok"]["temporality"] == "AGGREGATION_TEMPORALITY_CUMULATIVE"
    assert by_outcome["ok"]["resource"]["service.name"] == "metrics-test"

    [active] = receiver.points(f"{prefix}_active", protocol, expected=1)
    assert active["value"] == 3
    assert active["monotonic"] is False

    [histogram] = receiver.points(f"{prefix}_seconds", protocol, expected=1)
    assert histogram["type"] == "histogram"
    assert histogram["bounds"] == BOUNDS
    assert histogram["bucket_counts"] == [1, 1, 1, 1]
    assert histogram["count"] == 4
    assert histogram["sum"] == pytest.approx(0.5555)


def test_http_json_metrics_export_is_accepted(receiver: MetricsReceiver) -> None:
    document = {
        "resourceMetrics": [{
            "scopeMetrics": [{
                "metrics": [{
                    "name": "json_gauge",
                    "gauge": {"dataPoints": [{"asDouble": 1.5, "attributes": [
                        {"key": "kind", "value": {"stringValue": "apply"}}]}]},
                }],
            }],
        }],
    }
    status, content_type, body = _post(
        receiver.http_port, json.dumps(document).encode(), "application/json", path="/v1/metrics"
    )
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {}
    [point] = receiver.points("json_gauge", "http", expected=1)
    assert point["value"] == 1.5
    assert point["attributes"] == {"kind": "apply"}


def test_http_metrics_export_that_is_not_protobuf_is_a_400(receiver: MetricsReceiver) -> None:
    status, _, _ = _post(receiver.http_port, b"\xff\xff\xff", "application/x-protobuf", path="/v1/metrics")
    assert status == 400


def test_empty_protobuf_metrics_export_answers_an_empty_response(receiver: MetricsReceiver) -> None:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    status, content_type, body = _post(
        receiver.http_port, request.SerializeToString(), "application/x-protobuf", path="/v1/metrics"
    )
    assert (status, content_type) == (200, "application/x-protobuf")
    assert metrics_service_pb2.ExportMetricsServiceResponse.FromString(body) == (
        metrics_service_pb2.ExportMetricsServiceResponse()
    )
