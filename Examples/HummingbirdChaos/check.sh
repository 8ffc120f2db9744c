#!/usr/bin/env bash
# check.sh: end-to-end check of the HummingbirdChaos example against a real OTLP receiver.
#
#   Examples/HummingbirdChaos/check.sh        (from the repository root, or from anywhere)
#
# 1. builds the example (scratch path: $SCRATCH, default <repo>/.build-example; the first build
#    takes several minutes),
# 2. starts scripts/peers/otlp_receiver.py (OTLP/HTTP + gRPC on free ports of 127.0.0.1),
# 3. writes an annotation file by hand, exactly as faultline does (sorted `key="value"` lines,
#    replaced atomically), naming an active experiment with a random id and traceparent,
# 4. runs the app (PORT=0, OTLP/HTTP protobuf to the receiver, FAULTLINE_ANNOTATIONS=<file>),
#    curls GET /pay?req=during, flips the file to chaos.experiment/active="false", waits 0.5 s
#    (longer than ChaosSpanMarker's cache may be stale), curls GET /pay?req=after, stops the app
#    with SIGINT (which flushes its spans),
# 5. checks the received spans: the first request span carries chaos.experiment.active/name/id
#    and a link to the traceparent's trace and span ids; the second carries neither.
#
# Exits 0 when every check passes, 1 when one fails, 2 when something could not run.
set -euo pipefail

EXAMPLE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$EXAMPLE_DIR/../.." && pwd)
SCRATCH=${SCRATCH:-$REPO_ROOT/.build-example}
PYTHON=${PYTHON:-python3}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hummingbird-chaos.XXXXXX")
RECEIVER_PID=''
APP_PID=''
cleanup() {
    if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then kill -KILL "$APP_PID" 2>/dev/null || true; fi
    if [[ -n $RECEIVER_PID ]] && kill -0 "$RECEIVER_PID" 2>/dev/null; then
        kill -TERM "$RECEIVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$RECEIVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RECEIVER_PID" 2>/dev/null || true
    fi
    [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "check.sh: ERROR: $*" >&2; exit 2; }

echo "==> building the example (scratch path $SCRATCH)"
(cd "$EXAMPLE_DIR" && swift build --scratch-path "$SCRATCH" 2>&1 | tail -n 3) || fail "swift build failed"
APP_BIN=$(cd "$EXAMPLE_DIR" && swift build --scratch-path "$SCRATCH" --show-bin-path)/HummingbirdChaos
[[ -x $APP_BIN ]] || fail "no binary at $APP_BIN"

echo "==> starting the OTLP receiver"
"$PYTHON" "$REPO_ROOT/scripts/peers/otlp_receiver.py" --grpc-port 0 --http-port 0 \
    --out "$WORK/spans.jsonl" --ready-file "$WORK/ready.json" >"$WORK/receiver.log" 2>&1 &
RECEIVER_PID=$!
for _ in $(seq 300); do
    [[ -s $WORK/ready.json ]] && break
    kill -0 "$RECEIVER_PID" 2>/dev/null || { cat "$WORK/receiver.log" >&2; fail "the receiver exited"; }
    sleep 0.1
done
[[ -s $WORK/ready.json ]] || fail "the receiver did not start"
HTTP_PORT=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["http"])' "$WORK/ready.json")
echo "    receiver: $(cat "$WORK/ready.json")"

# The annotation file as faultline writes it: keys sorted, values quoted, replaced atomically.
ANNOTATIONS=$WORK/annotations
write_annotations() {
    printf '%s\n' "$@" >"$ANNOTATIONS.tmp"
    mv "$ANNOTATIONS.tmp" "$ANNOTATIONS"
}
EXPERIMENT_ID=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
LINK_TRACE=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
LINK_SPAN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
TRACEPARENT="00-$LINK_TRACE-$LINK_SPAN-01"
write_annotations \
    'chaos.experiment/active="true"' \
    'chaos.experiment/fault="delay=200ms"' \
    "chaos.experiment/id=\"$EXPERIMENT_ID\"" \
    'chaos.experiment/interface="eth0"' \
    'chaos.experiment/name="check-sh"' \
    "chaos.experiment/traceparent=\"$TRACEPARENT\""
echo "==> annotation file (active):"
sed 's/^/    /' "$ANNOTATIONS"

echo "==> starting the app"
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$HTTP_PORT OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
    OTEL_BSP_SCHEDULE_DELAY=200 FAULTLINE_ANNOTATIONS=$ANNOTATIONS PORT=0 \
    "$APP_BIN" >"$WORK/app.log" 2>&1 &
APP_PID=$!
APP_PORT=''
for _ in $(seq 300); do
    APP_PORT=$(sed -n 's/^listening on port \([0-9][0-9]*\)$/\1/p' "$WORK/app.log")
    [[ -n $APP_PORT ]] && break
    kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK/app.log" >&2; fail "the app exited"; }
    sleep 0.1
done
[[ -n $APP_PORT ]] || { cat "$WORK/app.log" >&2; fail "the app did not start listening"; }
echo "    app listening on 127.0.0.1:$APP_PORT"

during=$(curl -sS --fail "http://127.0.0.1:$APP_PORT/pay?req=during") || fail "curl (during) failed"
echo "    GET /pay?req=during -> $during"
write_annotations 'chaos.experiment/active="false"'
echo "==> annotation file (inactive):"
sed 's/^/    /' "$ANNOTATIONS"
# ChaosSpanMarker may answer from its cache for a short while (its maxStaleness, 50 ms by default)
# before it looks at the file again: let that pass, as real traffic would.
sleep 0.5
after=$(curl -sS --fail "http://127.0.0.1:$APP_PORT/pay?req=after") || fail "curl (after) failed"
echo "    GET /pay?req=after -> $after"
[[ $during == ok && $after == ok ]] || fail "/pay answered '$during' and '$after', not 'ok'"

echo "==> stopping the app (SIGINT: the exporter flushes on the way out)"
kill -INT "$APP_PID"
for _ in $(seq 150); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$APP_PID" 2>/dev/null; then cat "$WORK/app.log" >&2; fail "the app did not stop within 15 s of SIGINT"; fi
app_status=0
wait "$APP_PID" || app_status=$?
APP_PID=''
echo "    app exited with status $app_status"

echo "==> checking the received spans"
"$PYTHON" - "$WORK/spans.jsonl" "$EXPERIMENT_ID" "$LINK_TRACE" "$LINK_SPAN" "$app_status" <<'EOF'
import json
import sys
import time

spans_file, experiment_id, link_trace, link_span, app_status = sys.argv[1:]


def load():
    try:
        with open(spans_file) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


deadline = time.monotonic() + 10
spans = load()
while len([s for s in spans if s["name"] == "/pay"]) < 2 and time.monotonic() < deadline:
    time.sleep(0.2)
    spans = load()

by_query = {s["attributes"].get("url.query"): s for s in spans if s["name"] == "/pay"}
failures = []


def check(condition, message):
    print(("    ok    " if condition else "    FAIL  ") + message)
    if not condition:
        failures.append(message)


check(app_status == "0", f"the app exited 0 after SIGINT (status {app_status})")
check(set(by_query) == {"req=during", "req=after"}, f"two /pay request spans arrived ({sorted(map(str, by_query))})")
during = by_query.get("req=during", {"attributes": {}, "links": []})
after = by_query.get("req=after", {"attributes": {}, "links": []})
attributes = during["attributes"]

print("  during the experiment (GET /pay?req=during):")
check(during.get("kind") == "SPAN_KIND_SERVER", f"it is the server span of the request ({during.get('kind')})")
check(attributes.get("chaos.experiment.active") is True, "chaos.experiment.active = true")
check(attributes.get("chaos.experiment.name") == "check-sh", f"chaos.experiment.name = {attributes.get('chaos.experiment.name')!r}")
check(attributes.get("chaos.experiment.id") == experiment_id, f"chaos.experiment.id = {attributes.get('chaos.experiment.id')!r}")
links = during["links"]
check(
    [(l["trace_id"], l["span_id"]) for l in links] == [(link_trace, link_span)],
    f"one link, to trace {link_trace} span {link_span} (got {[(l['trace_id'], l['span_id']) for l in links]})",
)

print("  after the experiment (GET /pay?req=after):")
chaos_keys = sorted(k for k in after["attributes"] if k.startswith("chaos."))
check(not chaos_keys, f"no chaos.* attributes ({chaos_keys})")
check(not after["links"], f"no links ({after['links']})")

if failures:
    print(f"FAILED: {len(failures)} check(s)")
    sys.exit(1)
print("PASSED: the request span during the experiment is marked and linked; the one after is not")
EOF
