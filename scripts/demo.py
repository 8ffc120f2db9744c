#!/usr/bin/env python3
"""The driver of `make demo` (started by scripts/demo inside the client namespace).

Runs a real OTLP receiver in this namespace, a small traced application (gateway and frontend in
the demo pod, behind the Python middleware; backend here, so the frontend's calls cross the
faulted eth0), `faultline run` on one profile, and UDP probes to the demo pod's echo service;
prints the steps, a summary, and `faultline analyze` of the window: what the fault did to the
application, from its traces. Exit status 0 only when the fault was measured during the window,
both spans arrived, analyze found the window, and nothing was left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from udp_probe import probe  # noqa: E402

BOLD, DIM, GREEN, RED, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m"
if not sys.stdout.isatty() or os.environ.get("TERM", "dumb") == "dumb":
    BOLD = DIM = GREEN = RED = RESET = ""
SPARK = "▁▂▃▄▅▆▇█"


def step(title: str) -> None:
    print(f"\n{BOLD}{title}{RESET}", flush=True)


def measure(target: str, port: int, count: int = 25, interval_ms: float = 20) -> dict:
    return probe(target, port, count, interval_ms, 0.6)


def median(result: dict) -> float:
    return result.get("rtt_ms", {}).get("median", float("nan"))


def read_spans(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def show_span(span: dict) -> None:
    duration_ms = (span["end_ns"] - span["start_ns"]) / 1e6
    print(f"  {GREEN}{span['name']}{RESET}  trace {span['trace_id']}  span {span['span_id']}"
          f"  parent {span['parent_span_id'] or '-'}  {duration_ms:.1f} ms  ({span['protocol']})")
    for key in sorted(span["attributes"]):
        if key.startswith(("chaos.experiment.", "network.")):
            print(f"    {key} = {json.dumps(span['attributes'][key])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faultline", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT of the pod's UDP echo")
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    port = int(port)
    work = Path(args.work)
    profiles = work / "profiles"
    profiles.mkdir()
    shutil.copy(args.profile, profiles)
    annotations = work / "annotations"
    spans_file = work / "spans.jsonl"
    otlp_file = work / "otlp.json"
    children: list[subprocess.Popen] = []
    app_inputs: list = []

    def stop_all() -> None:
        for pipe in app_inputs:
            if not pipe.closed:
                pipe.close()
        for child in children:
            if child.poll() is None:
                child.kill()

    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        receiver = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "peers" / "otlp_receiver.py"), "--grpc-port", "0",
             "--http-port", "0", "--out", str(spans_file), "--file", str(otlp_file), "--ready-file",
             str(work / "ready.json"), "--host", "0.0.0.0"],
            stdout=subprocess.DEVNULL)
        children.append(receiver)
        ports = wait_for(lambda: (work / "ready.json").exists() and json.loads((work / "ready.json").read_text()), 60)
        if not ports:
            print("demo: the OTLP receiver did not start", file=sys.stderr)
            return 1

        annotations.write_text('chaos.experiment/active="false"\n')
        print("  starting the traced application: gateway → frontend (in the pod) → backend (here) …",
              flush=True)
        app = Path(__file__).parent / "peers" / "traced_app.py"
        grpc = ports["grpc"]
        roles = [
            ([], ["backend", "--endpoint", f"http://127.0.0.1:{grpc}", "--bind", "10.99.0.1", "--port", "8080"]),
            (["ip", "netns", "exec", "fl-demo-pod"],
             ["frontend", "--endpoint", f"http://10.99.0.1:{grpc}", "--port", "8081",
              "--backend", "http://10.99.0.1:8080", "--annotations", str(annotations)]),
            (["ip", "netns", "exec", "fl-demo-pod"],
             ["gateway", "--endpoint", f"http://10.99.0.1:{grpc}", "--target", "http://127.0.0.1:8081",
              "--interval", "0.2"]),
        ]
        for prefix, role in roles:
            child = subprocess.Popen(prefix + [sys.executable, str(app)] + role, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
            children.append(child)
            app_inputs.append(child.stdin)
            if '"ready": true' not in (child.stdout.readline() if child.stdout else ""):
                print(f"demo: traced_app {role[0]} did not start", file=sys.stderr)
                return 1

        step("1. baseline")
        measure(host, port, 5)  # warm up ARP
        baseline = measure(host, port, 50)
        print(f"  RTT to the pod (UDP echo, 50 probes): median {median(baseline):.2f} ms, "
              f"loss {baseline['loss_pct']:.0f}%")
        print(f"  profile {args.profile}:")
        for line in Path(args.profile).read_text().splitlines():
            if line and not line.startswith("#"):
                print(f"    {DIM}{line}{RESET}")

        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{ports['grpc']}",
                   OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_BSP_SCHEDULE_DELAY="200",
                   OTEL_SERVICE_NAME="faultline-demo")
        log = open(work / "faultline.log", "w")
        daemon = subprocess.Popen(
            [args.faultline, "run", "--profiles", str(profiles), "--state-dir", str(work / "state"),
             "--annotations", str(annotations)], env=env, stdout=log, stderr=log)
        children.append(daemon)
        print(f"  faultline run started (pid {daemon.pid}); the profile fires 20 s after start …", flush=True)

        def annotation_state() -> str:
            try:
                return annotations.read_text()
            except FileNotFoundError:
                return ""

        active = wait_for(lambda: 'active="true"' in annotation_state() and annotation_state(), 60)
        if not active:
            print(f"{RED}demo: the window never opened{RESET}; log:\n" + (work / "faultline.log").read_text())
            return 1
        step("2. the window starts")
        print(f"  {annotations} (what app middleware reads):")
        for line in active.splitlines():
            print(f"    {line}")
        print("  live, 25 probes every ~0.6 s:")
        print(f"    {'t':>6}  {'RTT p50':>9}  {'loss':>5}")
        during: list[dict] = []
        started = time.monotonic()
        while 'active="true"' in annotation_state():
            result = measure(host, port)
            if 'active="true"' not in annotation_state():
                break
            during.append(result)
            rtts = [median(r) for r in during if "rtt_ms" in r]
            top = max(rtts) if rtts else 1
            spark = "".join(SPARK[min(7, int(v / top * 7))] for v in rtts)
            print(f"    {time.monotonic() - started:5.1f}s  {median(result):7.1f}ms  {result['loss_pct']:4.0f}%  {spark}",
                  flush=True)
        inject = wait_for(lambda: next((s for s in read_spans(spans_file) if s["name"] == "chaos.inject"), None), 10)
        print("  received by the OTLP receiver:")
        if inject:
            show_span(inject)

        step("3. the window ends")
        after = measure(host, port, 50)
        print(f"  RTT after revert: median {median(after):.2f} ms, loss {after['loss_pct']:.0f}%")
        revert = wait_for(lambda: next((s for s in read_spans(spans_file) if s["name"] == "chaos.revert"), None), 10)
        if revert:
            show_span(revert)
        print(f"  {annotations}: {annotation_state().strip()}")

        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        # The application stops (its stdin closes) and flushes its last spans.
        for pipe in app_inputs:
            pipe.close()
        for child in children[1:]:
            child.wait(30)
        time.sleep(1)
        experiment = wait_for(
            lambda: next((s for s in read_spans(spans_file) if s["name"] == "chaos.experiment"), None), 10)
        qdisc = subprocess.run(["ip", "netns", "exec", "fl-demo-pod", "tc", "qdisc", "show", "dev", "eth0"],
                               capture_output=True, text=True).stdout.strip()
        journal = list((work / "state" / "active").glob("*.json")) if (work / "state" / "active").exists() else []

        step("4. summary")
        all_during = [r for r in during if "rtt_ms" in r]
        sent = sum(r["sent"] for r in during)
        received = sum(r["received"] for r in during)
        measured_delay = sorted(median(r) for r in all_during)[len(all_during) // 2] if all_during else float("nan")
        measured_loss = 100.0 * (sent - received) / sent if sent else float("nan")
        added = measured_delay - median(baseline)
        rows = [
            ("delay", "150 ms ±10 ms", f"+{added:.1f} ms (RTT {median(baseline):.1f} → {measured_delay:.1f} ms)"),
            ("loss", "10 %", f"{measured_loss:.1f} % of {sent} probes"),
            ("after revert", "back to baseline", f"RTT {median(after):.1f} ms, loss {after['loss_pct']:.0f} %"),
            ("spans", "experiment, inject, revert",
             ", ".join(s["name"] for s in (experiment, inject, revert) if s) or "none"),
            ("left behind", "nothing",
             f"qdisc: {qdisc.split(' ')[1] if qdisc else 'none'}; journal: {len(journal)} entries; "
             f"faultline exit {daemon.returncode}"),
        ]
        print(f"  {'':14} {'requested':28} measured")
        for name, want, got in rows:
            print(f"  {name:14} {want:28} {got}")
        # Keep the received spans for the record (the VM shares .build-vm/out with the host).
        keep = Path(args.faultline).parent / "otlp.json"
        if otlp_file.exists():
            shutil.copy(otlp_file, keep)
            print(f"  spans as received (the Collector's file format): {keep}")

        step("5. what the fault did to the application (faultline analyze)")
        name = next(
            (line.split(":", 1)[1].strip() for line in Path(args.profile).read_text().splitlines()
             if line.startswith("name:")), "")
        print(f"  $ faultline analyze otlp.json --experiment {name} --fail-if 'p99 > +50%'")
        analysis = subprocess.run(
            [args.faultline, "analyze", str(otlp_file), "--experiment", name, "--fail-if", "p99 > +50%"],
            capture_output=True, text=True)
        for line in (analysis.stdout + analysis.stderr).rstrip().splitlines():
            print(f"  {line}")
        print(f"  (exit {analysis.returncode}: the verdict fails, as a 150 ms fault should make it)")
        ok = (
            100 <= added <= 250 and 2 <= measured_loss <= 25 and inject and revert and experiment
            and "netem" not in qdisc and not journal and daemon.returncode == 0
            and 'active="false"' in annotation_state() and analysis.returncode == 1
        )
        print(f"\n{GREEN if ok else RED}{'demo passed' if ok else 'demo FAILED'}{RESET}: "
              "fault applied over netlink (no tc), measured, traced, published, reverted and analysed.")
        return 0 if ok else 1
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
