import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import NetemKernel
import Testing
import SystemPackage

/// Crashes, drift, failures and races: nothing applied is ever left behind or untracked.
@Suite struct AgentRecoveryTests {
  /// A journal entry as a process that is gone would have left it.
  static func orphan(id: String, interface: String = "eth0", inode: UInt64 = 1) -> JournalEntry {
    JournalEntry(
      id: id, name: "crashed", target: FaultTarget(interface: interface),
      namespace: NamespaceIdentity(path: InMemoryKernel.currentPath, inode: inode),
      handle: NetemKernel.handle,
      replaced: nil, fault: delayFault(.milliseconds(10)),
      startedAt: Date(timeIntervalSince1970: 1_700_000_000),
      expiresAt: nil, pid: Int32.max - 1, processStart: 1)
  }

  @Test func faultsLeftByADeadProcessAreRevertedAtStart() async throws {
    let kernel = InMemoryKernel(currentInterfaces: ["eth0", "eth1"])
    kernel.setRoot(
      .faultline(NetemParameters(delayFault(.milliseconds(10)), distribution: nil)), interface: "eth1", in: 1)
    let harness = try AgentHarness(profiles: [:], kernel: kernel)
    try harness.journal.record(Self.orphan(id: "deadbeef", interface: "eth1"))
    try await harness.run { h in
      #expect(await eventually { h.netem("eth1") == nil })
      #expect(h.journal.entries().isEmpty)
    }
    let revert = try #require(harness.spans("chaos.revert").first)
    #expect(revert.string("chaos.experiment.revert.reason") == "crash_recovery")
    #expect(revert.string("chaos.experiment.id") == "deadbeef")
  }

  @Test func aFaultSomeoneRemovedIsPutBackOnResync() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("sticky")])
    try await harness.run { h in
      await h.settle()
      #expect(h.netem() != nil)
      h.kernel.setRoot(.kernelDefault, interface: "eth0", in: 1)  // someone ran `tc qdisc del`
      await h.advance(by: .seconds(30), step: .seconds(5))
      #expect(await eventually { h.netem()?.fault.delay == .milliseconds(50) })
      #expect(h.counter(AgentMetrics.Name.drifts, ("kind", "removed")) == 1)
    }
  }

  @Test func aFaultSomeoneChangedIsReportedAsDriftAndLeftAlone() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("watched")])
    try await harness.run { h in
      await h.settle()
      let theirs = NetemParameters(delayFault(.milliseconds(7)), distribution: nil)
      h.kernel.setRoot(.faultline(theirs), interface: "eth0", in: 1)
      await h.advance(by: .seconds(30), step: .seconds(5))
      #expect(await eventually { h.counter(AgentMetrics.Name.drifts, ("kind", "changed")) == 1 })
      #expect(h.netem()?.fault.delay == .milliseconds(7))
    }
    let experiment = try #require(harness.spans("chaos.experiment").first)
    #expect(
      experiment.events.contains {
        $0.name == "chaos.drift" && $0.attributes.get("chaos.experiment.drift") == .string("changed")
      })
  }

  @Test func aFailedApplyIsRetriedWithBackoffAndReportedUntilItSucceeds() async throws {
    // The interface is not there yet (the CNI is late, or the API server was down at start).
    let kernel = InMemoryKernel(currentInterfaces: [])
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("patient")], kernel: kernel)
    try await harness.run { h in
      await h.settle()
      #expect(await eventually { h.metrics.readiness.ready == false })
      let detail = h.metrics.readiness.detail.joined(separator: "\n")
      #expect(detail.contains("patient") && detail.contains("interface eth0 not found"), "\(detail)")
      #expect(h.gauge(AgentMetrics.Name.faultsPending, ("kind", "apply")) == 1)
      await h.advance(by: .seconds(1))
      await h.advance(by: .seconds(2))
      #expect(h.kernel.calls(.apply).count == 3, "retried after 1 s, then 2 s more")
      h.kernel.setInterface("eth0", in: 1, present: true)
      await h.advance(by: .seconds(4))
      #expect(await eventually { h.netem() != nil })
      #expect(await eventually { h.metrics.readiness.ready })
    }
  }

  @Test func pendingPodsAreRetriedWhenTheAPIServerComesBack() async throws {
    let kernel = InMemoryKernel()
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    let harness = try AgentHarness(profiles: ["p.yaml": AgentPodTests.podProfile], kernel: kernel)
    harness.pods.failListing(TargetSourceError(message: "connection refused"))
    harness.pods.set([AgentPodTests.pod("web-0", inode: 1001, pid: 101)])
    try await harness.run { h in
      #expect(await eventually { h.metrics.readiness.detail.contains { $0.contains("connection refused") } })
      h.pods.failListing(nil)
      await h.advance(by: .seconds(1))
      #expect(await eventually { h.netem(in: 1001) != nil })
      #expect(await eventually { h.metrics.readiness.ready })
    }
  }

  @Test func aFailedRevertIsRetriedUntilItSucceeds() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("stubborn", duration: "5s")])
    harness.kernel.fail(.revert, times: 2, with: .system("RTM_DELQDISC", errno: .noBufferSpace))
    try await harness.run { h in
      await h.settle()
      await h.advance(by: .seconds(5))
      #expect(h.netem() != nil, "the first revert failed")
      #expect(h.journal.entries().count == 1, "the entry stays while the fault may be on")
      #expect(await eventually { h.gauge(AgentMetrics.Name.faultsPending, ("kind", "revert")) == 1 })
      await h.advance(by: .seconds(1))
      #expect(h.netem() != nil, "the second failed too")
      await h.advance(by: .seconds(2))
      #expect(h.netem() == nil)
      #expect(h.journal.entries().isEmpty)
      #expect(await eventually { h.gauge(AgentMetrics.Name.faultsPending, ("kind", "revert")) == 0 })
    }
    #expect(harness.counter(AgentMetrics.Name.reverts, ("reason", "error")) == 2)
    #expect(harness.counter(AgentMetrics.Name.reverts, ("reason", "duration_elapsed")) == 1)
  }

  @Test func aProfileRemovedWhileItsReapplyIsInFlightIsReverted() async throws {
    // Defect: the revert landed during the re-apply's await, the re-apply then put the fault back
    // and nothing tracked it.
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("racy", netem: "delay: 50ms")])
    try await harness.run { h in
      await h.settle()
      #expect(h.netem() != nil)
      let gate = h.kernel.hold(.apply)
      h.profiles.send(loadProfiles(["a.yaml": profileYAML("racy", netem: "delay: 70ms")]))
      #expect(await eventually { gate.hasArrived })
      h.profiles.send(loadProfiles([:]))
      gate.open()
      #expect(await eventually { h.netem() == nil }, "the fault is not left behind")
      #expect(await eventually { h.journal.entries().isEmpty })
    }
  }

  @Test func aWindowEndingWhileItsApplyIsInFlightIsReverted() async throws {
    let harness = try AgentHarness(profiles: [
      "a.yaml": profileYAML("slow", schedule: "@every 10s", duration: "2s")
    ])
    try await harness.run { h in
      await h.settle()
      let gate = h.kernel.hold(.apply)
      h.clock.advance(by: .seconds(10))
      #expect(await eventually { gate.hasArrived })
      h.clock.advance(by: .seconds(3))  // the window's time is up while the apply is held
      gate.open()
      #expect(await eventually { h.kernel.calls(.revert).count == 1 })
      #expect(h.netem() == nil)
      #expect(h.journal.entries().isEmpty)
    }
  }

  @Test func shutdownRevertsEverythingAndTheJournalIsEmpty() async throws {
    let kernel = InMemoryKernel(currentInterfaces: ["eth0", "eth1"])
    let harness = try AgentHarness(
      profiles: [
        "a.yaml": profileYAML("one", interface: "eth0"), "b.yaml": profileYAML("two", interface: "eth1"),
      ],
      kernel: kernel)
    try await harness.run { h in
      #expect(await eventually { h.netem("eth0") != nil && h.netem("eth1") != nil })
    }
    #expect(harness.netem("eth0") == nil && harness.netem("eth1") == nil)
    #expect(harness.journal.entries().isEmpty)
    #expect(harness.gauge(AgentMetrics.Name.activeFaults) == 0)
  }

  @Test func anUnscheduledProfileWhoseFirstApplyFailsIsNotDeadForever() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("second-chance")])
    harness.kernel.fail(.apply, times: 1, with: .system("RTM_NEWQDISC", errno: .resourceBusy))
    try await harness.run { h in
      await h.settle()
      #expect(h.netem() == nil)
      await h.advance(by: .seconds(1))
      #expect(await eventually { h.netem() != nil })
    }
  }

  @Test func theResyncRevertsOrphansThatAppearLaterAndLeavesALiveOwnersExpiredFaultToIt() async throws {
    let kernel = InMemoryKernel(currentInterfaces: ["eth0", "eth1", "eth2"])
    let harness = try AgentHarness(profiles: [:], kernel: kernel)
    try await harness.run { h in
      await h.settle()
      // A `faultline inject` killed with -9 while the agent runs leaves this behind.
      h.kernel.setRoot(
        .faultline(NetemParameters(delayFault(.milliseconds(10)), distribution: nil)), interface: "eth1",
        in: 1)
      try h.journal.record(Self.orphan(id: "lateorphan", interface: "eth1"))
      // Another faultline that is alive (PID 1 plays it) holds a fault past its end: its owner's job.
      h.kernel.setRoot(
        .faultline(NetemParameters(delayFault(.milliseconds(20)), distribution: nil)), interface: "eth2",
        in: 1)
      var live = Self.orphan(id: "liveowner", interface: "eth2")
      live.pid = 1
      live.processStart = try #require(ProcessIdentity.startTime(of: 1))
      live.expiresAt = h.clock.now.addingTimeInterval(-600)
      try h.journal.record(live)
      await h.advance(by: .seconds(30), step: .seconds(5))
      #expect(await eventually { h.netem("eth1") == nil }, "the orphan is reverted at the next resync")
      #expect(h.netem("eth2") != nil, "a live owner's fault is left to it")
      #expect(h.journal.entries().map(\.id) == ["liveowner"])
    }
    let reverts = harness.spans("chaos.revert").filter { $0.string("chaos.experiment.id") == "lateorphan" }
    #expect(reverts.first?.string("chaos.experiment.revert.reason") == "crash_recovery")
  }
}
