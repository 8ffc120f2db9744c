import AgentTestSupport
import FaultModel
import Foundation
import Glibc
import Testing

@testable import NetemKernel

/// Ingress shaping through faultline's IFB device, on the real kernel in the VM: traffic from `b`
/// into `a`'s `va` is redirected to the IFB and delayed by a netem root on it. `tc` and `ip` only
/// set the scene and check the result; faultline itself never runs them.
extension RealKernel {
  @Suite struct RealKernelIngressTests {
    private func delay(_ value: String) throws -> NetemFault {
      var fault = NetemFault()
      try fault.set("delay", to: value)
      return try fault.validated()
    }

    @Test func anIngressDelayOnTheIFBDelaysOnlyIncomingTrafficAndRemovalLeavesNothing() async throws {
      let net = try TestNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      let target = FaultTarget(interface: "va", namespace: .named(net.a))
      try net.startEchoInA()
      let baseline = try net.probeFromB(count: 100)

      let redirect = try await kernel.redirectIngress(of: target, expectedInode: nil)
      #expect(
        redirect
          == IngressRedirect(
            interface: "va", ifb: NetemKernel.ingressDeviceName(for: "va"), createdQdisc: true,
            qdiscKind: "clsact",
            filterPriority: NetemKernel.ingressFilterPriority))
      let filters = try net.tc(["filter", "show", "dev", "va", "ingress"])
      #expect(filters.contains("pref 64023 matchall"), "\(filters)")
      #expect(filters.contains("Redirect to device \(redirect.ifb)"), "\(filters)")
      #expect(try must(["ip", "-n", net.a, "-d", "link", "show", redirect.ifb]).contains("ifb"))
      #expect(try await kernel.readIngressRedirect(of: target, expectedInode: nil) == redirect)
      for module in ["ifb", "sch_ingress", "act_mirred", "cls_matchall"] {
        #expect(
          FileManager.default.fileExists(atPath: "/sys/module/\(module)"), "module \(module) not loaded")
      }
      // The redirect alone changes nothing measurable.
      let redirected = try net.probeFromB(count: 100)

      let ifbTarget = FaultTarget(interface: redirect.ifb, namespace: .named(net.a))
      let report = try await kernel.apply(try delay("100ms"), to: ifbTarget)
      #expect(report.applied.latency == 100_000_000)
      let delayed = try net.probeFromB(count: 200)
      let inbound = try net.oneWay(from: net.b, to: "192.0.2.1", receiverIn: net.a)
      let outbound = try net.oneWay(from: net.a, to: "192.0.2.2", receiverIn: net.b)
      print(
        "measured: ingress via IFB, b→a round trip median: baseline \(baseline.median) ms, redirect only "
          + "\(redirected.median) ms, netem delay 100ms on \(redirect.ifb) \(delayed.median) ms; one way "
          + "b→a (into va) \(inbound.median) ms, a→b (out of va) \(outbound.median) ms")
      #expect(redirected.median < 10, "redirect alone: \(redirected.median) ms")
      #expect((90...125).contains(delayed.median), "round trip \(delayed.median) ms")
      #expect((90...125).contains(inbound.median), "into va \(inbound.median) ms")
      #expect(outbound.median < 10, "out of va \(outbound.median) ms")
      // va's own egress is untouched: its root is still the kernel's default.
      #expect(try !net.tcShow("va").contains("netem"))

      try await kernel.removeIngressRedirect(redirect, in: target, expectedInode: nil)
      #expect(try await Self.link(redirect.ifb, in: net.a) == nil)
      #expect(try net.tc(["qdisc", "show", "dev", "va", "ingress"]).isEmpty)
      #expect(try !net.tcShow("va").contains("clsact"))
      #expect(try await kernel.readIngressRedirect(of: target, expectedInode: nil) == nil)
      let after = try net.probeFromB(count: 100)
      print("measured: after removal b→a round trip median \(after.median) ms, loss \(after.loss)%")
      #expect(after.median < 10)
      #expect(after.loss == 0)
    }

    @Test(arguments: ["clsact", "ingress"])
    func aForeignIngressQdiscAndItsFilterAreSharedAndLeftInPlace(kind: String) async throws {
      let net = try TestNetwork()
      defer { net.close() }
      // Another tool's hook: its qdisc and a filter at its own priority (IPv6 only, so the IPv4 test
      // traffic goes on to faultline's filter).
      _ = try net.tc(["qdisc", "add", "dev", "va", kind])
      _ = try net.tc([
        "filter", "add", "dev", "va", "ingress", "pref", "10", "protocol", "ipv6", "matchall", "classid",
        "1:1",
      ])
      let qdiscBefore = try net.tc(["qdisc", "show", "dev", "va", "ingress"])
      let foreignBefore = try net.tc(["filter", "show", "dev", "va", "ingress", "pref", "10"])
      #expect(!foreignBefore.isEmpty)

      let kernel = NetemKernel()
      let target = FaultTarget(interface: "va", namespace: .named(net.a))
      let redirect = try await kernel.redirectIngress(of: target, expectedInode: nil)
      #expect(!redirect.createdQdisc)
      #expect(redirect.qdiscKind == kind)
      #expect(
        try net.tc(["filter", "show", "dev", "va", "ingress"]).contains("Redirect to device \(redirect.ifb)"))
      #expect(try await kernel.readIngressRedirect(of: target, expectedInode: nil) == redirect)

      // The redirect works through the shared qdisc.
      try net.startEchoInA()
      _ = try await kernel.apply(
        try delay("50ms"), to: FaultTarget(interface: redirect.ifb, namespace: .named(net.a)))
      let delayed = try net.probeFromB(count: 60)
      print(
        "measured: ingress delay 50ms through a foreign \(kind): b→a round trip median \(delayed.median) ms")
      #expect((40...75).contains(delayed.median), "round trip \(delayed.median) ms")

      try await kernel.removeIngressRedirect(redirect, in: target, expectedInode: nil)
      #expect(try net.tc(["qdisc", "show", "dev", "va", "ingress"]) == qdiscBefore)
      #expect(try net.tc(["filter", "show", "dev", "va", "ingress", "pref", "10"]) == foreignBefore)
      #expect(try !net.tc(["filter", "show", "dev", "va", "ingress"]).contains("64023"))
      #expect(try await Self.link(redirect.ifb, in: net.a) == nil)
    }

    @Test func redirectingTwiceReusesTheIFBAndTheFilterAndRepairsAReplacedIFB() async throws {
      let net = try TestNetwork()
      defer { net.close() }
      let kernel = NetemKernel()
      let target = FaultTarget(interface: "va", namespace: .path(net.pathA))
      let (identity, _) = try await kernel.resolve(target)
      let first = try await kernel.redirectIngress(of: target, expectedInode: identity.inode)
      let firstIndex = try #require(try await Self.link(first.ifb, in: net.a)).index
      let second = try await kernel.redirectIngress(of: target, expectedInode: identity.inode)
      #expect(second == first)
      #expect(try #require(try await Self.link(first.ifb, in: net.a)).index == firstIndex)
      #expect(try net.ourFilterCount() == 1)
      #expect(
        try must(["ip", "-n", net.a, "-o", "link", "show", "type", "ifb"]).split(separator: "\n").count == 1)

      // Someone deletes the IFB: the filter now redirects nowhere, which reads as no redirect, and a
      // redirect puts it right (a new IFB, the filter pointed at it).
      try must(["ip", "-n", net.a, "link", "del", first.ifb])
      #expect(try await kernel.readIngressRedirect(of: target, expectedInode: identity.inode) == nil)
      let repaired = try await kernel.redirectIngress(of: target, expectedInode: identity.inode)
      #expect(repaired == first)
      let newIndex = try #require(try await Self.link(first.ifb, in: net.a)).index
      #expect(try net.ourFilterCount() == 1)
      #expect(try await kernel.readIngressRedirect(of: target, expectedInode: identity.inode) == repaired)
      print("measured: IFB ifindex \(firstIndex) reused on the second redirect; recreated as \(newIndex)")

      // An unexpected namespace touches nothing.
      await #expect(throws: KernelError.namespaceChanged(path: net.pathA, expected: 1, found: identity.inode))
      {
        _ = try await kernel.redirectIngress(of: target, expectedInode: 1)
      }
      try await kernel.removeIngressRedirect(repaired, in: target, expectedInode: identity.inode)
      #expect(try net.tc(["qdisc", "show", "dev", "va", "ingress"]).isEmpty)
      // Removing again: everything is already gone, a success.
      try await kernel.removeIngressRedirect(repaired, in: target, expectedInode: identity.inode)
    }

    @Test func aFreshKernelRemovesEverythingFromTheJournaledRecordAlone() async throws {
      let net = try TestNetwork()
      defer { net.close() }
      let target = FaultTarget(interface: "va", namespace: .named(net.a))
      let journaled: Data
      do {
        let kernel = NetemKernel()
        let redirect = try await kernel.redirectIngress(of: target, expectedInode: nil)
        _ = try await kernel.apply(
          try delay("20ms"), to: FaultTarget(interface: redirect.ifb, namespace: .named(net.a)))
        journaled = try JSONEncoder().encode(redirect)
      }
      // "Crash": only the record survives; a new process decodes it and cleans up.
      let record = try JSONDecoder().decode(IngressRedirect.self, from: journaled)
      try await NetemKernel().removeIngressRedirect(record, in: target, expectedInode: nil)
      #expect(try await Self.link(record.ifb, in: net.a) == nil)
      #expect(try net.tc(["qdisc", "show", "dev", "va", "ingress"]).isEmpty)
      #expect(try net.tc(["filter", "show", "dev", "va", "ingress"]).isEmpty)
      // A namespace that is gone: nothing to remove, a success.
      let gone = FaultTarget(interface: "va", namespace: .named("no-such-ns"))
      try await NetemKernel().removeIngressRedirect(record, in: gone, expectedInode: nil)
    }

    @Test func anotherDeviceUnderTheIFBsNameIsRefusedAndNothingIsLeft() async throws {
      let net = try TestNetwork()
      defer { net.close() }
      let name = NetemKernel.ingressDeviceName(for: "va")
      try must(["ip", "-n", net.a, "link", "add", name, "type", "veth", "peer", "name", "fl-peer"])
      let target = FaultTarget(interface: "va", namespace: .named(net.a))
      do {
        let redirect = try await NetemKernel().redirectIngress(of: target, expectedInode: nil)
        throw TestFailure("redirected to a veth: \(redirect)")
      } catch let error as KernelError {
        #expect(error.description.contains("not faultline's ifb"), "\(error)")
      }
      #expect(try net.tc(["qdisc", "show", "dev", "va", "ingress"]).isEmpty)
      #expect(try await Self.link(name, in: net.a)?.kind == "veth")
    }

    /// `RTM_GETLINK NAME` in namespace `ns`, through faultline's own socket.
    static func link(_ name: String, in ns: String) async throws -> LinkRecord? {
      try await NamespaceThread.run(in: .named(ns)) { _ in try NetlinkSocket().link(named: name) }
    }
  }
}

extension TestNetwork {
  /// `tc -n a ARGS…`, trimmed.
  func tc(_ arguments: [String]) throws -> String {
    try must(["tc", "-n", a] + arguments).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// How many filters faultline has on va's ingress (lines with its handle).
  func ourFilterCount() throws -> Int {
    try tc(["filter", "show", "dev", "va", "ingress"]).components(separatedBy: "handle 0xfa17").count - 1
  }

  /// Starts a UDP echo server in `a` (192.0.2.1); ``close()`` kills it with everything in `a`.
  func startEchoInA() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "ip", "netns", "exec", a, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "server", "--bind",
      "192.0.2.1",
    ]
    try process.run()
    Thread.sleep(forTimeInterval: 1.5)
  }

  /// Round trips from `b` to the echo server in `a`: (median RTT ms, loss %).
  func probeFromB(count: Int) throws -> (median: Double, loss: Double) {
    let out = try must([
      "ip", "netns", "exec", b, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "client", "--target",
      "192.0.2.1", "--count", String(count), "--interval-ms", "5",
    ])
    let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
    let rtt = json["rtt_ms"] as? [String: Double] ?? [:]
    return (rtt["median"] ?? .infinity, json["loss_pct"] as? Double ?? 100)
  }

  /// One-way delay (median ms) of 100 datagrams sent from namespace `sender` to `address`, received
  /// in `receiver` (scripts/peers/udp_oneway.py: both read the kernel's one CLOCK_MONOTONIC).
  func oneWay(from sender: String, to address: String, receiverIn receiver: String) throws -> (
    median: Double, received: Int
  ) {
    let script = "\(repoRoot)/scripts/peers/udp_oneway.py"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "ip", "netns", "exec", receiver, "python3", script, "receive", "--bind", address, "--count", "100",
      "--idle", "5",
    ]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    Thread.sleep(forTimeInterval: 1.5)
    try must([
      "ip", "netns", "exec", sender, "python3", script, "send", "--target", address, "--count", "100",
    ])
    let data = out.fileHandleForReading.readDataToEndOfFile()
    waitForExit(process)
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    let delay = json["delay_ms"] as? [String: Double] ?? [:]
    return (delay["median"] ?? .infinity, json["received"] as? Int ?? 0)
  }
}
