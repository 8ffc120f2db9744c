import AgentTestSupport
import Foundation
import Testing

/// A Chaos Mesh `NetworkChaos` with `target` (pods from the API server) and `externalTargets` (an
/// address and a hostname), loaded unchanged by `faultline run` in DaemonSet mode on a real kernel.
///
/// The selected pod is a network namespace with `eth0` (10.99.0.2) whose veth peer on the VM's own
/// side holds the peer addresses: db-1 10.99.0.10 (a target pod, on another node), 10.99.0.20 (an
/// external address), 10.99.0.21 (`api.faultline.test` in /etc/hosts, the VM's overlay), db-2
/// 10.99.0.11 (a target pod that appears during the window) and 10.99.0.30 (no peer at all). A UDP
/// echo server answers on each.
@Suite(
  .serialized, .enabled(if: inVM, "needs the real-kernel VM (scripts/vm-test)"), .timeLimit(.minutes(6)))
struct ChaosMeshTargetVMTests {
  static let node = "vm-node"
  static let uidWeb = "e5e5e5e5-0000-4000-8000-0000000000e5"
  let binary =
    ProcessInfo.processInfo.environment["FAULTLINE_KUBE_BIN"] ?? ProcessInfo.processInfo.environment[
      "FAULTLINE_BIN"] ?? "\(repoRoot)/.build/debug/faultline"

  /// Median UDP RTT (ms) from the pod to `peer`.
  func rtt(_ netns: String, _ peer: String) throws -> Double {
    let out = try sh([
      "ip", "netns", "exec", netns, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "client", "--target",
      peer, "--port", "7777", "--count", "40", "--interval-ms", "5",
    ])
    let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
    return (json["rtt_ms"] as? [String: Double])?["median"] ?? .infinity
  }

  func filters(_ netns: String) -> String {
    let qdiscs =
      (try? runProcess(["ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", "eth0"]).stdout) ?? ""
    let filters =
      (try? runProcess(["ip", "netns", "exec", netns, "tc", "filter", "show", "dev", "eth0"]).stdout) ?? ""
    return qdiscs + filters
  }

  @Test func aNetworkChaosWithTargetAndExternalTargetsShapesOnlyThosePeersAndFollowsNewTargetPods() throws {
    #expect(FileManager.default.isExecutableFile(atPath: binary), "no binary at \(binary)")
    let host = try #require(netnsInode(getpid()))
    let fixture = PodResolutionVMTests.Fixture()
    let netns = "fl-cm-web"
    var echo: Process?
    defer {
      if let echo { kill(echo.processIdentifier, SIGKILL) }
      fixture.close()
      _ = try? runProcess(["ip", "netns", "del", netns])
      _ = try? runProcess(["ip", "link", "del", "flhcm"])
    }
    try sh(["ip", "netns", "add", netns])
    try sh(["ip", "link", "add", "flhcm", "type", "veth", "peer", "name", "eth0", "netns", netns])
    try sh(["ip", "addr", "add", "10.99.0.1/24", "dev", "flhcm"])
    let peers = ["10.99.0.10", "10.99.0.11", "10.99.0.20", "10.99.0.21", "10.99.0.30"]
    for address in peers { try sh(["ip", "addr", "add", "\(address)/32", "dev", "flhcm"]) }
    try sh(["ip", "link", "set", "flhcm", "up"])
    try sh(["ip", "netns", "exec", netns, "ip", "addr", "add", "10.99.0.2/24", "dev", "eth0"])
    try sh(["ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up"])
    try sh(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"])
    let pid = try fixture.start(["ip", "netns", "exec", netns, "sleep", "600"], leaving: host)
    try fixture.place([pid], in: "kubepods/besteffort/pod\(Self.uidWeb)/ctrweb")
    let server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    server.arguments =
      ["python3", "\(repoRoot)/scripts/peers/udp_probe.py", "server"] + peers.flatMap { ["--bind", $0] }
      + ["--port", "7777"]
    try server.run()
    echo = server
    // The test resolver: the VM's /etc/hosts lives in its overlay, not on the host.
    let hosts = (try? String(contentsOfFile: "/etc/hosts", encoding: .utf8)) ?? ""
    try (hosts + "\n10.99.0.21 api.faultline.test\n").write(
      toFile: "/etc/hosts", atomically: false, encoding: .utf8)
    defer { try? hosts.write(toFile: "/etc/hosts", atomically: false, encoding: .utf8) }

    let api = try FakeKubeAPI(pods: [
      podJSON("web-0", uid: Self.uidWeb, node: Self.node, labels: ["app": "web"], podIP: "10.99.0.2"),
      podJSON(
        "db-1", uid: "f1f1f1f1-0000-4000-8000-0000000000f1", node: "other-node", labels: ["app": "db"],
        podIP: "10.99.0.10"),
    ])
    defer { api.stop() }
    let profiles = try makeTemporaryDirectory("fl-vm-cm-profiles")
    let state = try makeTemporaryDirectory("fl-vm-cm-state")
    defer { for dir in [profiles, state] { try? FileManager.default.removeItem(atPath: dir) } }
    try """
    apiVersion: chaos-mesh.org/v1alpha1
    kind: NetworkChaos
    metadata: {name: web-to-db, namespace: default}
    spec:
      action: delay
      mode: all
      selector: {namespaces: [default], labelSelectors: {app: web}}
      direction: to
      target:
        mode: all
        selector: {namespaces: [default], labelSelectors: {app: db}}
      externalTargets: [10.99.0.20, api.faultline.test]
      delay: {latency: 80ms}
    """.write(toFile: profiles + "/web-to-db.yaml", atomically: true, encoding: .utf8)

    let log = state + "/daemon.log"
    let daemon = try launchAgent(
      binary: binary,
      arguments: [
        "run", "--profiles", profiles, "--kube-api", api.url, "--node-name", Self.node, "--state-dir",
        state + "/journal", "--annotations", state + "/annotations",
      ],
      log: log)
    defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
    func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    let applied = waitFor(90) {
      let text = filters(netns)
      return text.contains("10.99.0.10") && text.contains("10.99.0.20") && text.contains("10.99.0.21")
    }
    #expect(applied != nil, "\(filters(netns))\nlog:\n\(logText())")
    let (db1, external, named, bystander) = (
      try rtt(netns, "10.99.0.10"), try rtt(netns, "10.99.0.20"), try rtt(netns, "10.99.0.21"),
      try rtt(netns, "10.99.0.30")
    )
    print(
      String(
        format: "measured: NetworkChaos to db-1 %.2f ms, external address %.2f ms, hostname %.2f ms, "
          + "no peer %.2f ms", db1, external, named, bystander))
    #expect(db1 > 60 && external > 60 && named > 60, "every target gets the delay")
    #expect(bystander < 20, "an address that is no target does not")

    // db-2 appears: only the filters change, the netem stays on.
    try api.send(
      "ADDED",
      podJSON(
        "db-2", uid: "f2f2f2f2-0000-4000-8000-0000000000f2", node: "other-node", labels: ["app": "db"],
        podIP: "10.99.0.11"))
    var gaps = 0
    let followed = waitFor(30) {
      let text = filters(netns)
      if !text.contains("netem") { gaps += 1 }
      return text.contains("10.99.0.11")
    }
    print(
      "measured: the new target pod's filter after \(followed.map { String(format: "%.2f s", $0) } ?? "never")"
    )
    #expect(followed != nil, "\(filters(netns))\nlog:\n\(logText())")
    #expect(gaps == 0, "the netem went away while the filters changed")
    let db2 = try rtt(netns, "10.99.0.11")
    print(String(format: "measured: the new target pod db-2 %.2f ms", db2))
    #expect(db2 > 60)

    kill(daemon.processIdentifier, SIGTERM)
    waitForExit(daemon, seconds: 60)
    #expect(daemon.terminationStatus == 0, "log:\n\(logText())")
    #expect(!filters(netns).contains("prio") && !filters(netns).contains("flower"), "\(filters(netns))")
  }
}
