#!/usr/bin/env python3
"""UDP echo server and RTT/loss prober for faultline's real-kernel tests.

server: echo every datagram back.  client: send COUNT probes every INTERVAL ms, wait for
stragglers, print one JSON line {sent, received, loss_pct, rtt_ms: {min, median, p90, max}}.
Only used between network namespaces the tests create themselves.
"""
import argparse
import json
import select
import socket
import statistics
import struct
import time


def family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def serve(binds: list[str], ports: list[int]) -> None:
    """Echo on every (address, port) pair: one process stands in for several peers."""
    socks = []
    for bind in binds:
        for port in ports:
            sock = socket.socket(family(bind), socket.SOCK_DGRAM)
            sock.bind((bind, port))
            socks.append(sock)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for sock in ready:
            data, peer = sock.recvfrom(2048)
            sock.sendto(data, peer)


def probe(target: str, port: int, count: int, interval_ms: float, wait_s: float) -> dict:
    sock = socket.socket(family(target), socket.SOCK_DGRAM)
    sock.setblocking(False)
    sent_at: dict[int, float] = {}
    rtts: dict[int, float] = {}

    def drain(timeout: float) -> None:
        while True:
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return
            now = time.monotonic()
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                return
            seq = struct.unpack("!I", data[:4])[0]
            if seq in sent_at and seq not in rtts:
                rtts[seq] = (now - sent_at[seq]) * 1000
            timeout = 0

    start = time.monotonic()
    for seq in range(count):
        due = start + seq * interval_ms / 1000
        while (now := time.monotonic()) < due:
            drain(due - now)
        sent_at[seq] = time.monotonic()
        sock.sendto(struct.pack("!I", seq) + b"x" * 60, (target, port))
    deadline = time.monotonic() + wait_s
    while (now := time.monotonic()) < deadline:
        drain(deadline - now)
    values = sorted(rtts.values())
    result = {"sent": count, "received": len(values), "loss_pct": 100.0 * (count - len(values)) / count}
    if values:
        result["rtt_ms"] = {
            "min": values[0],
            "median": statistics.median(values),
            "p90": values[int(0.9 * (len(values) - 1))],
            "max": values[-1],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", action="append", required=True, help="address to echo on (repeatable)")
    s.add_argument("--port", type=int, action="append", help="port to echo on (repeatable; default 7777)")
    c = sub.add_parser("client")
    c.add_argument("--target", required=True)
    c.add_argument("--port", type=int, default=7777)
    c.add_argument("--count", type=int, default=200)
    c.add_argument("--interval-ms", type=float, default=5)
    c.add_argument("--wait", type=float, default=1.5)
    args = parser.parse_args()
    if args.mode == "server":
        serve(args.bind, args.port or [7777])
    else:
        print(json.dumps(probe(args.target, args.port, args.count, args.interval_ms, args.wait)), flush=True)


if __name__ == "__main__":
    main()
