import AgentTestSupport
import Foundation
import Testing

/// `faultline run` with targeted faults on the real kernel: the fault reaches the selected peers
/// only, moves with the profile without a gap, shapes real ingress through an IFB, spares the node,
/// and leaves nothing behind after `kill -9`.
extension RealKernel {
  @Suite struct RealKernelTargetedDaemonTests {
    private func write(_ yaml: String, to directory: String, as name: String = "aimed.yaml") throws {
      try yaml.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
    }

    private func aimed(
      _ net: TwoPeerNetwork, peers: [String], direction: String = "egress", delay: String = "80ms"
    )
      -> String
    {
      """
      name: aimed
      target: {interface: va, netns: /run/netns/\(net.a)}
      traffic:
        direction: \(direction)
        peers: [\(peers.joined(separator: ", "))]
      netem: {delay: \(delay)}
      """
    }

    /// The qdiscs of `va` and its egress and ingress filters, as `tc` shows them.
    private func tcText(_ net: TwoPeerNetwork) -> String {
      let qdiscs = (try? net.tc(["qdisc", "show", "dev", "va"])) ?? ""
      let filters = (try? net.tc(["filter", "show", "dev", "va"])) ?? ""
      let ingress = (try? net.tc(["filter", "show", "dev", "va", "ingress"])) ?? ""
      return [qdiscs, filters, ingress].joined(separator: "\n")
    }

    private func links(_ net: TwoPeerNetwork) -> String {
      (try? must(["ip", "-n", net.a, "-o", "link", "show"])) ?? ""
    }

    private func stop(_ daemon: Process, log: String) {
      kill(daemon.processIdentifier, SIGTERM)
      waitForExit(daemon, seconds: 30)
      let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      #expect(!daemon.isRunning)
      #expect(daemon.terminationStatus == 0, "\(text)")
    }

    @Test func aFaultAimedAtOnePeerMovesToAnotherWithoutAGapAndIsRemovedWhole() throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-aimed")
      let state = try makeDirectory("fl-state")
      try write(aimed(net, peers: ["192.0.2.2", "2001:db8::2"]), to: profiles)
      let log = state + "/daemon.log"
      let daemon = try startDaemon(profiles: profiles, state: state, log: log)
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
      let applied = waitFor(60) { tcText(net).contains("prio") && tcText(net).contains("netem") }
      #expect(applied != nil, "\(tcText(net))")

      let toPeer1 = try net.probe("192.0.2.2")
      let toPeer1v6 = try net.probe("2001:db8::2")
      let toPeer2 = try net.probe("192.0.2.3")
      print(
        String(
          format: "measured: run aimed at peer 1: peer 1 %.2f ms (v6 %.2f ms), peer 2 %.2f ms",
          toPeer1.median, toPeer1v6.median, toPeer2.median))
      #expect(toPeer1.median > 60 && toPeer1v6.median > 60, "the selected peer gets the delay")
      #expect(toPeer2.median < 20, "the other peer does not")

      // Move the fault to peer 2: only the filters change, the netem never goes away.
      try write(aimed(net, peers: ["192.0.2.3"]), to: profiles)
      var gaps = 0
      let moved = waitFor(30) {
        let text = tcText(net)
        if !text.contains("netem") { gaps += 1 }
        return text.contains("dst_ip 192.0.2.3") && !text.contains("dst_ip 192.0.2.2")
      }
      print("measured: peers changed in place after \(moved.map { String(format: "%.2f s", $0) } ?? "never")")
      #expect(moved != nil, "\(tcText(net))")
      #expect(gaps == 0, "the netem disappeared while the filters changed")
      let after1 = try net.probe("192.0.2.2")
      let after2 = try net.probe("192.0.2.3")
      print(
        String(
          format: "measured: after the move: peer 1 %.2f ms, peer 2 %.2f ms", after1.median, after2.median))
      #expect(after2.median > 60 && after1.median < 20)

      stop(daemon, log: log)
      #expect(!tcText(net).contains("prio") && !tcText(net).contains("flower"), "\(tcText(net))")
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
    }

    @Test func ingressFromOnePeerGoesThroughAnIFBAndARestartAfterKillNineRemovesItAll() throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-ingress")
      let empty = try makeDirectory("fl-empty")
      let state = try makeDirectory("fl-state")
      try write(aimed(net, peers: ["192.0.2.3"], direction: "ingress"), to: profiles)
      let first = try startDaemon(profiles: profiles, state: state, log: state + "/first.log")
      defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
      let applied = waitFor(60) { links(net).contains(": fl-") && tcText(net).contains("mirred") }
      #expect(applied != nil, "\(links(net))\n\(tcText(net))")

      let fromPeer2 = try net.probe("192.0.2.3")
      let fromPeer1 = try net.probe("192.0.2.2")
      print(
        String(
          format: "measured: ingress from peer 2: %.2f ms; peer 1: %.2f ms", fromPeer2.median,
          fromPeer1.median))
      #expect(fromPeer2.median > 60, "replies from the selected peer enter through the IFB, delayed")
      #expect(fromPeer1.median < 20)

      kill(first.processIdentifier, SIGKILL)
      waitForExit(first)
      #expect(links(net).contains(": fl-"), "the orphan is still there after SIGKILL")

      let started = Date()
      let second = try startDaemon(profiles: empty, state: state, log: state + "/second.log")
      defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
      let cleaned = waitFor(60) {
        !links(net).contains(": fl-") && !tcText(net).contains("mirred") && !tcText(net).contains("clsact")
      }
      print(
        String(
          format: "measured: restart removed the IFB, filter and clsact after %.2f s",
          Date().timeIntervalSince(started)))
      #expect(cleaned != nil, "\(links(net))\n\(tcText(net))")
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
      stop(second, log: state + "/second.log")
    }

    @Test func theNodeAddressIsSparedByAWholeInterfaceDelayAndRevertAllCleansAKilledAgent() throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-protect")
      let state = try makeDirectory("fl-state")
      try write(
        "name: everything\ntarget: {interface: va, netns: /run/netns/\(net.a)}\nnetem: {delay: 80ms}\n",
        to: profiles)
      // 192.0.2.2 plays the node: kubelet probes come from there.
      let daemon = try startDaemon(
        profiles: profiles, state: state, log: state + "/daemon.log", extra: ["--node-ip", "192.0.2.2"])
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
      #expect(waitFor(60) { tcText(net).contains("netem") } != nil, "\(tcText(net))")
      let node = try net.probe("192.0.2.2")
      let other = try net.probe("192.0.2.3")
      print(
        String(
          format: "measured: whole-interface 80 ms: node %.2f ms, other peer %.2f ms", node.median,
          other.median))
      #expect(node.median < 20, "the node's probes are spared")
      #expect(other.median > 60)

      kill(daemon.processIdentifier, SIGKILL)
      waitForExit(daemon)
      let reverted = try run([faultlineBinary, "revert", "--all", "--state-dir", state])
      #expect(reverted.status == 0, "\(reverted.stderr)")
      #expect(!tcText(net).contains("prio") && !tcText(net).contains("flower"), "\(tcText(net))")
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
    }

    @Test func bothDirectionsDelayTheRequestAndTheReplyOfTheSelectedPeerOnly() throws {
      let net = try TwoPeerNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-both")
      let state = try makeDirectory("fl-state")
      try write(
        aimed(net, peers: ["192.0.2.3", "2001:db8::3"], direction: "both", delay: "40ms"), to: profiles)
      let log = state + "/daemon.log"
      let daemon = try startDaemon(profiles: profiles, state: state, log: log)
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
      let applied = waitFor(60) { tcText(net).contains("mirred") && tcText(net).contains("prio") }
      #expect(applied != nil, "\(tcText(net))")
      let selected = try net.probe("192.0.2.3")
      let selected6 = try net.probe("2001:db8::3")
      let other = try net.probe("192.0.2.2")
      print(
        String(
          format: "measured: both directions, 40 ms each way to peer 2: %.2f ms (v6 %.2f ms); peer 1 %.2f ms",
          selected.median, selected6.median, other.median))
      #expect(selected.median > 70 && selected6.median > 70, "the request and the reply are both delayed")
      #expect(other.median < 20)
      stop(daemon, log: log)
      #expect(!links(net).contains(": fl-") && !tcText(net).contains("prio"), "\(links(net))\n\(tcText(net))")
    }
  }
}
