import AgentTestSupport
import Foundation
import Testing

@testable import KubeTargets

/// Pod resolution on a real kernel without a cluster: network namespaces with processes in them,
/// those processes moved into kubelet-style cgroups this test creates (cgroupfs and systemd
/// layouts), the pod list served by `fake_kube_api.py`, and the real `faultline plan` binary.
///
/// Runs only in the VM harness (root, cgroup2 at /sys/fs/cgroup with controllers enabled):
/// `scripts/vm-test --env FAULTLINE_KUBE_BIN=… -- faultlinePackageTests.xctest
/// --testing-library swift-testing --filter PodResolutionVMTests`.
@Suite(
  .serialized, .enabled(if: inVM, "needs the real-kernel VM (scripts/vm-test)"), .timeLimit(.minutes(5)))
struct PodResolutionVMTests {
  static let node = "vm-node"
  static let uidA = "aaaaaaaa-0000-4000-8000-00000000000a"  // default/pay-a, cgroupfs burstable
  static let uidB = "bbbbbbbb-0000-4000-8000-00000000000b"  // default/pay-b, systemd besteffort, 2 containers
  static let uidC = "cccccccc-0000-4000-8000-00000000000c"  // other/pay-c, cgroupfs guaranteed
  static let uidD = "dddddddd-0000-4000-8000-00000000000d"  // default/web-d (app=web), systemd guaranteed
  static let uidE = "eeeeeeee-0000-4000-8000-00000000000e"  // default/pay-e on another node
  static let uidF = "ffffffff-0000-4000-8000-00000000000f"  // default/pay-f, hostNetwork
  static let uidG = "99999999-0000-4000-8000-000000000009"  // default/pay-g, Pending, no process

  /// Processes and cgroups this test created, removed by ``close()``.
  final class Fixture {
    var processes: [Process] = []
    var cgroups: [String] = []

    /// Starts `arguments` (a `sleep` in the end) and waits until it runs `sleep` in a namespace
    /// other than `previousNamespace` (nil: any).
    func start(_ arguments: [String], leaving previousNamespace: UInt64?) throws -> Int32 {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = arguments
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
      processes.append(process)
      let pid = process.processIdentifier
      let deadline = Date().addingTimeInterval(20)
      while Date() < deadline {
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        if comm == "sleep\n", let ns = netnsInode(pid), previousNamespace.map({ ns != $0 }) ?? true {
          return pid
        }
        Thread.sleep(forTimeInterval: 0.02)
      }
      throw TestFailure("\(arguments.joined(separator: " ")) did not start")
    }

    /// Creates the cgroup at `path` under /sys/fs/cgroup and moves `pids` into it.
    func place(_ pids: [Int32], in path: String) throws {
      let full = "/sys/fs/cgroup/" + path
      var partial = "/sys/fs/cgroup"
      for component in path.split(separator: "/") {
        partial += "/\(component)"
        if !FileManager.default.fileExists(atPath: partial) {
          guard mkdir(partial, 0o755) == 0 else {
            throw TestFailure("mkdir \(partial): \(String(cString: strerror(errno)))")
          }
          cgroups.append(partial)
        }
      }
      for pid in pids {
        let fd = open(full + "/cgroup.procs", O_WRONLY)
        guard fd >= 0 else {
          throw TestFailure("open \(full)/cgroup.procs: \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        let text = "\(pid)\n"
        guard write(fd, text, text.utf8.count) == text.utf8.count else {
          throw TestFailure("moving \(pid) to \(full): \(String(cString: strerror(errno)))")
        }
      }
    }

    func close() {
      for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
      for process in processes { waitForExit(process, seconds: 10) }
      // Deepest first; a cgroup can be removed once its processes are gone.
      for path in cgroups.reversed() {
        for _ in 0..<50 where rmdir(path) != 0 && errno == EBUSY { Thread.sleep(forTimeInterval: 0.05) }
      }
    }
  }

  static func netnsInodeOfSelf() -> UInt64? { netnsInode(getpid()) }

  func profiles() throws -> String {
    let dir = try makeTemporaryDirectory("fl-vm-profiles")
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
    """.write(toFile: dir + "/payment.yaml", atomically: true, encoding: .utf8)
    try """
    name: payment-one
    target:
      interface: eth1
      pods:
        namespace: default
        labels: {app: payment}
        mode: fixed:1
    netem:
      loss: 10%
    """.write(toFile: dir + "/payment-one.yaml", atomically: true, encoding: .utf8)
    try """
    apiVersion: chaos-mesh.org/v1alpha1
    kind: NetworkChaos
    metadata:
      name: other-payment
      namespace: other
    spec:
      action: delay
      mode: all
      selector:
        namespaces: [other]
        labelSelectors: {app: payment}
      delay:
        latency: "20ms"
    """.write(toFile: dir + "/chaos-mesh.yaml", atomically: true, encoding: .utf8)
    return dir
  }

  @Test func planFindsExactlyTheSelectedPodsOnThisNodeInKubeletCgroupsOfBothLayouts() async throws {
    #expect(
      FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers"), "cgroup2 not mounted")
    #expect(FileManager.default.isExecutableFile(atPath: faultlineBinary), "no binary at \(faultlineBinary)")
    let host = try #require(Self.netnsInodeOfSelf())
    let fixture = Fixture()
    defer { fixture.close() }

    // Pods on this node, each in a network namespace of its own (pay-b's two containers share one).
    let a = try fixture.start(["unshare", "--net", "sleep", "600"], leaving: host)
    let b1 = try fixture.start(["unshare", "--net", "sleep", "600"], leaving: host)
    let b2 = try fixture.start(["nsenter", "--net=/proc/\(b1)/ns/net", "sleep", "600"], leaving: host)
    let c = try fixture.start(["unshare", "--net", "sleep", "600"], leaving: host)
    let d = try fixture.start(["unshare", "--net", "sleep", "600"], leaving: host)
    let e = try fixture.start(["unshare", "--net", "sleep", "600"], leaving: host)
    let f = try fixture.start(["sleep", "600"], leaving: nil)
    #expect(netnsInode(b2) == netnsInode(b1))
    #expect(netnsInode(f) == host)

    let underscoredB = Self.uidB.replacingOccurrences(of: "-", with: "_")
    let underscoredD = Self.uidD.replacingOccurrences(of: "-", with: "_")
    let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    try fixture.place([a], in: "kubepods/burstable/pod\(Self.uidA)/\(tag)0a")
    try fixture.place(
      [b1],
      in: "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(underscoredB).slice/"
        + "cri-containerd-\(tag)b1.scope")
    try fixture.place(
      [b2],
      in: "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(underscoredB).slice/"
        + "cri-containerd-\(tag)b2.scope")
    try fixture.place([c], in: "kubepods/pod\(Self.uidC)/\(tag)0c")
    try fixture.place(
      [d], in: "kubepods.slice/kubepods-pod\(underscoredD).slice/cri-containerd-\(tag)0d.scope")
    try fixture.place([e], in: "kubepods/besteffort/pod\(Self.uidE)/\(tag)0e")
    try fixture.place([f], in: "kubepods/besteffort/pod\(Self.uidF)/\(tag)0f")
    let kernelSays = try String(contentsOfFile: "/proc/\(b2)/cgroup", encoding: .utf8)
    print("measured: /proc/\(b2)/cgroup = \(kernelSays.trimmingCharacters(in: .whitespacesAndNewlines))")

    // The library's own view of the real /proc.
    let scan = try ProcScanner().scan()
    #expect(scan.namespace(forPodUID: Self.uidA)?.inode == netnsInode(a))
    #expect(scan.namespacesByPodUID[Self.uidB]?.count == 1)
    #expect(scan.namespace(forPodUID: Self.uidB)?.processCount == 2)
    #expect(scan.namespace(forPodUID: Self.uidB)?.pid == min(b1, b2))
    #expect(scan.hostNetworkPodUIDs.contains(Self.uidF))
    #expect(scan.hostNamespace?.inode == host)

    let payment = ["app": "payment"]
    let server = try FakeKubeAPI(pods: [
      podJSON("pay-a", uid: Self.uidA, node: Self.node, labels: payment),
      podJSON("pay-b", uid: Self.uidB, node: Self.node, labels: payment),
      podJSON("pay-c", namespace: "other", uid: Self.uidC, node: Self.node, labels: payment),
      podJSON("web-d", uid: Self.uidD, node: Self.node, labels: ["app": "web"]),
      podJSON("pay-e", uid: Self.uidE, node: "other-node", labels: payment),
      podJSON("pay-f", uid: Self.uidF, node: Self.node, labels: payment, hostNetwork: true),
      podJSON("pay-g", uid: Self.uidG, node: Self.node, phase: "Pending", labels: payment),
    ])
    defer { server.stop() }
    let profiles = try profiles()
    defer { try? FileManager.default.removeItem(atPath: profiles) }

    let started = Date()
    let result = try runProcess(
      [
        faultlineBinary, "plan", "--profiles", profiles, "--output", "json", "--kube-api", server.url,
        "--node-name", Self.node,
      ], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
    print(String(format: "measured: faultline plan took %.2f s", Date().timeIntervalSince(started)))
    print("measured: plan stdout: \(result.stdout)")
    print("measured: plan stderr: \(result.stderr)")
    #expect(result.status == 0)
    let entries = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    func rows(_ profile: String) -> [String: (netns: String, inode: UInt64, uid: String)] {
      var rows: [String: (String, UInt64, String)] = [:]
      for entry in entries where entry["profile"] as? String == profile {
        rows[entry["pod"] as? String ?? "?"] = (
          entry["netns"] as? String ?? "", (entry["netnsInode"] as? NSNumber)?.uint64Value ?? 0,
          entry["uid"] as? String ?? ""
        )
      }
      return rows
    }

    let all = rows("payment-latency")
    #expect(Set(all.keys) == ["default/pay-a", "default/pay-b"])
    #expect(all["default/pay-a"]?.inode == netnsInode(a))
    #expect(all["default/pay-a"]?.netns == "/proc/\(a)/ns/net")
    #expect(all["default/pay-a"]?.uid == Self.uidA)
    #expect(all["default/pay-b"]?.inode == netnsInode(b1))
    #expect(all["default/pay-b"]?.netns == "/proc/\(min(b1, b2))/ns/net")
    for row in all.values { #expect(statInode(row.netns) == row.inode, "\(row.netns)") }

    let one = rows("payment-one")
    #expect(one.count == 1)
    #expect(Set(one.keys).isSubset(of: ["default/pay-a", "default/pay-b"]))

    let other = rows("other-payment")
    #expect(Set(other.keys) == ["other/pay-c"])
    #expect(other["other/pay-c"]?.inode == netnsInode(c))

    #expect(entries.count == 4)
    #expect(result.stderr.contains("payment-latency: skipped default/pay-f: hostNetwork"))
    #expect(result.stderr.contains("payment-latency: skipped default/pay-g: phase is Pending, not Running"))
    for absent in ["pay-e", "web-d", "pay-c"]
    where result.stderr.contains("payment-latency: skipped default/\(absent)") {
      Issue.record("\(absent) should not even match")
    }
  }
}

/// The inode of `/proc/PID/ns/net`, or nil when the process is gone.
func netnsInode(_ pid: Int32) -> UInt64? {
  statInode("/proc/\(pid)/ns/net")
}

/// `stat -L PATH` inode, or nil.
func statInode(_ path: String) -> UInt64? {
  var info = stat()
  return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
}
