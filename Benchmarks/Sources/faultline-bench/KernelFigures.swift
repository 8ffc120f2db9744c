import FaultModel
import Foundation
import NetemKernel

/// The fault every kernel figure applies, and the same change in `tc`'s words.
enum BenchFault {
  /// `delay 100ms 10ms 25% loss 1%`.
  static let fault: NetemFault = {
    var fault = NetemFault()
    fault.delay = .milliseconds(100)
    fault.jitter = .milliseconds(10)
    fault.delayCorrelation = 25
    fault.loss = 1
    return fault
  }()

  /// `netem delay 100ms 10ms 25% loss 1%` as `tc` arguments.
  static let tcNetem = ["netem", "delay", "100ms", "10ms", "25%", "loss", "1%"]

  /// `tbf rate RATE burst 32kb latency 400ms`: a qdisc the host kernel has (it lacks netem).
  static func tcTbf(rate: String) -> [String] { ["tbf", "rate", rate, "burst", "32kb", "latency", "400ms"] }
}

/// The figures that touch qdiscs: each operation done in-process through ``NetemKernel`` and by
/// spawning `tc` (or `ip netns exec … tc`), in the same run, on the same veth.
///
/// Loops alternate between the two ways in blocks (in-process, then tc, four times), so slow drift on
/// the machine (another build, the host under the VM) lands on both sides.
struct KernelFigures {
  /// The in-process kernel interface (logs at debug only: nothing is printed).
  let kernel = NetemKernel()
  /// `tc`'s path.
  let tc: String
  /// `ip`'s path.
  let ip: String
  /// How many blocks each timed loop is split into.
  let blocks = 4

  /// Resolves `tc` and `ip` on `PATH`.
  init() throws {
    tc = try Spawn.require("tc")
    ip = try Spawn.require("ip")
  }

  private func tcIn(_ namespace: String, _ arguments: [String]) -> [String] {
    [tc, "-n", namespace] + arguments
  }

  private func replaceNetem(_ namespace: String) -> [String] {
    tcIn(namespace, ["qdisc", "replace", "dev", BenchNamespaces.interface, "root", "handle", "fa17:"])
      + BenchFault.tcNetem
  }

  private func deleteRoot(_ namespace: String) -> [String] {
    tcIn(namespace, ["qdisc", "del", "dev", BenchNamespaces.interface, "root", "handle", "fa17:"])
  }

  /// `tc -n NS qdisc show dev fb0` without the `refcnt N` field (it differs between kernels).
  func tcShow(_ namespace: String) throws -> String {
    let text = try Spawn.must([tc, "-n", namespace, "qdisc", "show", "dev", BenchNamespaces.interface])
    return text.replacingOccurrences(of: #" refcnt \d+"#, with: "", options: .regularExpression)
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Runs a spawn inside a timed loop; throws (after the clock stopped) when it failed.
  private func spawnTimed(_ arguments: [String], into samples: inout Samples) throws {
    var status: Int32 = 0
    samples.append(microseconds { status = Spawn.run(arguments) })
    if status != 0 {
      throw BenchError("\(arguments.joined(separator: " ")) exited \(status) inside a timed loop")
    }
  }

  // MARK: - One apply / revert

  /// `inject_*`, `revert_*`, `tc_*`: apply/revert pairs on one veth in another namespace.
  ///
  /// Each iteration applies the fault over the kernel's default qdisc (a real graft, read-back
  /// included) and then removes it, so every apply is a real change and every revert too. The tc side
  /// does the same with `tc -n NS qdisc replace … handle fa17: netem …` and `tc -n NS qdisc del …`.
  func injectAndRevert(_ namespaces: BenchNamespaces, iterations: Int, warmup: Int) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let target = namespaces.target(0)
    let namespace = namespaces.names[0]
    let before = try tcShow(namespace)
    // Both ways must produce the same qdisc.
    let report = try await kernel.apply(BenchFault.fault, to: target)
    let ours = try tcShow(namespace)
    _ = try await kernel.revert(target)
    try Spawn.check(replaceNetem(namespace))
    let theirs = try tcShow(namespace)
    try Spawn.check(deleteRoot(namespace))
    guard ours == theirs else {
      throw BenchError("faultline and tc installed different qdiscs:\n  faultline: \(ours)\n  tc: \(theirs)")
    }
    progress("inject: both ways install \"\(ours)\" (before: \"\(before)\")")

    for _ in 0..<warmup {
      _ = try await kernel.apply(BenchFault.fault, to: target)
      _ = try await kernel.revert(target)
      try Spawn.check(replaceNetem(namespace))
      try Spawn.check(deleteRoot(namespace))
    }
    var inject = Samples()
    var revert = Samples()
    var tcInject = Samples()
    var tcRevert = Samples()
    let perBlock = max(1, iterations / blocks)
    for block in 0..<blocks {
      for _ in 0..<perBlock {
        inject.append(try await microseconds { _ = try await kernel.apply(BenchFault.fault, to: target) })
        revert.append(try await microseconds { _ = try await kernel.revert(target) })
      }
      for _ in 0..<perBlock {
        try spawnTimed(replaceNetem(namespace), into: &tcInject)
        try spawnTimed(deleteRoot(namespace), into: &tcRevert)
      }
      progress(
        "inject block \(block + 1)/\(blocks): in-process p50 \(rounded(inject.median)) µs, "
          + "tc p50 \(rounded(tcInject.median)) µs")
    }
    let figures: [String: Any] = [
      "inject_p50_us": rounded(inject.median), "inject_p99_us": rounded(inject.p99),
      "revert_p50_us": rounded(revert.median), "tc_p50_us": rounded(tcInject.median),
      "tc_p99_us": rounded(tcInject.p99), "tc_revert_p50_us": rounded(tcRevert.median),
    ]
    let details: [String: Any] = [
      "method":
        "apply/revert pairs from the kernel default qdisc on a veth (up) in another netns; "
        + "in-process: NetemKernel.apply (setns thread, socket, link lookup, qdisc dump, RTM_NEWQDISC, "
        + "read-back dump and compare) then NetemKernel.revert; tc: posix_spawn of "
        + "`tc -n NS qdisc replace dev fb0 root handle fa17: netem delay 100ms 10ms 25% loss 1%` then "
        + "`tc -n NS qdisc del dev fb0 root handle fa17:`; \(warmup) warm-up pairs each way, "
        + "then \(perBlock * blocks) timed in \(blocks) alternating blocks",
      "qdisc": ours, "tc_line": report.tcLine,
      "inject_us": inject.summary(), "revert_us": revert.summary(), "tc_inject_us": tcInject.summary(),
      "tc_revert_us": tcRevert.summary(),
    ]
    return (figures, details)
  }

  // MARK: - Fan-out

  /// `fanout_100_ms` vs `tc_fanout_100_ms`: apply then revert on every namespace.
  ///
  /// In-process sequentially (the like-for-like figure) and concurrently (one task per namespace, as
  /// a daemon fanning out would); tc as `ip netns exec NS tc qdisc replace …` then
  /// `ip netns exec NS tc qdisc del …` per namespace, one after the other. The median of `rounds`.
  func fanout(_ namespaces: BenchNamespaces, rounds: Int) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let count = namespaces.names.count
    let kernel = kernel
    var sequential = Samples()
    var sequentialApply = Samples()
    var concurrent = Samples()
    var spawned = Samples()
    var spawnedApply = Samples()
    let execTc: (String, [String]) -> [String] = { namespace, arguments in
      [self.ip, "netns", "exec", namespace, self.tc] + arguments
    }
    let replace =
      ["qdisc", "replace", "dev", BenchNamespaces.interface, "root", "handle", "fa17:"]
      + BenchFault.tcNetem
    let delete = ["qdisc", "del", "dev", BenchNamespaces.interface, "root", "handle", "fa17:"]
    try Spawn.check(execTc(namespaces.names[0], replace))
    try Spawn.check(execTc(namespaces.names[0], delete))
    var raw = Samples()
    var rawApply = Samples()
    let paths = namespaces.names.map { "/run/netns/\($0)" }
    let options = ApplyWay.netem(kernel).options
    for round in 0..<rounds {
      let apply = try await microseconds {
        for index in 0..<count { _ = try await kernel.apply(BenchFault.fault, to: namespaces.target(index)) }
      }
      if round == 0 {
        let last = try tcShow(namespaces.names[count - 1])
        guard last.contains("netem") else { throw BenchError("fan-out apply left \"\(last)\"") }
      }
      let revert = try await microseconds {
        for index in 0..<count { _ = try await kernel.revert(namespaces.target(index)) }
      }
      sequentialApply.append(apply / 1000)
      sequential.append((apply + revert) / 1000)

      let targets = (0..<count).map { namespaces.target($0) }
      let both = try await microseconds {
        try await withThrowingTaskGroup(of: Void.self) { group in
          for target in targets {
            group.addTask { _ = try await kernel.apply(BenchFault.fault, to: target) }
          }
          try await group.waitForAll()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
          for target in targets { group.addTask { _ = try await kernel.revert(target) } }
          try await group.waitForAll()
        }
      }
      concurrent.append(both / 1000)

      var applyTimes = Samples()
      var revertTimes = Samples()
      for name in namespaces.names { try spawnTimed(execTc(name, replace), into: &applyTimes) }
      for name in namespaces.names { try spawnTimed(execTc(name, delete), into: &revertTimes) }
      let (rawApplyUs, rawTotalUs) = try await RawSender.onThread {
        try RawSender.fanout(paths, interface: BenchNamespaces.interface, kind: "netem", options: options)
      }
      rawApply.append(rawApplyUs / 1000)
      raw.append(rawTotalUs / 1000)

      let spawnApply = applyTimes.values.reduce(0, +) / 1000
      spawnedApply.append(spawnApply)
      spawned.append(spawnApply + revertTimes.values.reduce(0, +) / 1000)
      progress(
        "fan-out round \(round + 1)/\(rounds): in-process \(rounded(sequential.values.last!)) ms "
          + "(concurrent \(rounded(concurrent.values.last!)) ms), raw \(rounded(raw.values.last!)) ms, ip netns exec tc "
          + "\(rounded(spawned.values.last!)) ms")
    }
    let key = "fanout_\(count)_ms"
    let figures: [String: Any] = [
      key: rounded(sequential.median), "tc_\(key)": rounded(spawned.median),
      "fanout_\(count)_concurrent_ms": rounded(concurrent.median), "raw_\(key)": rounded(raw.median),
      "fanout_\(count)_raw_ratio": rounded(sequential.median / raw.median, 2),
      "fanout_\(count)_tc_speedup": rounded(spawned.median / sequential.median, 1),
    ]
    let details: [String: Any] = [
      "method":
        "\(count) netns with a veth each; apply the fault on all then revert all; in-process "
        + "sequentially (headline) and as one task per netns (concurrent); raw: the C sender, per netns "
        + "setns + socket + RTM_GETLINK + RTM_NEWQDISC + read-back dump, then RTM_DELQDISC + close, on one "
        + "thread; tc as `ip netns exec NS tc qdisc replace|del …` one after the other; median of \(rounds) rounds",
      "namespaces": count, "rounds": rounds,
      "inprocess_sequential_ms": sequential.summary(), "inprocess_apply_only_ms": sequentialApply.summary(),
      "inprocess_concurrent_ms": concurrent.summary(), "tc_ms": spawned.summary(),
      "tc_apply_only_ms": spawnedApply.summary(), "raw_ms": raw.summary(),
      "raw_apply_only_ms": rawApply.summary(),
    ]
    return (figures, details)
  }

  // MARK: - Read path (works without netem)

  /// `status_p50_us` vs `tc_show_p50_us`: what every operation starts with, and the part of an apply
  /// a kernel without netem can run. In-process: ``NetemKernel/status(in:)`` (thread, setns, netlink
  /// socket, link dump, one root-qdisc dump per interface, decode); tc: `tc -n NS qdisc show`.
  func readPath(_ namespaces: BenchNamespaces, iterations: Int, warmup: Int) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let namespace = namespaces.names[0]
    let ref = NetworkNamespaceRef.named(namespace)
    let show = [tc, "-n", namespace, "qdisc", "show"]
    try Spawn.check(show)
    for _ in 0..<warmup {
      _ = try await kernel.status(in: ref)
      try Spawn.check(show)
    }
    var status = Samples()
    var spawned = Samples()
    let perBlock = max(1, iterations / blocks)
    for _ in 0..<blocks {
      for _ in 0..<perBlock { status.append(try await microseconds { _ = try await kernel.status(in: ref) }) }
      for _ in 0..<perBlock { try spawnTimed(show, into: &spawned) }
    }
    progress(
      "read path: in-process p50 \(rounded(status.median)) µs, tc show p50 \(rounded(spawned.median)) µs")
    return (
      [
        "status_p50_us": rounded(status.median), "status_p99_us": rounded(status.p99),
        "tc_show_p50_us": rounded(spawned.median), "tc_show_p99_us": rounded(spawned.p99),
      ],
      [
        "method":
          "NetemKernel.status(in: netns) (thread + setns + socket + link dump + root-qdisc dump per "
          + "interface) vs posix_spawn of `tc -n NS qdisc show`; \(perBlock * blocks) each, alternating blocks",
        "status_us": status.summary(), "tc_show_us": spawned.summary(),
      ]
    )
  }

  // MARK: - Where an apply's time goes (no kernel needed)

  /// `encode_options_us`, `encode_options_memcpy_us`, `thread_hop_us`: two parts of every apply,
  /// measured alone, and what the encoding would cost done as one copy.
  ///
  /// Every apply with jitter sends netem a 4096-entry distribution table (8 KiB), which
  /// `NetemParameters.encodedOptions()` appends value by value; `encode_options_memcpy_us` copies the
  /// same bytes in one `append(contentsOf:)`. `thread_hop_us` is `NamespaceThread`'s pattern without
  /// the namespace: start a `Thread`, resume a continuation from it.
  static func breakdown(iterations: Int) async throws -> (figures: [String: Any], details: [String: Any]) {
    let parameters = NetemParameters(BenchFault.fault, distribution: DistributionTable.uniform)
    var encode = Samples()
    var memcpy = Samples()
    var hop = Samples()
    var size = 0
    for _ in 0..<iterations {
      encode.append(microseconds { size = parameters.encodedOptions().count })
      memcpy.append(
        microseconds {
          var bytes: [UInt8] = []
          bytes.reserveCapacity(size)
          DistributionTable.uniform.withUnsafeBytes { bytes.append(contentsOf: $0) }
          guard bytes.count == 8192 else { fatalError("table size") }
        })
      hop.append(
        await microseconds {
          await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { continuation.resume() }
            thread.start()
          }
        })
    }
    progress(
      "breakdown: encodedOptions p50 \(rounded(encode.median)) µs (one copy: \(rounded(memcpy.median, 2)) µs), "
        + "thread hop p50 \(rounded(hop.median)) µs")
    return (
      [
        "encode_options_us": rounded(encode.median), "encode_options_memcpy_us": rounded(memcpy.median, 2),
        "thread_hop_us": rounded(hop.median),
      ],
      [
        "method":
          "NetemParameters(fault, distribution: uniform).encodedOptions() (\(size) bytes, the 4096-value "
          + "table appended value by value) vs the table's 8192 bytes appended in one copy; a fresh Thread "
          + "resuming a continuation (NamespaceThread without setns); \(iterations) each",
        "encode_options_us": encode.summary(digits: 2), "encode_options_memcpy_us": memcpy.summary(digits: 2),
        "thread_hop_us": hop.summary(digits: 2), "options_bytes": size,
      ]
    )
  }

  // MARK: - Host only

  /// `tc_tbf_p50_us`, `ip_netns_exec_tc_tbf_p50_us`: the cost of spawning tc for a real qdisc change on
  /// a kernel without netem (tbf, alternating two rates so each run changes something), plus the
  /// in-process apply up to the kernel's refusal of the unknown kind (`apply_refused_p50_us`: every
  /// step of an apply except the successful change and the read-back).
  func hostSpawnCost(_ namespaces: BenchNamespaces, iterations: Int, warmup: Int) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let namespace = namespaces.names[0]
    let device = ["dev", BenchNamespaces.interface, "root", "handle", "fa17:"]
    let tbf = { (rate: String) in
      self.tcIn(namespace, ["qdisc", "replace"] + device + BenchFault.tcTbf(rate: rate))
    }
    let execTbf = { (rate: String) in
      [self.ip, "netns", "exec", namespace, self.tc, "qdisc", "replace"] + device
        + BenchFault.tcTbf(rate: rate)
    }
    try Spawn.check(tbf("1mbit"))
    for i in 0..<warmup { try Spawn.check(tbf(i % 2 == 0 ? "2mbit" : "1mbit")) }
    var direct = Samples()
    var viaExec = Samples()
    var refused = Samples()
    let perBlock = max(1, iterations / blocks)
    var refusal = ""
    try Spawn.check(deleteRoot(namespace))
    for _ in 0..<warmup { refusal = await refusedApply(namespaces.target(0)) }
    guard refusal.contains("netem") else {
      throw BenchError("expected the host kernel to refuse netem; the apply said: \(refusal)")
    }
    try Spawn.check(tbf("1mbit"))
    for block in 0..<blocks {
      for i in 0..<perBlock { try spawnTimed(tbf(i % 2 == 0 ? "2mbit" : "1mbit"), into: &direct) }
      for i in 0..<(perBlock / 4) { try spawnTimed(execTbf(i % 2 == 0 ? "2mbit" : "1mbit"), into: &viaExec) }
      try Spawn.check(deleteRoot(namespace))
      for _ in 0..<perBlock {
        refused.append(await microseconds { refusal = await refusedApply(namespaces.target(0)) })
      }
      try Spawn.check(tbf("1mbit"))
      progress(
        "host spawn block \(block + 1)/\(blocks): tc p50 \(rounded(direct.median)) µs, "
          + "refused apply p50 \(rounded(refused.median)) µs")
    }
    try Spawn.check(deleteRoot(namespace))
    return (
      [
        "tc_tbf_p50_us": rounded(direct.median), "tc_tbf_p99_us": rounded(direct.p99),
        "ip_netns_exec_tc_tbf_p50_us": rounded(viaExec.median),
        "apply_refused_p50_us": rounded(refused.median), "apply_refused_p99_us": rounded(refused.p99),
      ],
      [
        "method":
          "posix_spawn of `tc -n NS qdisc replace dev fb0 root handle fa17: tbf rate 1mbit|2mbit burst 32kb "
          + "latency 400ms` (alternating rates: each is a change) and of the same under `ip netns exec`; "
          + "NetemKernel.apply of the benchmark fault on the same veth (no root qdisc of ours), which the "
          + "host kernel refuses at RTM_NEWQDISC (no sch_netem)",
        "tc_tbf_us": direct.summary(), "ip_netns_exec_tc_tbf_us": viaExec.summary(),
        "apply_refused_us": refused.summary(), "refusal": refusal,
      ]
    )
  }

  /// One apply that the kernel refuses; returns the error text.
  private func refusedApply(_ target: FaultTarget) async -> String {
    do {
      _ = try await kernel.apply(BenchFault.fault, to: target)
      return "applied (the kernel has netem)"
    } catch {
      return "\(error)"
    }
  }
}
