#!/usr/bin/env python3
"""A fake Kubernetes API server for pods: list and watch, as the real one answers them.

Standard library only (``http.server``, ``threading``)::

    python3 scripts/peers/fake_kube_api.py --pods pods.json [--host 127.0.0.1] [--port 0]
        [--control events.jsonl] [--require-token TOKEN]

``--pods`` is a JSON file shaped exactly like the API server's ``v1.PodList``
(``apiVersion: v1``, ``kind: PodList``, ``metadata.resourceVersion``, ``items``
with ``metadata``/``spec``/``status``). When the server listens it prints its
port (port 0 picks a free one) as one line on stdout.

API (HTTP/1.1, JSON):

* ``GET /api/v1/pods`` and ``GET /api/v1/namespaces/NS/pods``: a ``PodList``
  at the current resource version. ``fieldSelector`` supports ``spec.nodeName``,
  ``metadata.name``, ``metadata.namespace`` and ``status.phase`` with ``=``,
  ``==`` and ``!=``; ``labelSelector`` supports ``k=v``, ``k==v``, ``k!=v``,
  ``k`` and ``!k``, ``,``-joined (anything else: 400, like the real server).
* ``GET ...?watch=1&resourceVersion=RV[&allowWatchBookmarks=true][&timeoutSeconds=N]``:
  a chunked stream, one JSON event per line (``{"type": ..., "object": ...}``)
  for every change after ``RV`` that concerns the selected pods. A pod modified
  into or out of the selection is sent as ``ADDED`` / ``DELETED``, as the real
  server does. Without ``resourceVersion`` (or ``0``) the current pods come
  first as ``ADDED``. A ``resourceVersion`` older than the compaction point
  (``/_control/compact``) gets a single ``ERROR`` event with a ``Status`` of
  code 410 (``Expired``), then the stream ends; so does every ``ERROR`` event.
  The stream ends after ``timeoutSeconds`` (default 1800).
* Errors are ``v1.Status`` objects: 400 bad selector, 401 with
  ``--require-token`` and a wrong ``Authorization: Bearer`` header, 404, 405.

Control (for tests):

* ``POST /_control/event`` with ``{"type": "ADDED"|"MODIFIED"|"DELETED", "object": POD}``
  changes the pod set (a new resource version is assigned and written into
  the object) and is streamed to the watches; ``{"type": "BOOKMARK"}`` sends a
  bookmark at the current version; ``{"type": "ERROR", "object": STATUS}`` is
  streamed as is (e.g. ``{"kind": "Status", "code": 410, "reason": "Expired"}``).
  Answers ``{"resourceVersion": "N"}``.
* The same event objects, one per line, appended to the ``--control`` file
  (polled every 50 ms).
* ``POST /_control/compact`` (optional body ``{"below": N}``, default: the
  current version): watches from an older version get 410.
* ``POST /_control/close-watches``: ends every open watch stream (as the
  server's timeout would).
* ``POST /_control/fail`` with ``{"status": 500, "count": 1}``: the next
  ``count`` API requests answer that status.
* ``GET /_control/requests``: the API requests received so far
  (``[{"path": ..., "query": {...}, "authorization": ...}]``).

SIGTERM and SIGINT stop the server with status 0.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

FIELD_PATHS = {
    "spec.nodeName": lambda pod: pod.get("spec", {}).get("nodeName", ""),
    "metadata.name": lambda pod: pod.get("metadata", {}).get("name", ""),
    "metadata.namespace": lambda pod: pod.get("metadata", {}).get("namespace", ""),
    "status.phase": lambda pod: pod.get("status", {}).get("phase", ""),
}

LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


class SelectorError(ValueError):
    """A selector the fake (or the real server) does not accept."""


Matcher = Callable[[dict], bool]


def parse_field_selector(text: str) -> list[Matcher]:
    """``spec.nodeName=node-1,status.phase!=Failed`` -> predicates."""
    matchers: list[Matcher] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        match = re.fullmatch(r"([A-Za-z.]+)\s*(==|!=|=)\s*(.*)", term)
        if not match:
            raise SelectorError(f'invalid field selector term "{term}"')
        field, op, value = match.groups()
        if field not in FIELD_PATHS:
            raise SelectorError(f'"{field}" is not a known field selector: only "{", ".join(FIELD_PATHS)}"')
        getter = FIELD_PATHS[field]
        if op == "!=":
            matchers.append(lambda pod, g=getter, v=value: g(pod) != v)
        else:
            matchers.append(lambda pod, g=getter, v=value: g(pod) == v)
    return matchers


def parse_label_selector(text: str) -> list[Matcher]:
    """``app=web,tier!=db,canary,!legacy`` -> predicates (equality-based only)."""
    matchers: list[Matcher] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        labels = lambda pod: pod.get("metadata", {}).get("labels") or {}  # noqa: E731
        if match := re.fullmatch(rf"({LABEL_KEY})\s*(==|!=|=)\s*({LABEL_VALUE})", term):
            key, op, value = match.group(1), match.group(3), match.group(4)
            if op == "!=":
                matchers.append(lambda pod, k=key, v=value: labels(pod).get(k) != v)
            else:
                matchers.append(lambda pod, k=key, v=value: labels(pod).get(k) == v)
        elif match := re.fullmatch(rf"!\s*({LABEL_KEY})", term):
            matchers.append(lambda pod, k=match.group(1): k not in labels(pod))
        elif re.fullmatch(LABEL_KEY, term):
            matchers.append(lambda pod, k=term: k in labels(pod))
        else:
            raise SelectorError(f'unable to parse requirement: "{term}" (the fake supports =, ==, != and exists)')
    return matchers


def status_object(code: int, reason: str, message: str) -> dict:
    """A ``v1.Status`` failure."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class Store:
    """The pods, the event history and the control state, behind one condition variable."""

    def __init__(self, pod_list: dict):
        if pod_list.get("kind") != "PodList" or pod_list.get("apiVersion") != "v1":
            raise ValueError('the pods file must be a v1 PodList ({"apiVersion": "v1", "kind": "PodList", ...})')
        self.condition = threading.Condition()
        self.version = int(pod_list.get("metadata", {}).get("resourceVersion") or 1000)
        self.pods: dict[str, dict] = {}
        for item in pod_list.get("items") or []:
            pod = copy.deepcopy(item)
            metadata = pod.setdefault("metadata", {})
            metadata.setdefault("resourceVersion", str(self.version))
            self.pods[self._key(pod)] = pod
        # (version, type, old object or None, new object)
        self.history: list[tuple[int, str, dict | None, dict]] = []
        self.compacted_below = 0
        self.watch_generation = 0
        self.stopping = False
        self.failures: list[int] = []
        self.requests: list[dict] = []

    @staticmethod
    def _key(pod: dict) -> str:
        metadata = pod.get("metadata", {})
        return metadata.get("uid") or f'{metadata.get("namespace", "")}/{metadata.get("name", "")}'

    def apply(self, event: dict) -> int:
        """Records a control event; returns its resource version."""
        kind = event.get("type")
        with self.condition:
            self.version += 1
            version = self.version
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                pod = copy.deepcopy(event.get("object") or {})
                pod.setdefault("metadata", {})["resourceVersion"] = str(version)
                key = self._key(pod)
                old = self.pods.get(key)
                if kind == "DELETED":
                    self.pods.pop(key, None)
                else:
                    self.pods[key] = pod
                self.history.append((version, kind, old, pod))
            elif kind == "BOOKMARK":
                bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(version)}}
                self.history.append((version, kind, None, bookmark))
            elif kind == "ERROR":
                self.history.append((version, kind, None, event.get("object") or status_object(500, "", "")))
            else:
                self.version -= 1
                raise ValueError(f'unknown event type "{kind}"')
            self.condition.notify_all()
            return version

    def list(self, matches: Matcher) -> dict:
        with self.condition:
            items = [copy.deepcopy(p) for p in self.pods.values() if matches(p)]
            version = self.version
        items.sort(key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"].get("name", "")))
        return {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(version)},
            "items": items,
        }


def watch_event(kind: str, old: dict | None, new: dict, matches: Matcher) -> dict | None:
    """The event a watch with this selection sees for one change, or None."""
    if kind in ("BOOKMARK", "ERROR"):
        return {"type": kind, "object": new}
    was = old is not None and matches(old)
    now = matches(new)
    if kind == "DELETED":
        return {"type": "DELETED", "object": new} if (was or now) else None
    if was and now:
        return {"type": "MODIFIED", "object": new}
    if now:
        return {"type": "ADDED", "object": new}
    if was:
        return {"type": "DELETED", "object": new}
    return None


def make_handler(store: Store, required_token: str | None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-kube-api/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            if os.environ.get("FAKE_KUBE_API_VERBOSE"):
                sys.stderr.write("fake_kube_api: " + (format % args) + "\n")

        # --- helpers -------------------------------------------------------------------------
        def send_json(self, code: int, body: Any) -> None:
            data = (json.dumps(body) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_status(self, code: int, reason: str, message: str) -> None:
            self.send_json(code, status_object(code, reason, message))

        def read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        # --- control ---------------------------------------------------------------------------
        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            raw = self.read_body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as error:
                self.send_status(400, "BadRequest", f"invalid JSON: {error}")
                return
            if path == "/_control/event":
                try:
                    version = store.apply(body)
                except ValueError as error:
                    self.send_status(400, "BadRequest", str(error))
                    return
                self.send_json(200, {"resourceVersion": str(version)})
            elif path == "/_control/compact":
                with store.condition:
                    store.compacted_below = int(body.get("below", store.version))
                    store.condition.notify_all()
                self.send_json(200, {"compactedBelow": store.compacted_below})
            elif path == "/_control/close-watches":
                with store.condition:
                    store.watch_generation += 1
                    store.condition.notify_all()
                self.send_json(200, {})
            elif path == "/_control/fail":
                with store.condition:
                    store.failures += [int(body.get("status", 500))] * int(body.get("count", 1))
                self.send_json(200, {})
            else:
                self.send_status(405, "MethodNotAllowed", f"POST {path} is not supported")

        # --- API ---------------------------------------------------------------------------------
        def do_PATCH(self) -> None:  # noqa: N802
            """A JSON merge patch of a pod's metadata.annotations (null removes a key), as kubectl
            annotate sends; the change is a MODIFIED event like any other."""
            path = urlsplit(self.path).path
            raw = self.read_body()
            with store.condition:
                store.requests.append(
                    {"method": "PATCH", "path": path, "content_type": self.headers.get("Content-Type"),
                     "body": raw.decode(errors="replace"), "authorization": self.headers.get("Authorization")}
                )
            parts = path.strip("/").split("/")
            if len(parts) != 6 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods":
                self.send_status(404, "NotFound", f"PATCH {path}: not a pod")
                return
            if self.headers.get("Content-Type") != "application/merge-patch+json":
                self.send_status(415, "UnsupportedMediaType", "only application/merge-patch+json")
                return
            try:
                patch = json.loads(raw)
            except json.JSONDecodeError as error:
                self.send_status(400, "BadRequest", f"invalid JSON: {error}")
                return
            namespace, name = parts[3], parts[5]
            with store.condition:
                pod = next((copy.deepcopy(p) for p in store.pods.values()
                            if p["metadata"].get("namespace") == namespace and p["metadata"].get("name") == name), None)
            if pod is None:
                self.send_status(404, "NotFound", f'pods "{name}" not found')
                return
            annotations = pod["metadata"].setdefault("annotations", {})
            for key, value in ((patch.get("metadata") or {}).get("annotations") or {}).items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
            store.apply({"type": "MODIFIED", "object": pod})
            with store.condition:
                self.send_json(200, store.pods[store._key(pod)])

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if url.path == "/_control/requests":
                with store.condition:
                    self.send_json(200, list(store.requests))
                return
            with store.condition:
                store.requests.append(
                    {"path": url.path, "query": query, "authorization": self.headers.get("Authorization")}
                )
                failure = store.failures.pop(0) if store.failures else None
            if required_token is not None and self.headers.get("Authorization") != f"Bearer {required_token}":
                self.send_status(401, "Unauthorized", "Unauthorized")
                return
            if failure is not None:
                self.send_status(failure, "InternalError", f"injected failure {failure}")
                return
            match = re.fullmatch(r"/api/v1/(?:namespaces/([^/]+)/)?pods", url.path)
            if not match:
                self.send_status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
                return
            namespace = match.group(1)
            try:
                matchers = parse_field_selector(query.get("fieldSelector", ""))
                matchers += parse_label_selector(query.get("labelSelector", ""))
            except SelectorError as error:
                self.send_status(400, "BadRequest", str(error))
                return
            if namespace is not None:
                matchers.append(lambda pod: pod.get("metadata", {}).get("namespace") == namespace)

            def matches(pod: dict) -> bool:
                return all(m(pod) for m in matchers)

            if query.get("watch") in ("1", "true", "True"):
                self.watch(query, matches)
            else:
                self.send_json(200, store.list(matches))

        def watch(self, query: dict, matches: Matcher) -> None:
            timeout = float(query.get("timeoutSeconds") or 1800)
            deadline = time.monotonic() + timeout
            requested = query.get("resourceVersion", "")
            # The starting point is taken before the headers go out: a client that sees the 200 and
            # then changes a pod must see that change on this watch, as with the real API server.
            try:
                with store.condition:
                    generation = store.watch_generation
                    if requested in ("", "0"):
                        since = store.version
                        initial = [
                            {"type": "ADDED", "object": copy.deepcopy(p)} for p in store.pods.values() if matches(p)
                        ]
                    else:
                        since = int(requested)
                        initial = []
                        if since < store.compacted_below:
                            initial = [
                                {
                                    "type": "ERROR",
                                    "object": status_object(
                                        410, "Expired", f"too old resource version: {since} ({store.compacted_below})"
                                    ),
                                }
                            ]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in initial:
                    self.write_chunk((json.dumps(event) + "\n").encode())
                    if event["type"] == "ERROR":
                        return
                while True:
                    with store.condition:
                        pending = [h for h in store.history if h[0] > since]
                        while (
                            not pending
                            and not store.stopping
                            and store.watch_generation == generation
                            and time.monotonic() < deadline
                        ):
                            store.condition.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
                            pending = [h for h in store.history if h[0] > since]
                        if not pending:
                            return
                    for version, kind, old, new in pending:
                        since = version
                        event = watch_event(kind, old, new, matches)
                        if event is None:
                            continue
                        self.write_chunk((json.dumps(event) + "\n").encode())
                        if kind == "ERROR":
                            return
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
            finally:
                try:
                    self.write_chunk(b"")
                except OSError:
                    self.close_connection = True

    return Handler


def tail_control_file(path: str, store: Store) -> None:
    """Applies each line appended to ``path`` (created if missing) as a control event."""
    open(path, "a").close()
    offset = 0
    pending = b""
    while not store.stopping:
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return  # the file (or its directory) was removed: stop tailing
        if data:
            offset += len(data)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    try:
                        store.apply(json.loads(line))
                    except (ValueError, json.JSONDecodeError) as error:
                        sys.stderr.write(f"fake_kube_api: control file: {error}\n")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pods", required=True, help="a v1 PodList JSON file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control", help="a file of events, one JSON object per line, tailed")
    parser.add_argument("--require-token", help="answer 401 unless Authorization is 'Bearer TOKEN'")
    args = parser.parse_args(argv)

    with open(args.pods, encoding="utf-8") as handle:
        store = Store(json.load(handle))
    server = ThreadingHTTPServer((args.host, args.port), make_handler(store, args.require_token))
    server.daemon_threads = True

    def stop(*_: Any) -> None:
        with store.condition:
            store.stopping = True
            store.condition.notify_all()
        threading.Thread(target=server.shutdown, daemon=True).start()

    # A parent may have spawned us with these blocked (the mask is inherited): unblock them.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.control:
        threading.Thread(target=tail_control_file, args=(args.control, store), daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
