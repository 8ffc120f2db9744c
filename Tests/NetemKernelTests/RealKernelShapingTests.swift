import FaultModel
import Foundation
import Glibc
import Testing

@testable import NetemKernel

/// Two peers behind one interface: `va` in namespace `a` (192.0.2.1, 2001:db8::1) is joined to `vb`
/// in namespace `b`, which holds two addresses per family (peer 1: 192.0.2.2, 2001:db8::2; peer 2:
/// 192.0.2.3, 2001:db8::3) and one UDP echo server on all four, ports 7777 and 7778.
final class TwoPeerNetwork {
  let a: String
  let b: String
  static let peers4 = ["192.0.2.2", "192.0.2.3"]
  static let peers6 = ["2001:db8::2", "2001:db8::3"]

  init() throws {
    let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    a = "fl-sa-\(tag)"
    b = "fl-sb-\(tag)"
    try must(["ip", "netns", "add", a])
    try must(["ip", "netns", "add", b])
    try must(["ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b])
    try must(["ip", "-n", a, "addr", "add", "192.0.2.1/24", "dev", "va"])
    try must(["ip", "-n", a, "addr", "add", "2001:db8::1/64", "dev", "va", "nodad"])
    for address in Self.peers4 { try must(["ip", "-n", b, "addr", "add", "\(address)/24", "dev", "vb"]) }
    for address in Self.peers6 {
      try must(["ip", "-n", b, "addr", "add", "\(address)/64", "dev", "vb", "nodad"])
    }
    for (ns, dev) in [(a, "va"), (b, "vb"), (a, "lo"), (b, "lo")] {
      try must(["ip", "-n", ns, "link", "set", dev, "up"])
    }
    let echo = Process()
    echo.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    echo.arguments =
      ["ip", "netns", "exec", b, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "server"]
      + (Self.peers4 + Self.peers6).flatMap { ["--bind", $0] } + ["--port", "7777", "--port", "7778"]
    try echo.run()
    Thread.sleep(forTimeInterval: 1.5)
  }

  var target: FaultTarget { FaultTarget(interface: "va", namespace: .named(a)) }

  /// Median RTT (ms) and loss (%) from `a` to `peer`.
  func probe(_ peer: String, port: Int = 7777, count: Int = 100, intervalMs: Double = 5) throws
    -> (median: Double, loss: Double)
  {
    let out = try must([
      "ip", "netns", "exec", a, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "client", "--target",
      peer,
      "--port", String(port), "--count", String(count), "--interval-ms", String(intervalMs),
    ])
    let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
    let rtt = json["rtt_ms"] as? [String: Double] ?? [:]
    return (rtt["median"] ?? .infinity, json["loss_pct"] as? Double ?? 100)
  }

  /// `tc -n a ARGS…`, trimmed.
  func tc(_ arguments: [String]) throws -> String {
    try must(["tc", "-n", a] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func close() {
    for ns in [a, b] { _ = try? run(["sh", "-c", "ip netns pids \(ns) | xargs -r kill -9"]) }
    _ = try? run(["ip", "netns", "del", a])
    _ = try? run(["ip", "netns", "del", b])
  }
}

/// Collects samples from a concurrent task.
/// A socket a test thread uses on its own.
private final class OwnSocket: @unchecked Sendable {
  let socket: NetlinkSocket
  init(_ socket: NetlinkSocket) { self.socket = socket }
}

private final class Samples<T: Sendable>: @unchecked Sendable {
  private let lock = NSLock()
  private var values: [T] = []
  private var stopped = false
  func add(_ value: T) { lock.withLock { values.append(value) } }
  func stop() { lock.withLock { stopped = true } }
  var isStopped: Bool { lock.withLock { stopped } }
  var all: [T] { lock.withLock { values } }
}

extension RealKernel {
  /// Targeted faults (prio root, netem child, flower filters) on the real kernel, measured on the wire.
  @Suite struct RealKernelShapingTests {
    /// The most a spared peer's median may reach, in ms, while the faulted one gains 50 ms: a fifth
    /// of the delay. Its distance from its own baseline is a timing, which TCG on a loaded machine
    /// stretches by milliseconds; being far below the delay is the effect.
    private static let spared = 10.0

    private func fault(_ flags: [(String, String)]) throws -> NetemFault {
      var f = NetemFault()
      for (key, value) in flags { try f.set(key, to: value) }
      return try f.validated()
    }

    private func host(_ text: String, _ proto: IPProtocolMatch? = nil, _ ports: PortSpan? = nil) throws
      -> FlowMatch
    {
      FlowMatch(prefix: try IPPrefix(parsing: text), ipProtocol: proto, ports: ports)
    }

    /// Delay toward peer 1 of `peers` only: peer 1 gains it, peer 2 stays at its baseline.
    private func delayReachesOnlyTheSelectedPeer(_ peers: [String], family: String) async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let baseline = try peers.map { try net.probe($0) }
      let kernel = NetemKernel()
      let shape = TrafficShape(faulted: [try host(peers[0])])
      let report = try await kernel.applyShaped(
        try fault([("delay", "50ms")]), shape: shape, to: net.target)
      #expect(report.applied.latency == 50_000_000)
      let after = try peers.map { try net.probe($0) }
      print(
        "measured: \(family) egress by CIDR, delay 50ms to \(peers[0]): median \(after[0].median) ms "
          + "(baseline \(baseline[0].median) ms); \(peers[1]): \(after[1].median) ms (baseline \(baseline[1].median) ms)"
      )
      #expect((45...90).contains(after[0].median), "selected peer median \(after[0].median) ms")
      #expect(after[1].median < Self.spared, "other peer \(after[1].median) vs \(baseline[1].median)")
      #expect(try await kernel.readShape(net.target, expectedInode: nil) == shape)
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func ipv4DelayByCIDRReachesOnlyTheSelectedPeer() async throws {
      try await delayReachesOnlyTheSelectedPeer(TwoPeerNetwork.peers4, family: "IPv4")
    }

    @Test func ipv6DelayByCIDRReachesOnlyTheSelectedPeer() async throws {
      try await delayReachesOnlyTheSelectedPeer(TwoPeerNetwork.peers6, family: "IPv6")
    }

    @Test func lossTowardOnePeerSparesTheOther() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      _ = try await kernel.applyShaped(
        try fault([("loss", "20%")]), shape: TrafficShape(faulted: [try host("192.0.2.2/32")]), to: net.target
      )
      let lossy = try net.probe("192.0.2.2", count: 500, intervalMs: 2)
      let clean = try net.probe("192.0.2.3", count: 500, intervalMs: 2)
      print("measured: loss 20% toward 192.0.2.2 lost \(lossy.loss)% of 500; toward 192.0.2.3 \(clean.loss)%")
      #expect((12...28).contains(lossy.loss), "loss \(lossy.loss)%")
      #expect(clean.loss <= 1, "other peer loss \(clean.loss)%")
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func aPortMatchDelaysOnePortOfAPeerAndNotAnother() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let baseline = try net.probe("192.0.2.2", port: 7778)
      let kernel = NetemKernel()
      _ = try await kernel.applyShaped(
        try fault([("delay", "50ms")]),
        shape: TrafficShape(faulted: [try host("192.0.2.0/24", .udp, PortSpan(7777, 7777))]), to: net.target)
      let delayed = try net.probe("192.0.2.2", port: 7777)
      let other = try net.probe("192.0.2.2", port: 7778)
      print(
        "measured: udp dst_port 7777 delayed 50ms: median \(delayed.median) ms; port 7778 \(other.median) ms "
          + "(baseline \(baseline.median) ms)")
      #expect((45...90).contains(delayed.median))
      #expect(other.median < Self.spared, "port 7778 \(other.median) vs \(baseline.median)")
      // A range of ports is its own pair of keys: 7777-7778 catches both.
      _ = try await kernel.applyShaped(
        try fault([("delay", "50ms")]),
        shape: TrafficShape(faulted: [try host("192.0.2.2", .udp, PortSpan(7777, 7778))]), to: net.target)
      let ranged = try net.probe("192.0.2.2", port: 7778)
      print("measured: udp dst_port 7777-7778 delayed 50ms: port 7778 median \(ranged.median) ms")
      #expect((45...90).contains(ranged.median))
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func anExcludedHostInsideTheFaultedCIDRIsNotDelayed() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let baseline = try net.probe("192.0.2.3")
      let kernel = NetemKernel()
      let shape = TrafficShape(
        faulted: [try host("192.0.2.0/24"), try host("2001:db8::/64")], excluded: [try host("192.0.2.3")])
      _ = try await kernel.applyShaped(try fault([("delay", "50ms")]), shape: shape, to: net.target)
      let delayed = try net.probe("192.0.2.2")
      let excluded = try net.probe("192.0.2.3")
      let delayed6 = try net.probe("2001:db8::3")
      print(
        "measured: 192.0.2.0/24 minus 192.0.2.3/32 delayed 50ms: .2 median \(delayed.median) ms, "
          + ".3 \(excluded.median) ms (baseline \(baseline.median) ms), 2001:db8::3 \(delayed6.median) ms")
      #expect((45...90).contains(delayed.median))
      #expect(excluded.median < Self.spared, "excluded \(excluded.median) vs \(baseline.median)")
      #expect((45...90).contains(delayed6.median))
      #expect(try await kernel.readShape(net.target, expectedInode: nil) == shape)
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func reshapeMovesTheDelayWhileTheNetemStaysOn() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      let (identity, _) = try await kernel.resolve(net.target)
      let toPeer1 = TrafficShape(faulted: [try host("192.0.2.2")])
      let toPeer2 = TrafficShape(faulted: [try host("192.0.2.3")])
      let report = try await kernel.applyShaped(
        try fault([("delay", "50ms")]), shape: toPeer1, to: net.target, expectedInode: identity.inode)
      let before = (try net.probe("192.0.2.2"), try net.probe("192.0.2.3"))

      // Sample the kernel's state (what `tc qdisc show` and `tc filter show` print) while reshaping,
      // from a thread of its own with a socket of its own: the kernel preempts it between any two of
      // the reshapes' requests, which all go over faultline's one socket for the namespace.
      let samples = Samples<(TargetInspection, Int)>()
      let (_, ifindex) = try await kernel.resolve(net.target)
      let sampler = try await NamespaceThread.run(in: net.target.namespace) { _ in
        OwnSocket(try NetlinkSocket())
      }
      let finished = DispatchSemaphore(value: 0)
      Thread {
        while !samples.isStopped {
          guard let tree = try? NetemKernel.readTree(sampler.socket, ifindex: ifindex, interface: "va") else {
            continue
          }
          let netem = tree.netem.flatMap { try? NetemParameters(decodingOptions: $0.options) }
          let faulted = ShapedTree.shape(of: tree.filters.compactMap(\.flower))?.faulted.count ?? 0
          samples.add((netem.map(TargetInspection.faultline) ?? .none, faulted))
        }
        finished.signal()
      }.start()
      for _ in 0..<5 {
        try await kernel.reshape(toPeer2, on: net.target, expectedInode: identity.inode)
        try await kernel.reshape(toPeer1, on: net.target, expectedInode: identity.inode)
      }
      try await kernel.reshape(toPeer2, on: net.target, expectedInode: identity.inode)
      samples.stop()
      finished.wait()
      let seen = samples.all
      print("measured: \(seen.count) kernel samples during 11 reshapes")
      #expect(seen.count > 0)
      #expect(seen.allSatisfy { $0.0 == .faultline(report.applied) }, "the netem went away at some point")
      #expect(seen.allSatisfy { $0.1 >= 1 }, "a moment without a faulted filter")
      #expect(try await kernel.readShape(net.target, expectedInode: identity.inode) == toPeer2)
      let after = (try net.probe("192.0.2.2"), try net.probe("192.0.2.3"))
      print(
        "measured: reshape peer1 → peer2, delay 50ms: before .2 \(before.0.median) ms, .3 \(before.1.median) ms; "
          + "after .2 \(after.0.median) ms, .3 \(after.1.median) ms")
      #expect((45...90).contains(before.0.median) && before.1.median < Self.spared)
      #expect(after.0.median < Self.spared && (45...90).contains(after.1.median))
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func revertLeavesTheKernelDefaultAndNoFilters() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      _ = try await kernel.applyShaped(
        try fault([("delay", "10ms")]),
        shape: TrafficShape(faulted: [try host("192.0.2.2"), try host("2001:db8::2")]), to: net.target)
      #expect(try net.tc(["qdisc", "show", "dev", "va"]).contains("qdisc netem fa18: parent fa17:2"))
      #expect(try await kernel.revert(net.target) == .removed)
      #expect(try net.tc(["qdisc", "show", "dev", "va"]).hasPrefix("qdisc noqueue 0: root"))
      #expect(try net.tc(["filter", "show", "dev", "va"]).isEmpty)
      #expect(try await kernel.inspect(net.target, expectedInode: nil) == .none)
      #expect(try await kernel.readShape(net.target, expectedInode: nil) == nil)
    }

    @Test func theTreeIsWhatTheEquivalentTcCommandsBuild() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      try must(["ip", "-n", net.a, "link", "add", "vc", "type", "veth", "peer", "name", "vd"])
      let kernel = NetemKernel()
      let requested = try fault([("delay", "20ms"), ("loss", "1%")])
      let shape = TrafficShape(
        faulted: [
          try host("10.0.0.0/8", .udp, PortSpan(5000, 5010)), try host("192.0.2.2", .tcp, PortSpan(443, 443)),
          try host("2001:db8::/64", .icmp), try host("0.0.0.0/0", .icmp),
        ],
        excluded: [try host("10.1.2.3")], side: .source)
      _ = try await kernel.applyShaped(requested, shape: shape, to: net.target)
      for command in NetemKernel.tcCommands(for: requested, shape: shape, interface: "vc") {
        try must(["sh", "-c", command.replacingOccurrences(of: "tc ", with: "tc -n \(net.a) ")])
      }
      let ours = try net.tc(["-d", "filter", "show", "dev", "va"])
      let theirs = try net.tc(["-d", "filter", "show", "dev", "vc"])
      print("tc filter show of faultline's tree:\n\(ours)")
      #expect(ours == theirs, "faultline:\n\(ours)\ntc:\n\(theirs)")
      let qdiscs = { (dev: String) throws in
        try net.tc(["qdisc", "show", "dev", dev]).replacingOccurrences(of: "refcnt 2 ", with: "")
      }
      #expect(try qdiscs("va") == qdiscs("vc"))
      #expect(try await kernel.readShape(net.target, expectedInode: nil) == shape)
      #expect(
        try await kernel.readShape(FaultTarget(interface: "vc", namespace: .named(net.a)), expectedInode: nil)
          == shape)
    }

    @Test func plainAndTargetedFaultsReplaceEachOtherAndInspectReadsBoth() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      let plain = try await kernel.apply(try fault([("delay", "10ms")]), to: net.target)
      let shaped = try await kernel.applyShaped(
        try fault([("delay", "30ms")]), shape: TrafficShape(faulted: [try host("192.0.2.2")]), to: net.target)
      #expect(shaped.plan.previous?.kind == "netem" && shaped.plan.replacing == nil)
      #expect(try await kernel.inspect(net.target, expectedInode: nil) == .faultline(shaped.applied))
      // In place: the netem is tuned and the filters swapped.
      let retuned = try await kernel.applyShaped(
        try fault([("delay", "40ms")]), shape: TrafficShape(faulted: [try host("192.0.2.3")]), to: net.target)
      #expect(retuned.applied.latency == 40_000_000)
      #expect(try net.tc(["filter", "show", "dev", "va"]).contains("dst_ip 192.0.2.3"))
      #expect(try !net.tc(["filter", "show", "dev", "va"]).contains("dst_ip 192.0.2.2"))
      let back = try await kernel.apply(try fault([("delay", "10ms")]), to: net.target)
      #expect(back.applied == plain.applied)
      #expect(try net.tc(["qdisc", "show", "dev", "va"]).hasPrefix("qdisc netem fa17: root"))
      #expect(try net.tc(["filter", "show", "dev", "va"]).isEmpty)
      #expect(try await kernel.readShape(net.target, expectedInode: nil) == nil)
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func aTamperedFilterShowsInTheReadBackAndReshapeRestoresIt() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      let shape = TrafficShape(faulted: [try host("192.0.2.2"), try host("192.0.2.3")])
      _ = try await kernel.applyShaped(try fault([("delay", "10ms")]), shape: shape, to: net.target)
      let pref = try net.tc(["filter", "show", "dev", "va"]).contains("pref 1000") ? "1000" : "11000"
      try must(["tc", "-n", net.a, "filter", "del", "dev", "va", "parent", "fa17:", "pref", pref])
      let tampered = try await kernel.readShape(net.target, expectedInode: nil)
      #expect(tampered != shape && tampered?.faulted.count == 1)
      try await kernel.reshape(shape, on: net.target, expectedInode: nil)
      #expect(try await kernel.readShape(net.target, expectedInode: nil) == shape)
      #expect(try await kernel.revert(net.target) == .removed)
    }

    @Test func aForeignRootIsRefusedWithoutForceAndRestoredAfterATargetedFault() async throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      try must([
        "tc", "-n", net.a, "qdisc", "add", "dev", "va", "root", "handle", "8001:", "tbf", "rate", "1mbit",
        "burst",
        "32kb", "latency", "400ms",
      ])
      let before = try net.tc(["qdisc", "show", "dev", "va"])
      let kernel = NetemKernel()
      let shape = TrafficShape(faulted: [try host("192.0.2.2")])
      await #expect(throws: KernelError.self) {
        _ = try await kernel.applyShaped(try fault([("delay", "10ms")]), shape: shape, to: net.target)
      }
      #expect(try net.tc(["qdisc", "show", "dev", "va"]) == before)
      let report = try await kernel.applyShaped(
        try fault([("delay", "10ms")]), shape: shape, to: net.target, force: true)
      #expect(report.plan.replacing?.kind == "tbf")
      let outcome = try await kernel.revert(net.target, restoring: report.plan.replacing)
      guard case .restored = outcome else { throw TestFailure("expected restore, got \(outcome)") }
      #expect(try net.tc(["qdisc", "show", "dev", "va"]) == before)
      #expect(try net.tc(["filter", "show", "dev", "va"]).isEmpty)
    }
  }
}
