"""Self-test of fake_kube_api.py: lists, selectors, watch streams, 410, control file, auth.

Run: pytest scripts/peers/test_fake_kube_api.py
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

SERVER = Path(__file__).resolve().parent / "fake_kube_api.py"


def pod(name: str, namespace: str = "default", node: str = "node-1", phase: str = "Running",
        uid: Optional[str] = None, **labels: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}",
                     "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]},
        "status": {"phase": phase, "podIP": "10.0.0.1"},
    }


PODS = [
    pod("web-1", app="web"),
    pod("web-2", app="web", node="node-2"),
    pod("db-1", app="db"),
    pod("web-3", namespace="other", app="web"),
]


class Server:
    """A running fake_kube_api.py."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        pods = tmp / "pods.json"
        pods.write_text(json.dumps({"apiVersion": "v1", "kind": "PodList",
                                    "metadata": {"resourceVersion": "100"}, "items": PODS}))
        self.control = tmp / "events.jsonl"
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "--pods", str(pods), "--port", "0", "--control", str(self.control),
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip():
            self.process.kill()
            raise RuntimeError(f"server did not start: {self.process.communicate()}")
        self.port = int(line)

    def request(self, method: str, path: str, body: Any = None,
                headers: Optional[dict] = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, json.loads(payload) if payload.strip() else None

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None) -> Any:
        status, answer = self.request("POST", path, body)
        assert status == 200, answer
        return answer

    def watch(self, path: str) -> "Watch":
        return Watch(self.port, path)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


class Watch:
    """An open watch stream, read line by line (http.client undoes the chunking)."""

    def __init__(self, port: int, path: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.connection.request("GET", path)
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Transfer-Encoding") == "chunked"

    def next(self) -> Optional[dict]:
        line = self.response.readline()
        return json.loads(line) if line else None

    def events(self) -> Iterator[dict]:
        while (event := self.next()) is not None:
            yield event

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    yield running
    assert running.stop() == 0


def names(pod_list: dict) -> list[str]:
    return [item["metadata"]["name"] for item in pod_list["items"]]


def test_list_is_a_pod_list_at_the_files_resource_version(server: Server) -> None:
    status, body = server.get("/api/v1/pods")
    assert status == 200
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"] == "100"
    assert sorted(names(body)) == ["db-1", "web-1", "web-2", "web-3"]
    assert body["items"][0]["status"]["podIP"] == "10.0.0.1"  # everything else passes through


def test_field_label_and_namespace_selection(server: Server) -> None:
    _, body = server.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1")
    assert sorted(names(body)) == ["db-1", "web-1", "web-3"]
    _, body = server.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&labelSelector=app%3Dweb")
    assert sorted(names(body)) == ["web-1", "web-3"]
    _, body = server.get("/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dnode-1&labelSelector=app%3Dweb")
    assert names(body) == ["web-1"]
    _, body = server.get("/api/v1/namespaces/default/pods?labelSelector=app!%3Dweb")
    assert names(body) == ["db-1"]
    _, body = server.get("/api/v1/pods?labelSelector=app%3D%3Dweb,!missing")
    assert sorted(names(body)) == ["web-1", "web-2", "web-3"]


def test_bad_selector_and_unknown_path_answer_status_objects(server: Server) -> None:
    status, body = server.get("/api/v1/pods?labelSelector=app%20in%20(web)")
    assert status == 400 and body["kind"] == "Status" and body["code"] == 400
    status, body = server.get("/api/v1/pods?fieldSelector=spec.foo%3Dbar")
    assert status == 400
    status, body = server.get("/api/v1/services")
    assert status == 404 and body["reason"] == "NotFound"


def test_watch_streams_added_then_deleted_for_the_selection(server: Server) -> None:
    watch = server.watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=100"
                         "&fieldSelector=spec.nodeName%3Dnode-1&labelSelector=app%3Dweb")
    server.post("/_control/event", {"type": "ADDED", "object": pod("other-node", app="web", node="node-2")})
    answer = server.post("/_control/event", {"type": "ADDED", "object": pod("web-9", app="web")})
    assert answer == {"resourceVersion": "102"}
    event = watch.next()
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "web-9"
    assert event["object"]["metadata"]["resourceVersion"] == "102"
    server.post("/_control/event", {"type": "DELETED", "object": pod("web-9", app="web")})
    event = watch.next()
    assert event["type"] == "DELETED" and event["object"]["metadata"]["name"] == "web-9"
    watch.close()
    _, body = server.get("/api/v1/pods")
    assert body["metadata"]["resourceVersion"] == "103"
    assert "web-9" not in names(body) and "other-node" in names(body)


def test_a_label_change_out_of_the_selection_is_a_deleted_event(server: Server) -> None:
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=100&labelSelector=app%3Dweb")
    server.post("/_control/event", {"type": "MODIFIED", "object": pod("web-1", app="db")})
    assert watch.next()["type"] == "DELETED"
    server.post("/_control/event", {"type": "MODIFIED", "object": pod("web-1", app="web")})
    assert watch.next()["type"] == "ADDED"
    server.post("/_control/event", {"type": "MODIFIED", "object": pod("web-1", app="web", phase="Failed")})
    assert watch.next()["type"] == "MODIFIED"
    watch.close()


def test_watch_without_version_starts_with_the_current_pods_and_replays_history(server: Server) -> None:
    server.post("/_control/event", {"type": "ADDED", "object": pod("web-9", app="web")})
    watch = server.watch("/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb"
                         "&fieldSelector=spec.nodeName%3Dnode-1")
    first = [watch.next(), watch.next()]
    assert sorted(e["object"]["metadata"]["name"] for e in first) == ["web-1", "web-9"]
    assert all(e["type"] == "ADDED" for e in first)
    watch.close()
    # From an old version, the history since then is replayed.
    watch = server.watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=100")
    event = watch.next()
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "web-9"
    watch.close()


def test_bookmarks_error_events_and_compaction_give_410(server: Server) -> None:
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=100&allowWatchBookmarks=true")
    server.post("/_control/event", {"type": "BOOKMARK"})
    event = watch.next()
    assert event == {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                                                    "metadata": {"resourceVersion": "101"}}}
    server.post("/_control/event", {"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                                                "reason": "Expired"}})
    assert watch.next()["object"]["code"] == 410
    assert watch.next() is None  # the stream ends after an ERROR
    server.post("/_control/compact")
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=101")
    event = watch.next()
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"
    assert watch.next() is None
    # The current version still watches fine.
    _, body = server.get("/api/v1/pods")
    watch = server.watch(f"/api/v1/pods?watch=1&resourceVersion={body['metadata']['resourceVersion']}")
    server.post("/_control/event", {"type": "ADDED", "object": pod("web-9", app="web")})
    assert watch.next()["type"] == "ADDED"
    watch.close()


def test_timeout_and_close_watches_end_the_stream(server: Server) -> None:
    started = time.monotonic()
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=100&timeoutSeconds=1")
    assert list(watch.events()) == []
    assert 0.8 < time.monotonic() - started < 5
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=100")
    server.post("/_control/close-watches")
    assert watch.next() is None


def test_control_file_lines_become_events(server: Server) -> None:
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=100")
    with server.control.open("a") as handle:
        handle.write(json.dumps({"type": "ADDED", "object": pod("from-file", app="x")}) + "\n")
    event = watch.next()
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "from-file"
    watch.close()


def test_injected_failures_and_recorded_requests(server: Server) -> None:
    server.post("/_control/fail", {"status": 503, "count": 1})
    status, body = server.get("/api/v1/pods")
    assert status == 503 and body["kind"] == "Status"
    status, _ = server.get("/api/v1/pods?labelSelector=app%3Dweb")
    assert status == 200
    _, requests = server.get("/_control/requests")
    assert [r["query"] for r in requests] == [{}, {"labelSelector": "app=web"}]


def test_require_token(tmp_path: Path) -> None:
    running = Server(tmp_path, "--require-token", "s3cret")
    try:
        status, body = running.get("/api/v1/pods")
        assert status == 401 and body["reason"] == "Unauthorized"
        status, body = running.get("/api/v1/pods", headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and len(body["items"]) == 4
    finally:
        assert running.stop() == 0


def test_rejects_a_file_that_is_not_a_pod_list(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"items": []}))
    result = subprocess.run([sys.executable, str(SERVER), "--pods", str(bad)], capture_output=True, text=True,
                            timeout=20)
    assert result.returncode != 0 and "PodList" in result.stderr


def test_a_merge_patch_sets_and_removes_annotations_and_is_a_modified_event(server: Server) -> None:
    watch = server.watch("/api/v1/pods?watch=1&resourceVersion=0&fieldSelector=spec.nodeName%3Dnode-1")
    try:
        merge = {"Content-Type": "application/merge-patch+json"}
        status, pod_after = server.request(
            "PATCH", "/api/v1/namespaces/default/pods/web-1",
            {"metadata": {"annotations": {"chaos.experiment/active": "true", "chaos.experiment/name": "x"}}},
            headers=merge)
        assert status == 200
        assert pod_after["metadata"]["annotations"] == {"chaos.experiment/active": "true", "chaos.experiment/name": "x"}
        status, pod_after = server.request(
            "PATCH", "/api/v1/namespaces/default/pods/web-1",
            {"metadata": {"annotations": {"chaos.experiment/active": "false", "chaos.experiment/name": None}}},
            headers=merge)
        assert pod_after["metadata"]["annotations"] == {"chaos.experiment/active": "false"}
        modified: list[dict] = []
        while len(modified) < 2 and (event := watch.next()) is not None:
            if event["type"] == "MODIFIED":
                modified.append(event)
        assert [e["object"]["metadata"]["annotations"].get("chaos.experiment/name") for e in modified] == ["x", None]
        assert server.request("PATCH", "/api/v1/namespaces/default/pods/nope", {}, headers=merge)[0] == 404
        assert server.request("PATCH", "/api/v1/namespaces/default/pods/web-1", {})[0] == 415
    finally:
        watch.close()
