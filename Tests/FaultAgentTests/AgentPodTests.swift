import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import NetemKernel
import Testing

/// DaemonSet mode: the pods a profile selects come and go while its window is open.
@Suite struct AgentPodTests {
  static let podProfile = profileYAML("web-latency", pods: "namespace: default\nlabels: {app: web}")

  /// An agent running the pod profile, with one selected pod, web-0, in namespace 1001 (`/proc/101`).
  static func onePod(_ setUp: (InMemoryKernel) -> Void = { _ in }) throws -> AgentHarness {
    let kernel = InMemoryKernel()
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    setUp(kernel)
    let harness = try AgentHarness(profiles: ["p.yaml": podProfile], kernel: kernel)
    harness.pods.set([pod("web-0", inode: 1001, pid: 101)])
    return harness
  }

  /// A pod `name` whose namespace is `inode`, reached through `/proc/<pid>/ns/net`.
  static func pod(_ name: String, inode: UInt64, pid: Int32) -> PodTarget {
    PodTarget(
      target: FaultTarget(interface: "eth0", namespace: .path("/proc/\(pid)/ns/net")), namespace: "default",
      name: name, uid: uid(name), netnsInode: inode)
  }

  /// A pod UID (a UUID, as the API server gives) that spells `name` in its last group.
  static func uid(_ name: String) -> String {
    let hex = name.utf8.map { String($0, radix: 16) }.joined()
    return "00000000-0000-4000-8000-" + String(repeating: "0", count: max(0, 12 - hex.count)) + hex.suffix(12)
  }

  @Test func podsThatComeAndGoDuringTheWindowGetAndLoseTheFault() async throws {
    let kernel = InMemoryKernel()
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    kernel.addNamespace(inode: 1002, path: "/proc/102/ns/net")
    let harness = try AgentHarness(
      profiles: ["p.yaml": Self.podProfile], kernel: kernel, podAnnotations: true, annotatePods: true)
    let web0 = Self.pod("web-0", inode: 1001, pid: 101)
    let web1 = Self.pod("web-1", inode: 1002, pid: 102)
    harness.pods.set([web0])
    try await harness.run { h in
      #expect(await eventually { h.netem(in: 1001) != nil })
      #expect(h.netem(in: 1002) == nil)
      h.pods.set([web0, web1])
      #expect(await eventually { h.netem(in: 1002) != nil }, "a pod added during the window gets the fault")
      h.pods.set([web1])
      #expect(await eventually { h.netem(in: 1001) == nil }, "a pod that left has its fault reverted")
      #expect(h.netem(in: 1002) != nil)
      let file = { @Sendable (uid: String) in
        (try? String(contentsOfFile: h.directory + "/pods/\(uid)/annotations", encoding: .utf8)) ?? ""
      }
      #expect(await eventually { file(Self.uid("web-1")).contains("chaos.experiment/name=\"web-latency\"") })
      #expect(await eventually { file(Self.uid("web-0")).contains("chaos.experiment/active=\"false\"") })
    }
    #expect(harness.netem(in: 1002) == nil)
    let pods = harness.spans("chaos.experiment").compactMap { $0.string("k8s.pod.name") }.sorted()
    #expect(pods == ["web-0", "web-1"])
    #expect(
      harness.spans("chaos.experiment").allSatisfy { $0.string("chaos.experiment.mode") == "daemonset" })
    #expect(
      harness.pods.patches.contains {
        $0.pod == "default/web-1" && $0.annotations["chaos.experiment/active"] == "true"
      })
    #expect(harness.pods.watchCount == 0, "the pod watch ends with the window")
  }

  @Test func aPodWhoseSandboxWasRecreatedGetsTheFaultInItsNewNamespace() async throws {
    let harness = try Self.onePod()
    try await harness.run { h in
      #expect(await eventually { h.netem(in: 1001) != nil })
      // The sandbox restarts: a new namespace, a new process.
      h.kernel.addNamespace(inode: 2001, path: "/proc/201/ns/net")
      h.pods.set([Self.pod("web-0", inode: 2001, pid: 201)])
      #expect(await eventually { h.netem(in: 2001) != nil && h.netem(in: 1001) == nil })
    }
  }

  @Test func whenThePodsProcessExitsTheRevertStillReachesItsNamespace() async throws {
    // Defect: the window was pinned to /proc/<lowest pid>/ns/net; when that process exited while the
    // pod lived on, the revert said "namespace gone", dropped the journal entry and left netem on.
    let harness = try Self.onePod { $0.setPath("/proc/105/ns/net", to: 1001) }
    try await harness.run { h in
      #expect(await eventually { h.netem(in: 1001) != nil })
      h.kernel.setPath("/proc/101/ns/net", to: nil)
      h.pods.set([])
      #expect(await eventually { h.netem(in: 1001) == nil }, "reverted through /proc/105, found by inode")
      #expect(h.journal.entries().isEmpty)
    }
  }

  @Test func aReusedPidNeverRedirectsAReapplyIntoAnotherNamespace() async throws {
    let harness = try Self.onePod { $0.setPath("/proc/105/ns/net", to: 1001) }
    try await harness.run { h in
      #expect(await eventually { h.netem(in: 1001) != nil })
      // PID 101 exits and the number is reused by a process in the host's namespace.
      h.kernel.setPath("/proc/101/ns/net", to: 1)
      h.profiles.send(
        loadProfiles([
          "p.yaml": profileYAML(
            "web-latency", pods: "namespace: default\nlabels: {app: web}", netem: "delay: 90ms")
        ]))
      #expect(await eventually { h.netem(in: 1001)?.fault.delay == .milliseconds(90) })
      #expect(h.netem(in: 1) == nil, "the host's namespace was never touched")
    }
    #expect(harness.netem(in: 1001) == nil)
    #expect(harness.netem(in: 1) == nil)
  }

  @Test func aPodNamespaceThatVanishedWithItsPodClosesQuietly() async throws {
    let harness = try Self.onePod()
    try await harness.run { h in
      #expect(await eventually { h.netem(in: 1001) != nil })
      h.kernel.deleteNamespace(inode: 1001)
      h.pods.set([])
      #expect(await eventually { h.journal.entries().isEmpty })
    }
    let revert = try #require(harness.spans("chaos.revert").first)
    #expect(revert.string("chaos.experiment.revert.outcome") == "nothing_to_revert")
    #expect(revert.status == nil, "a namespace gone with its pod is not an error")
  }

  @Test func aChaosMeshNetworkChaosWithDurationAndNoSchedulerEndsOnTime() async throws {
    let manifest = """
      apiVersion: chaos-mesh.org/v1alpha1
      kind: NetworkChaos
      metadata: {name: thirty-seconds, namespace: default}
      spec:
        action: delay
        mode: all
        selector: {namespaces: [default], labelSelectors: {app: web}}
        delay: {latency: 40ms}
        duration: 30s
      """
    let kernel = InMemoryKernel()
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    let harness = try AgentHarness(profiles: ["cm.yaml": manifest], kernel: kernel)
    harness.pods.set([Self.pod("web-0", inode: 1001, pid: 101)])
    try await harness.run { h in
      #expect(await eventually { h.netem(in: 1001)?.fault.delay == .milliseconds(40) })
      await h.settle()
      await h.advance(by: .seconds(29.5))
      #expect(h.netem(in: 1001) != nil)
      await h.advance(by: .seconds(0.5))
      #expect(await eventually { h.netem(in: 1001) == nil }, "spec.duration ends the experiment")
    }
  }
}
