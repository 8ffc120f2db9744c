#!/usr/bin/env python3
"""Writes the backend fixtures: one small checkout scenario in each format faultline analyze reads.

The bodies are shaped from the upstream sources (see README.md), not captured from a live server:
neither Jaeger nor Tempo can be installed on these machines. Run it again after changing the
scenario; the tests compare every source with the OTLP file written here.
"""
import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
EXPERIMENT_TRACE = "0000000000000000" + "aaaaaaaaaaaaaaaa"  # a 64-bit id, as Jaeger prints it short
EXPERIMENT_SPAN = "bbbbbbbbbbbbbbbb"
EXPERIMENT_ID = "5e1f0c2d9a8b47c6b3e2d1f0a9b8c7d6"


def us(seconds):
    return int(round(seconds * 1_000_000))


def span(service, name, kind, at, ms, trace, span_id, parent=None, status=0, attrs=None, events=(), links=()):
    return dict(service=service, name=name, kind=kind, start=us(T0 + at), dur=us(ms / 1000), trace=trace,
                span=span_id, parent=parent, status=status, attrs=attrs or {}, events=list(events), links=list(links))


def scenario():
    spans = [span("faultline", "chaos.experiment", 1, 60, 60_000, EXPERIMENT_TRACE, EXPERIMENT_SPAN,
                  attrs={"chaos.experiment.id": EXPERIMENT_ID, "chaos.experiment.name": "payment-delay",
                         "chaos.experiment.netem.delay_ms": 200})]
    counter = 0
    for second in range(0, 120, 5):
        faulted = second >= 60
        timeout = second == 100
        trace = "0000000000000000" + "%016x" % (0x1000 + second)
        ids = []
        for _ in range(3):
            counter += 1
            ids.append("%016x" % counter)
        extra = 200 if faulted else 0
        spans.append(span("gateway", "GET /checkout", 2, second, 40 + extra, trace, ids[0],
                          attrs={"http.response.status_code": 200}))
        spans.append(span("gateway", "POST /pay", 3, second + 0.001, 30 + extra, trace, ids[1], ids[0],
                          status=2 if timeout else 0,
                          attrs={"http.response.status_code": 504 if timeout else 200},
                          events=[("exception", second + 0.031 + extra / 1000, {"exception.type": "TimeoutError"})]
                          if timeout else []))
        attrs = {"http.response.status_code": 200}
        links = []
        if faulted:
            attrs.update({"chaos.experiment.active": True, "chaos.experiment.id": EXPERIMENT_ID,
                          "chaos.experiment.name": "payment-delay"})
            links = [(EXPERIMENT_TRACE, EXPERIMENT_SPAN, {"chaos.experiment.id": EXPERIMENT_ID})]
        spans.append(span("payment", "POST /pay", 2, second + 0.002, 20 + extra, trace, ids[2], ids[1],
                          attrs=attrs, links=links))
    return spans


# --- OTLP/JSON (the Collector's file exporter; Jaeger api_v3 and Tempo reuse the span shape) ---

def any_value(value):
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": value}


def key_values(attrs):
    return [{"key": k, "value": any_value(v)} for k, v in sorted(attrs.items())]


def otlp_id(hex_id, encoding):
    return base64.b64encode(bytes.fromhex(hex_id)).decode() if encoding == "base64" else hex_id


def otlp_resource_spans(spans, ids="hex"):
    out = []
    for service in dict.fromkeys(s["service"] for s in spans):
        encoded = []
        for s in (s for s in spans if s["service"] == service):
            obj = {"traceId": otlp_id(s["trace"], ids), "spanId": otlp_id(s["span"], ids), "name": s["name"],
                   "kind": s["kind"], "startTimeUnixNano": str(s["start"] * 1000),
                   "endTimeUnixNano": str((s["start"] + s["dur"]) * 1000), "attributes": key_values(s["attrs"]),
                   "status": {"code": s["status"]} if s["status"] else {}}
            if s["parent"]:
                obj["parentSpanId"] = otlp_id(s["parent"], ids)
            if s["events"]:
                obj["events"] = [{"name": n, "timeUnixNano": str(us(T0 + t) * 1000), "attributes": key_values(a)}
                                 for n, t, a in s["events"]]
            if s["links"]:
                obj["links"] = [{"traceId": otlp_id(t, ids), "spanId": otlp_id(i, ids), "attributes": key_values(a)}
                                for t, i, a in s["links"]]
            encoded.append(obj)
        out.append({"resource": {"attributes": key_values({"service.name": service})},
                    "scopeSpans": [{"scope": {"name": "fixture"}, "spans": encoded}]})
    return out


def by_trace(spans):
    traces = {}
    for s in spans:
        traces.setdefault(s["trace"], []).append(s)
    return traces


def services_of(trace_spans):
    return {s["service"] for s in trace_spans}


# --- Jaeger's internal JSON (internal/uimodel, as its OTLP translator fills it) ---

def jaeger_tags(attrs):
    tags = []
    for k, v in sorted(attrs.items()):
        if isinstance(v, bool):
            tags.append({"key": k, "type": "bool", "value": v})
        elif isinstance(v, int):
            tags.append({"key": k, "type": "int64", "value": v})
        else:
            tags.append({"key": k, "type": "string", "value": v})
    return tags


KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def jaeger_trace(trace_spans):
    processes = {}
    out = []
    for s in trace_spans:
        pid = processes.setdefault(s["service"], "p%d" % (len(processes) + 1))
        refs = []
        if s["parent"]:
            refs.append({"refType": "CHILD_OF", "traceID": s["trace"].lstrip("0").rjust(16, "0"),
                         "spanID": s["parent"]})
        for t, i, _ in s["links"]:
            refs.append({"refType": "FOLLOWS_FROM", "traceID": t.lstrip("0").rjust(16, "0"), "spanID": i})
        tags = [{"key": "otel.scope.name", "type": "string", "value": "fixture"}] + jaeger_tags(s["attrs"])
        tags.append({"key": "span.kind", "type": "string", "value": KINDS[s["kind"]]})
        if s["status"] == 2:
            tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
            tags.append({"key": "error", "type": "bool", "value": True})
        out.append({"traceID": s["trace"].lstrip("0").rjust(16, "0"), "spanID": s["span"],
                    "operationName": s["name"], "references": refs, "startTime": s["start"],
                    "duration": s["dur"], "tags": tags,
                    "logs": [{"timestamp": us(T0 + t),
                              "fields": [{"key": "event", "type": "string", "value": n}] + jaeger_tags(a)}
                             for n, t, a in s["events"]],
                    "processID": pid, "warnings": None})
    return {"traceID": out[0]["traceID"], "spans": out,
            "processes": {pid: {"serviceName": svc, "tags": []} for svc, pid in processes.items()},
            "warnings": None}


def write(path, obj, compact=False):
    full = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        if compact:
            f.write(obj)
        else:
            json.dump(obj, f, sort_keys=True)
            f.write("\n")


def main():
    spans = scenario()
    traces = by_trace(spans)
    # The Collector's file exporter: one ExportTraceServiceRequest per line (here one per trace).
    write("otlp/spans.json", "".join(json.dumps({"resourceSpans": otlp_resource_spans(t)}, sort_keys=True) + "\n"
                                    for t in traces.values()), compact=True)
    for service in ("faultline", "gateway"):
        matching = [t for t in traces.values() if service in services_of(t)]
        everything = [s for t in matching for s in t]
        # Jaeger api_v3 FindTraces: every trace in one OTLP body, in the gateway's envelope.
        write("jaeger-v3/%s.json" % service, {"result": {"resourceSpans": otlp_resource_spans(everything)}})
        # Jaeger's internal /api/traces search.
        write("jaeger-legacy/%s.json" % service, {"data": [jaeger_trace(t) for t in matching], "total": 0,
                                                  "limit": 0, "offset": 0, "errors": None})
        # Tempo /api/search: trace ids without leading zeros, times as strings (uint64 in jsonpb).
        write("tempo/search-%s.json" % service, {
            "traces": [{"traceID": t[0]["trace"].lstrip("0"), "rootServiceName": t[0]["service"],
                        "rootTraceName": t[0]["name"], "startTimeUnixNano": str(t[0]["start"] * 1000),
                        "durationMs": t[0]["dur"] // 1000} for t in matching],
            "metrics": {"inspectedBytes": "1024", "completedJobs": 1, "totalJobs": 1}})
    # Tempo /api/traces/ID: jsonpb of tempopb.Trace, bytes ids in base64, `batches` for resourceSpans.
    for trace_id, t in traces.items():
        write("tempo/traces/%s.json" % trace_id.lstrip("0"), {"batches": otlp_resource_spans(t, ids="base64")})


if __name__ == "__main__":
    main()
