import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import NetemKernel
import Testing

/// Targeted faults in the agent: peers resolved and followed, filters changed in place, ingress
/// through an IFB, the node protected.
@Suite struct AgentTrafficTests {
  func prefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }

  @Test func aHostnamePeerIsReResolvedAndOnlyTheFiltersChange() async throws {
    let yaml = """
      name: to-db
      target: {interface: eth0}
      traffic:
        peers: [db.internal:5432]
        protocol: tcp
      netem: {delay: 40ms}
      """
    let harness = try AgentHarness(profiles: ["db.yaml": yaml])
    harness.hosts.set("db.internal", to: ["10.0.0.5"])
    try await harness.run { h in
      #expect(await eventually { h.kernel.root("eth0")?.shape != nil })
      #expect(
        h.kernel.root("eth0")?.shape?.faulted
          == [FlowMatch(prefix: prefix("10.0.0.5"), ipProtocol: .tcp, ports: PortSpan(5432, 5432))])
      h.hosts.set("db.internal", to: ["10.0.0.6", "fd00::6"])
      await h.advance(by: .seconds(30), step: .seconds(5))
      #expect(await eventually { h.kernel.root("eth0")?.shape?.faulted.count == 2 })
      #expect(h.kernel.calls(.apply).count == 1, "the netem stayed on: only the filters changed")
      #expect(h.kernel.calls(.reshape).count == 1)
      #expect(h.kernel.calls(.revert).isEmpty)
    }
    let experiment = try #require(harness.spans("chaos.experiment").first)
    #expect(experiment.string("chaos.experiment.traffic.direction") == "egress")
    #expect(harness.spans("chaos.reshape").count == 1)
  }

  @Test func aPeerThatDoesNotResolveIsPendingUntilItDoes() async throws {
    let yaml =
      "name: to-api\ntarget: {interface: eth0}\ntraffic: {peers: [api.example]}\nnetem: {delay: 5ms}\n"
    let harness = try AgentHarness(profiles: ["api.yaml": yaml])
    try await harness.run { h in
      #expect(await eventually { h.metrics.readiness.detail.contains { $0.contains("api.example") } })
      #expect(h.netem() == nil)
      h.hosts.set("api.example", to: ["192.0.2.7"])
      await h.advance(by: .seconds(30), step: .seconds(5))
      #expect(await eventually { h.kernel.root("eth0")?.shape != nil })
    }
  }

  @Test func ingressGoesThroughAnIFBAndEverythingIsRemovedAfterTheWindow() async throws {
    let yaml = """
      name: from-batch
      duration: 10s
      target: {interface: eth0}
      traffic:
        direction: ingress
        peers: [10.1.0.0/16]
      netem: {delay: 30ms}
      """
    let harness = try AgentHarness(profiles: ["in.yaml": yaml])
    try await harness.run { h in
      #expect(await eventually { h.kernel.redirect("eth0") != nil })
      let ifb = try #require(h.kernel.redirect("eth0")?.ifb)
      #expect(h.kernel.root(ifb)?.shape?.side == .source)
      #expect(h.kernel.root(ifb)?.shape?.faulted == [FlowMatch(prefix: prefix("10.1.0.0/16"))])
      #expect(h.kernel.root("eth0") == .kernelDefault, "egress is left alone")
      #expect(h.journal.entries().first?.ingress?.ifb == ifb, "the journal knows the IFB")
      await h.settle()
      await h.advance(by: .seconds(10))
      #expect(await eventually { h.kernel.redirect("eth0") == nil })
      #expect(h.kernel.root(ifb) == nil, "the IFB is gone")
      #expect(h.journal.entries().isEmpty)
    }
  }

  @Test func anIngressFaultLeftByADeadProcessIsRemovedWholeAtStart() async throws {
    let kernel = InMemoryKernel()
    let redirect = try await kernel.redirectIngress(of: FaultTarget(), expectedInode: nil)
    let fault = delayFault(.milliseconds(30))
    _ = try await kernel.apply(
      fault, to: FaultTarget(interface: redirect.ifb), expectedInode: nil, force: false, prepare: { _ in })
    let harness = try AgentHarness(profiles: [:], kernel: kernel)
    var orphan = AgentRecoveryTests.orphan(id: "ingressorphan")
    orphan.shaping = TrafficShaping(egress: nil, ingress: .whole)
    orphan.ingress = redirect
    try harness.journal.record(orphan)
    try await harness.run { h in
      #expect(await eventually { h.kernel.redirect("eth0") == nil })
      #expect(h.kernel.root(redirect.ifb) == nil)
      #expect(h.journal.entries().isEmpty)
    }
  }

  @Test func podPeersFollowThePodsAddresses() async throws {
    let yaml = """
      name: to-db-pods
      target: {interface: eth0}
      traffic:
        peers:
          - pods: {namespace: shop, labels: {app: db}}
      netem: {delay: 20ms}
      """
    let harness = try AgentHarness(profiles: ["pods.yaml": yaml])
    harness.pods.setPeerAddresses(["10.2.0.7"])
    try await harness.run { h in
      #expect(
        await eventually { h.kernel.root("eth0")?.shape?.faulted == [FlowMatch(prefix: prefix("10.2.0.7"))] })
      h.pods.setPeerAddresses(["10.2.0.7", "10.2.0.9"])
      #expect(await eventually { h.kernel.root("eth0")?.shape?.faulted.count == 2 })
      #expect(h.kernel.calls(.apply).count == 1)
    }
  }

  @Test func theNodeIsProtectedInPodsUnlessTheProfileSaysOtherwise() async throws {
    let kernel = InMemoryKernel()
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    let harness = try AgentHarness(
      profiles: ["p.yaml": AgentPodTests.podProfile], kernel: kernel,
      configuration: AgentConfiguration(protectedPrefixes: [prefix("192.168.1.10")]))
    harness.pods.set([AgentPodTests.pod("web-0", inode: 1001, pid: 101)])
    try await harness.run { h in
      #expect(await eventually { h.kernel.root("eth0", in: 1001)?.shape != nil })
      #expect(h.kernel.root("eth0", in: 1001)?.shape?.excluded == [FlowMatch(prefix: prefix("192.168.1.10"))])
    }
  }
}

@Suite struct AgentTrafficReloadTests {
  func prefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }

  @Test func editingAProfilesAddressPeersOnlyChangesTheFilters() async throws {
    @Sendable func yaml(_ peer: String) -> String {
      "name: moving\ntarget: {interface: eth0}\ntraffic: {peers: [\(peer)]}\nnetem: {delay: 40ms}\n"
    }
    let harness = try AgentHarness(profiles: ["m.yaml": yaml("10.0.0.2")])
    try await harness.run { h in
      #expect(
        await eventually { h.kernel.root("eth0")?.shape?.faulted == [FlowMatch(prefix: prefix("10.0.0.2"))] })
      h.profiles.send(loadProfiles(["m.yaml": yaml("10.0.0.3")]))
      #expect(
        await eventually { h.kernel.root("eth0")?.shape?.faulted == [FlowMatch(prefix: prefix("10.0.0.3"))] })
      #expect(h.kernel.calls(.apply).count == 1 && h.kernel.calls(.revert).isEmpty, "no gap")
      #expect(h.kernel.calls(.reshape).count == 1)
    }
  }
}
