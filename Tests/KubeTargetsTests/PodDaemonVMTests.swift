import AgentTestSupport
import Foundation
import Testing

/// `faultline run` in DaemonSet mode on a real kernel without a cluster: pods are network namespaces
/// (each with a veth end named `eth0` and a sleeping process placed in a kubelet-style cgroup), the
/// pod list and its watch come from `fake_kube_api.py`, and the real binary puts netem on them.
///
/// Runs only in the VM harness: `scripts/vm-test --env FAULTLINE_BIN=… -- faultlinePackageTests.xctest
/// --testing-library swift-testing --filter PodDaemonVMTests`.
@Suite(
  .serialized, .enabled(if: inVM, "needs the real-kernel VM (scripts/vm-test)"), .timeLimit(.minutes(5)))
struct PodDaemonVMTests {
  static let node = "vm-node"
  static let uidA = "a1a1a1a1-0000-4000-8000-0000000000a1"  // default/pay-a, cgroupfs burstable
  static let uidB = "b2b2b2b2-0000-4000-8000-0000000000b2"  // default/pay-b, systemd besteffort
  static let uidC = "c3c3c3c3-0000-4000-8000-0000000000c3"  // default/pay-c, added during the window
  static let uidW = "d4d4d4d4-0000-4000-8000-0000000000d4"  // default/web-w (app=web): not selected

  /// `FAULTLINE_KUBE_BIN`, else `FAULTLINE_BIN`, else `.build/debug/faultline`.
  let binary =
    ProcessInfo.processInfo.environment["FAULTLINE_KUBE_BIN"] ?? ProcessInfo.processInfo.environment[
      "FAULTLINE_BIN"] ?? "\(repoRoot)/.build/debug/faultline"

  /// A pod: a named network namespace with `eth0` (a veth end) and a `sleep` in a kubelet cgroup.
  struct FakePod {
    var netns: String
    var pid: Int32
  }

  /// Makes netns `name` with `eth0` inside, starts a `sleep` in it and moves it to `cgroup`.
  func makePod(_ name: String, cgroup: String, fixture: PodResolutionVMTests.Fixture, host: UInt64) throws
    -> FakePod
  {
    let tag = String(name.suffix(1))
    try sh(["ip", "netns", "add", name])
    try sh(["ip", "link", "add", "flh\(tag)", "type", "veth", "peer", "name", "eth0", "netns", name])
    try sh(["ip", "link", "set", "flh\(tag)", "up"])
    try sh(["ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up"])
    let pid = try fixture.start(["ip", "netns", "exec", name, "sleep", "600"], leaving: host)
    try fixture.place([pid], in: cgroup)
    return FakePod(netns: name, pid: pid)
  }

  /// `tc qdisc show dev eth0` inside the pod's namespace.
  func qdiscs(_ pod: FakePod) -> String {
    (try? runProcess(["ip", "netns", "exec", pod.netns, "tc", "qdisc", "show", "dev", "eth0"]).stdout) ?? ""
  }

  func hasDelay(_ pod: FakePod) -> Bool {
    qdiscs(pod).contains("netem") && qdiscs(pod).contains("delay 50ms")
  }

  /// The per-pod annotation file's `chaos.experiment/active` value, or nil when there is no file.
  func active(_ directory: String, _ uid: String) -> String? {
    guard let text = try? String(contentsOfFile: "\(directory)/\(uid)/annotations", encoding: .utf8) else {
      return nil
    }
    for line in text.split(separator: "\n") where line.hasPrefix("chaos.experiment/active=") {
      return String(line.dropFirst("chaos.experiment/active=".count)).replacingOccurrences(of: "\"", with: "")
    }
    return ""
  }

  @Test func runPutsNetemOnEverySelectedPodFollowsPodsThatComeAndGoAndRevertsOnSigterm() throws {
    #expect(FileManager.default.isExecutableFile(atPath: binary), "no binary at \(binary)")
    let host = try #require(netnsInode(getpid()))
    let fixture = PodResolutionVMTests.Fixture()
    var netnsNames: [String] = []
    defer {
      fixture.close()
      for name in netnsNames { _ = try? runProcess(["ip", "netns", "del", name]) }
    }
    let underscoredB = Self.uidB.replacingOccurrences(of: "-", with: "_")
    netnsNames = ["fl-pod-a", "fl-pod-b", "fl-pod-w"]
    let a = try makePod(
      "fl-pod-a", cgroup: "kubepods/burstable/pod\(Self.uidA)/ctra", fixture: fixture, host: host)
    let b = try makePod(
      "fl-pod-b",
      cgroup: "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(underscoredB).slice/"
        + "cri-containerd-ctrb.scope", fixture: fixture, host: host)
    let w = try makePod(
      "fl-pod-w", cgroup: "kubepods/besteffort/pod\(Self.uidW)/ctrw", fixture: fixture, host: host)

    let payment = ["app": "payment"]
    let server = try FakeKubeAPI(pods: [
      podJSON("pay-a", uid: Self.uidA, node: Self.node, labels: payment),
      podJSON("pay-b", uid: Self.uidB, node: Self.node, labels: payment),
      podJSON("web-w", uid: Self.uidW, node: Self.node, labels: ["app": "web"]),
    ])
    defer { server.stop() }

    let profiles = try makeTemporaryDirectory("fl-vm-pod-profiles")
    let state = try makeTemporaryDirectory("fl-vm-pod-state")
    let podDir = try makeTemporaryDirectory("fl-vm-pod-annotations")
    defer { for dir in [profiles, state, podDir] { try? FileManager.default.removeItem(atPath: dir) } }
    try """
    name: payment-latency
    target:
      interface: eth0
      pods:
        namespace: default
        labels: {app: payment}
        mode: all
    netem:
      delay: 50ms
    """.write(toFile: profiles + "/payment.yaml", atomically: true, encoding: .utf8)

    let log = state + "/daemon.log"
    let daemon = try launchAgent(
      binary: binary,
      arguments: [
        "run", "--profiles", profiles, "--kube-api", server.url, "--node-name", Self.node,
        "--pod-annotations-dir", podDir, "--state-dir", state + "/journal", "--annotations",
        state + "/annotations", "--annotate-pods",
      ],
      log: log)
    defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
    func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
    /// The bodies of the PATCH requests the fake API server received for a pod, in order.
    func patches(_ pod: String) -> [String] {
      let script = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"
      guard let text = try? sh(["python3", "-c", script, server.url + "/_control/requests"]),
        let requests = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
      else { return [] }
      return requests.filter {
        $0["method"] as? String == "PATCH" && ($0["path"] as? String)?.hasSuffix("/pods/\(pod)") == true
      }.compactMap { $0["body"] as? String }
    }

    // Exactly the two selected pods get the fault.
    let applied = waitFor(90) { hasDelay(a) && hasDelay(b) }
    print(
      "measured: netem on pay-a and pay-b after \(applied.map { String(format: "%.2f s", $0) } ?? "never")")
    print("measured: pay-a qdiscs: \(qdiscs(a))")
    #expect(applied != nil, "netem not on both selected pods; log:\n\(logText())")
    #expect(!qdiscs(w).contains("netem"), "the non-selected pod got netem: \(qdiscs(w))")
    #expect(active(podDir, Self.uidA) == "true")
    #expect(active(podDir, Self.uidB) == "true")
    #expect(active(podDir, Self.uidW) == nil)
    let fileA = (try? String(contentsOfFile: "\(podDir)/\(Self.uidA)/annotations", encoding: .utf8)) ?? ""
    print("measured: \(podDir)/\(Self.uidA)/annotations:\n\(fileA)")
    #expect(fileA.contains("chaos.experiment/name=\"payment-latency\""))
    // --annotate-pods: the Pod objects were patched too (JSON merge patch on the API server).
    let patchedActive = waitFor(10) {
      patches("pay-a").contains { $0.contains("\"chaos.experiment/active\":\"true\"") }
        && patches("pay-b").contains { $0.contains("\"chaos.experiment/name\":\"payment-latency\"") }
    }
    print("measured: PATCH bodies for pay-a: \(patches("pay-a"))")
    #expect(patchedActive != nil, "the Pod objects were not annotated; log:\n\(logText())")
    #expect(patches("web-w").isEmpty)

    // A third matching pod arrives through the watch.
    netnsNames.append("fl-pod-c")
    let c = try makePod("fl-pod-c", cgroup: "kubepods/pod\(Self.uidC)/ctrc", fixture: fixture, host: host)
    try server.send("ADDED", podJSON("pay-c", uid: Self.uidC, node: Self.node, labels: payment))
    let joined = waitFor(30) { hasDelay(c) }
    print(
      "measured: netem on the added pod pay-c after \(joined.map { String(format: "%.2f s", $0) } ?? "never")"
    )
    #expect(joined != nil, "the added pod did not get the fault; log:\n\(logText())")
    #expect(waitFor(10) { active(podDir, Self.uidC) == "true" } != nil)

    // A pod goes away: its processes and namespace first, then the API's DELETED event.
    kill(b.pid, SIGKILL)
    _ = waitFor(10) { netnsInode(b.pid) == nil }
    try sh(["ip", "netns", "del", b.netns])
    netnsNames.removeAll { $0 == b.netns }
    try server.send("DELETED", podJSON("pay-b", uid: Self.uidB, node: Self.node, labels: payment))
    let closed = waitFor(30) { active(podDir, Self.uidB) == "false" }
    print("measured: pay-b's window closed after \(closed.map { String(format: "%.2f s", $0) } ?? "never")")
    #expect(closed != nil, "pay-b's window did not close; log:\n\(logText())")
    #expect(hasDelay(a) && hasDelay(c), "the other pods lost their fault")

    // SIGTERM reverts everything and exits 0.
    kill(daemon.processIdentifier, SIGTERM)
    waitForExit(daemon, seconds: 60)
    #expect(!daemon.isRunning)
    #expect(daemon.terminationStatus == 0, "log:\n\(logText())")
    for pod in [a, c, w] {
      #expect(!qdiscs(pod).contains("netem"), "netem left in \(pod.netns): \(qdiscs(pod))")
    }
    #expect(active(podDir, Self.uidA) == "false")
    #expect(active(podDir, Self.uidC) == "false")
    #expect(
      patches("pay-a").last?.contains("\"chaos.experiment/active\":\"false\"") == true,
      "pay-a's Pod object still says active: \(patches("pay-a"))")
    #expect(patches("pay-a").last?.contains("\"chaos.experiment/name\":null") == true)
    let journal = (try? FileManager.default.contentsOfDirectory(atPath: state + "/journal/active")) ?? []
    #expect(journal.filter { $0.hasSuffix(".json") }.isEmpty, "journal left: \(journal)")
    let text = logText()
    let errors = text.split(separator: "\n").filter { $0.contains(" error ") || $0.contains("revert failed") }
    #expect(errors.isEmpty, "errors in the log:\n\(errors.joined(separator: "\n"))")
    print("measured: daemon log:\n\(text)")
  }
}
