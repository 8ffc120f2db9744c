#!/usr/bin/env python3
"""One-way UDP delay between two network namespaces of one kernel, for faultline's VM tests.

receive: collect datagrams until COUNT arrived or nothing came for --idle seconds, then print one
JSON line {received, delay_ms: {min, median, p90, max}}.  send: send COUNT datagrams every
INTERVAL ms, each stamped with CLOCK_MONOTONIC at sending.  Every network namespace of a kernel
reads the same CLOCK_MONOTONIC, so arrival minus stamp is the one-way delay of that direction
(udp_probe.py measures round trips, which cannot tell ingress from egress shaping).
"""
import argparse
import json
import select
import socket
import statistics
import struct
import time


def receive(bind: str, port: int, count: int, idle: float) -> dict:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    delays = []
    while len(delays) < count:
        ready, _, _ = select.select([sock], [], [], idle)
        if not ready:
            break
        data = sock.recv(2048)
        now = time.monotonic_ns()
        delays.append((now - struct.unpack("!Q", data[:8])[0]) / 1e6)
    values = sorted(delays)
    result = {"received": len(values)}
    if values:
        result["delay_ms"] = {
            "min": values[0],
            "median": statistics.median(values),
            "p90": values[int(0.9 * (len(values) - 1))],
            "max": values[-1],
        }
    return result


def send(target: str, port: int, count: int, interval_ms: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for seq in range(count):
        due = start + seq * interval_ms / 1000
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        sock.sendto(struct.pack("!QI", time.monotonic_ns(), seq) + b"x" * 52, (target, port))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("receive")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, default=7778)
    r.add_argument("--count", type=int, default=100)
    r.add_argument("--idle", type=float, default=5)
    s = sub.add_parser("send")
    s.add_argument("--target", required=True)
    s.add_argument("--port", type=int, default=7778)
    s.add_argument("--count", type=int, default=100)
    s.add_argument("--interval-ms", type=float, default=5)
    args = parser.parse_args()
    if args.mode == "receive":
        print(json.dumps(receive(args.bind, args.port, args.count, args.idle)), flush=True)
    else:
        send(args.target, args.port, args.count, args.interval_ms)


if __name__ == "__main__":
    main()
