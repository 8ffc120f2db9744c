import FaultModel
import Foundation
import Testing

@testable import KubeTargets

/// The selection modes and the pure resolver (pods + a proc scan → targets).
@Suite struct PodSelectionTests {
  static func uid(_ n: Int) -> String { String(format: "00000000-0000-4000-8000-%012d", n) }

  @Test(arguments: [
    (PodSelectionMode.all, 7, 7), (.all, 0, 0), (.one, 7, 1), (.one, 0, 0), (.fixed(3), 7, 3),
    (.fixed(9), 7, 7),
    (.percent(50), 7, 4), (.percent(50), 8, 4), (.percent(10), 3, 1), (.percent(100), 5, 5),
    (.percent(33), 3, 1), (.percent(34), 3, 2), (.percent(25), 0, 0),
  ])
  func countsFollowTheMode(mode: PodSelectionMode, total: Int, expected: Int) {
    #expect(PodSelection.count(mode, of: total) == expected)
  }

  @Test func theSameSeedPicksTheSamePodsAndKeepsTheOrder() {
    let uids = (0..<20).map(Self.uid)
    let first = PodSelection.choose(uids, mode: .fixed(5), seed: 42) { $0 }
    #expect(first.count == 5)
    #expect(first == PodSelection.choose(uids, mode: .fixed(5), seed: 42) { $0 })
    #expect(first == first.sorted())
    #expect(Set(first).isSubset(of: uids))
    // Another seed picks differently (for these 20 candidates).
    #expect(first != PodSelection.choose(uids, mode: .fixed(5), seed: 43) { $0 })
  }

  @Test func aPodComingOrGoingDoesNotReshuffleTheOthers() {
    let uids = (0..<20).map(Self.uid)
    let chosen = Set(PodSelection.choose(uids, mode: .fixed(5), seed: 7) { $0 })
    // Remove a pod that was not chosen: the choice is unchanged.
    let notChosen = uids.first { !chosen.contains($0) }!
    #expect(
      Set(PodSelection.choose(uids.filter { $0 != notChosen }, mode: .fixed(5), seed: 7) { $0 }) == chosen)
    // Add a pod: at most one of the chosen is displaced.
    let more = uids + [Self.uid(99)]
    let after = Set(PodSelection.choose(more, mode: .fixed(5), seed: 7) { $0 })
    #expect(after.intersection(chosen).count >= 4)
  }

  @Test func oneSpreadsOverTheCandidatesAcrossSeeds() {
    let uids = (0..<4).map(Self.uid)
    var picks: [String: Int] = [:]
    for seed in 0..<400 {
      picks[PodSelection.choose(uids, mode: .one, seed: UInt64(seed)) { $0 }[0], default: 0] += 1
    }
    #expect(picks.count == 4)
    for count in picks.values { #expect(count > 50) }
  }

  @Test func theProfileSeedIsStable() {
    #expect(
      PodSelection.seed(forProfile: "payment-latency") == PodSelection.seed(forProfile: "payment-latency"))
    #expect(PodSelection.seed(forProfile: "a") != PodSelection.seed(forProfile: "b"))
    // FNV-1a of "a" (a fixed value: plan and run in different processes must agree).
    #expect(PodSelection.seed(forProfile: "a") == 0xaf63_dc4c_8601_ec8c)
  }

  // MARK: resolver

  func pod(
    _ name: String, _ n: Int, namespace: String = "default", labels: [String: String] = ["app": "web"],
    phase: String = "Running", hostNetwork: Bool = false
  ) -> Pod {
    Pod(
      name: name, namespace: namespace, uid: Self.uid(n), labels: labels, nodeName: "node-1",
      hostNetwork: hostNetwork, phase: phase)
  }

  func scan(_ uids: [Int], host: [Int] = []) -> ProcScan {
    var scan = ProcScan(procRoot: "/proc")
    for n in uids {
      scan.namespacesByPodUID[Self.uid(n)] = [
        ProcessNetworkNamespace(
          inode: UInt64(4_026_532_000 + n), device: 4, path: "/proc/\(1000 + n)/ns/net", pid: Int32(1000 + n))
      ]
    }
    scan.hostNetworkPodUIDs = Set(host.map(Self.uid))
    return scan
  }

  @Test func resolvesOnlyMatchingRunningPodsWithANamespace() {
    let pods = [
      pod("web-b", 2), pod("web-a", 1), pod("db", 3, labels: ["app": "db"]),
      pod("other-ns", 4, namespace: "shop"),
      pod("pending", 5, phase: "Pending"), pod("host", 6, hostNetwork: true), pod("gone", 7),
      pod("host-by-proc", 8),
    ]
    let selector = PodSelector(namespaces: ["default"], labels: ["app": "web"])
    let resolution = PodTargetResolver.resolve(
      selector, pods: pods, scan: scan([1, 2, 3, 4, 6]) + host(8), seed: 1)
    #expect(resolution.targets.map(\.pod.name) == ["web-a", "web-b"])
    #expect(resolution.targets[0].netnsInode == 4_026_532_001)
    #expect(resolution.targets[0].netns == .path("/proc/1001/ns/net"))
    #expect(
      resolution.targets[0].faultTarget(interface: "eth0")
        == FaultTarget(interface: "eth0", namespace: .path("/proc/1001/ns/net")))
    #expect(resolution.eligibleCount == 2)
    #expect(
      resolution.skipped.map(\.description) == [
        "default/gone: no process of the pod found in /proc (by cgroup); containers not started, or --proc-root is "
          + "not the node's /proc",
        "default/host: hostNetwork: the pod is in the node's network namespace; faultline does not inject there",
        "default/host-by-proc: hostNetwork: the pod is in the node's network namespace; faultline does not inject there",
        "default/pending: phase is Pending, not Running",
      ])
  }

  func host(_ n: Int) -> Set<String> { [Self.uid(n)] }

  @Test func theModePicksAmongEligiblePodsOnly() {
    let pods = (1...10).map { pod("web-\($0)", $0) } + [pod("pending", 11, phase: "Pending")]
    let all = scan(Array(1...11))
    for (mode, expected) in [(PodSelectionMode.all, 10), (.one, 1), (.fixed(3), 3), (.percent(25), 3)] {
      let selector = PodSelector(namespaces: ["default"], mode: mode)
      let resolution = PodTargetResolver.resolve(selector, pods: pods, scan: all, seed: 9)
      #expect(resolution.targets.count == expected, "\(mode)")
      #expect(resolution.eligibleCount == 10)
      #expect(!resolution.targets.contains { $0.pod.name == "pending" })
      #expect(resolution == PodTargetResolver.resolve(selector, pods: pods.reversed(), scan: all, seed: 9))
    }
  }

  @Test func aMirrorPodIsFoundByTheStaticPodsUID() {
    var mirror = pod("etcd-node-1", 50, namespace: "kube-system", labels: [:])
    mirror.annotations[Pod.mirrorAnnotation] = "6c7a3f8e9b1d2c4e5f6a7b8c9d0e1f2a"
    var proc = ProcScan(procRoot: "/host/proc")
    proc.namespacesByPodUID["6c7a3f8e9b1d2c4e5f6a7b8c9d0e1f2a"] = [
      ProcessNetworkNamespace(inode: 77, device: 4, path: "/host/proc/9/ns/net", pid: 9)
    ]
    let resolution = PodTargetResolver.resolve(
      PodSelector(namespaces: ["kube-system"]), pods: [mirror], scan: proc, seed: 0)
    #expect(resolution.targets.map(\.netnsInode) == [77])
  }
}

extension ProcScan {
  /// This scan with `uids` marked as host-network pods.
  fileprivate static func + (scan: ProcScan, uids: Set<String>) -> ProcScan {
    var copy = scan
    copy.hostNetworkPodUIDs.formUnion(uids)
    return copy
  }
}
