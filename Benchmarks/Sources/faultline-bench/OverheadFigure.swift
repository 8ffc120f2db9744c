import FaultModel
import Foundation
@_spi(Benchmarks) import NetemKernel
import RawNetlink

/// One way to put a root qdisc on and take it off: faultline's calls, and the kind and options the raw
/// sender sends for the same change.
struct ApplyWay: Sendable {
  /// `netem`, or `tbf` (the host's stand-in: it has no netem).
  var kind: String
  /// The `TCA_OPTIONS` faultline sends, byte for byte.
  var options: [UInt8]
  var apply: @Sendable (FaultTarget) async throws -> Void
  var revert: @Sendable (FaultTarget) async throws -> Void

  /// ``NetemKernel/apply(_:to:expectedInode:force:prepare:)`` of the benchmark fault.
  static func netem(_ kernel: NetemKernel) -> ApplyWay {
    ApplyWay(
      kind: "netem",
      options: NetemParameters(BenchFault.fault, distribution: DistributionTable.uniform).encodedOptions(),
      apply: { _ = try await kernel.apply(BenchFault.fault, to: $0) },
      revert: { _ = try await kernel.revert($0) })
  }

  /// A tbf through every step of an apply (``NetemKernel/applyTokenBucketProxy(bytesPerSecond:to:)``),
  /// on a kernel without netem.
  static func tokenBucket(_ kernel: NetemKernel, probe target: FaultTarget) async throws -> ApplyWay {
    let rate: UInt32 = 125_000
    let options = try await kernel.applyTokenBucketProxy(bytesPerSecond: rate, to: target)
    _ = try await kernel.revertTokenBucketProxy(target)
    return ApplyWay(
      kind: "tbf", options: options,
      apply: { _ = try await kernel.applyTokenBucketProxy(bytesPerSecond: rate, to: $0) },
      revert: { _ = try await kernel.revertTokenBucketProxy($0) })
  }
}

/// `PREFIX_*`: faultline's apply and revert against the raw netlink floor, the same requests sent by
/// a minimal C sender (RawSender), in the same run on the same veth.
///
/// Warm: the namespace's netlink socket is open on both sides (faultline keeps it while a fault of its
/// own is in the namespace, here one on the veth's other end; the raw sender opened it once). That is
/// every apply in an open window: a re-apply, a reshape, a second interface. Cold: the first apply in a
/// namespace, which opens the socket (faultline: a worker thread enters the namespace; raw: `setns` on
/// its own thread) and whose revert closes it again.
enum OverheadFigure {
  static func measure(
    _ namespaces: BenchNamespaces, way: ApplyWay, prefix: String, iterations: Int, warmup: Int,
    blocks: Int = 4
  ) async throws -> (figures: [String: Any], details: [String: Any]) {
    let target = namespaces.target(0)
    let holder = FaultTarget(interface: "fb1", namespace: target.namespace)
    let path = "/run/netns/\(namespaces.names[0])"
    let interface = BenchNamespaces.interface
    var warm = Samples()
    var warmRevert = Samples()
    var cold = Samples()
    var coldRevert = Samples()
    var raw = RawSamples()
    var trips: [Int] = []
    let perBlock = max(1, iterations / blocks)
    for _ in 0..<min(warmup, 10) {
      try await way.apply(target)
      try await way.revert(target)
    }
    for block in 0..<blocks {
      try await way.apply(holder)
      for _ in 0..<perBlock {
        let before = NetemKernel.netlinkRequestsSent
        warm.append(try await microseconds { try await way.apply(target) })
        trips.append(NetemKernel.netlinkRequestsSent - before)
        warmRevert.append(try await microseconds { try await way.revert(target) })
      }
      try await way.revert(holder)
      for _ in 0..<perBlock {
        cold.append(try await microseconds { try await way.apply(target) })
        coldRevert.append(try await microseconds { try await way.revert(target) })
      }
      let (kind, options) = (way.kind, way.options)
      raw.append(
        try await RawSender.onThread {
          try RawSamples.measure(
            path: path, interface: interface, kind: kind, options: options, count: perBlock)
        })
      progress(
        "\(prefix) block \(block + 1)/\(blocks): warm p50 \(rounded(warm.median)) µs vs raw "
          + "\(rounded(raw.warm.median)) µs; cold p50 \(rounded(cold.median)) µs vs raw \(rounded(raw.cold.median)) µs"
      )
    }
    if NetemKernel.openNetlinkSockets != 0 {
      throw BenchError(
        "\(NetemKernel.openNetlinkSockets) netlink sockets still open after every fault was reverted")
    }
    let ourTrips = trips.sorted()[trips.count / 2]
    let figures: [String: Any] = [
      "\(prefix)_p50_us": rounded(warm.median), "\(prefix)_p99_us": rounded(warm.p99),
      "\(prefix)_raw_p50_us": rounded(raw.warm.median), "\(prefix)_raw_p99_us": rounded(raw.warm.p99),
      "\(prefix)_ratio_p50": rounded(warm.median / raw.warm.median, 2),
      "\(prefix)_ratio_p99": rounded(warm.p99 / raw.warm.p99, 2),
      "\(prefix)_cold_p50_us": rounded(cold.median), "\(prefix)_raw_cold_p50_us": rounded(raw.cold.median),
      "\(prefix)_cold_ratio_p50": rounded(cold.median / raw.cold.median, 2),
      "\(prefix)_revert_p50_us": rounded(warmRevert.median),
      "\(prefix)_raw_revert_p50_us": rounded(raw.warmRevert.median),
      "\(prefix)_round_trips": ourTrips, "\(prefix)_raw_round_trips": raw.applyTrips,
    ]
    let details: [String: Any] = [
      "method":
        "\(way.kind) root qdisc fa17: applied over the kernel default and removed, on a veth (up) in another "
        + "netns; faultline: NetemKernel (capabilities, the namespace's socket, RTM_GETLINK by name, root dump, "
        + "RTM_NEWQDISC with NLM_F_ECHO as read-back, compare) then revert (link, root dump, RTM_DELQDISC); "
        + "raw: the same TCA_OPTIONS bytes from a minimal C sender (RTM_NEWQDISC + RTM_GETQDISC dump, then "
        + "RTM_DELQDISC) on its own thread; warm: socket open on both sides (faultline holds a fault on fb1); "
        + "cold: faultline opens the socket through a namespace worker, raw by setns + socket + setns back "
        + "(+ RTM_GETLINK); \(perBlock * blocks) each, in \(blocks) alternating blocks",
      "apply_warm_us": warm.summary(), "revert_warm_us": warmRevert.summary(),
      "apply_cold_us": cold.summary(),
      "revert_cold_us": coldRevert.summary(), "raw_apply_warm_us": raw.warm.summary(),
      "raw_revert_warm_us": raw.warmRevert.summary(), "raw_apply_cold_us": raw.cold.summary(),
      "raw_revert_cold_us": raw.coldRevert.summary(), "options_bytes": way.options.count,
    ]
    return (figures, details)
  }
}

/// The raw side's timings.
struct RawSamples: Sendable {
  var warm = Samples()
  var warmRevert = Samples()
  var cold = Samples()
  var coldRevert = Samples()
  var applyTrips = 0

  mutating func append(_ other: RawSamples) {
    warm.append(contentsOf: other.warm)
    warmRevert.append(contentsOf: other.warmRevert)
    cold.append(contentsOf: other.cold)
    coldRevert.append(contentsOf: other.coldRevert)
    applyTrips = other.applyTrips
  }

  /// `count` warm apply/revert pairs over one socket, then `count` cold ones (open, look the link up,
  /// apply; revert, close). Runs on the calling thread, which it moves into the namespace and back.
  static func measure(path: String, interface: String, kind: String, options: [UInt8], count: Int) throws
    -> RawSamples
  {
    var samples = RawSamples()
    let (fd, ifindex) = try RawSender.open(path, interface: interface)
    defer { close(fd) }
    for _ in 0..<count {
      let before = RawSender.requestsSent
      samples.warm.append(try microseconds { try RawSender.apply(fd, ifindex, kind: kind, options: options) })
      samples.applyTrips = RawSender.requestsSent - before
      samples.warmRevert.append(try microseconds { try RawSender.revert(fd, ifindex) })
    }
    for _ in 0..<count {
      var socket: (fd: Int32, ifindex: Int32) = (-1, 0)
      samples.cold.append(
        try microseconds {
          socket = try RawSender.open(path, interface: interface)
          try RawSender.apply(socket.fd, socket.ifindex, kind: kind, options: options)
        })
      samples.coldRevert.append(
        try microseconds {
          try RawSender.revert(socket.fd, socket.ifindex)
          close(socket.fd)
        })
    }
    return samples
  }
}
