import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import Logging
import NetemKernel
import Testing
import SystemPackage

/// The journal around every kernel change, namespaces held by inode, and owners respected.
@Suite struct InjectorTests {
  let kernel = InMemoryKernel()
  let journal = Journal(directory: NSTemporaryDirectory() + "faultline-injector-\(UUID().uuidString)")
  var injector: Injector {
    Injector(kernel: kernel, journal: journal, clock: ManualClock(), logger: Logger(label: "test"))
  }

  func podExperiment(pid: Int32, inode: UInt64) -> Experiment {
    Experiment(
      name: "pod", target: FaultTarget(interface: "eth0", namespace: .path("/proc/\(pid)/ns/net")),
      namespaceInode: inode, fault: delayFault(.milliseconds(20)))
  }

  @Test func theEntryIsJournaledBeforeTheKernelChanges() async throws {
    let gate = kernel.hold(.apply)
    let injector = injector
    let journal = journal
    async let applied = injector.inject(
      Experiment(name: "cli", target: FaultTarget(), fault: delayFault(.milliseconds(5))))
    #expect(await eventually { gate.hasArrived })
    #expect(journal.entries().isEmpty, "prepare has not run yet")
    gate.open()
    let active = try await applied
    #expect(journal.entries().map(\.id) == [active.experiment.id])
    #expect(active.entry.namespace.inode == 1)
  }

  @Test func aFailedApplyLeavesNoEntry() async throws {
    let windows = FaultWindows(injector: injector, logger: Logger(label: "test"))
    await #expect(throws: KernelError.self) {
      try await windows.open(
        Experiment(name: "x", target: FaultTarget(interface: "eth9"), fault: delayFault(.milliseconds(5))))
    }
    #expect(journal.entries().isEmpty)
  }

  @Test func anApplyThroughADeadPathFindsTheNamespaceByInode() async throws {
    kernel.addNamespace(inode: 1001, path: "/proc/105/ns/net")
    let active = try await injector.inject(podExperiment(pid: 101, inode: 1001))
    #expect(kernel.root("eth0", in: 1001)?.netem != nil)
    #expect(active.entry.target.namespace == .path("/proc/105/ns/net"), "the journal names the live path")
  }

  @Test func aRevertWhoseProcessExitedReachesTheLiveNamespace() async throws {
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    kernel.setPath("/proc/105/ns/net", to: 1001)
    let active = try await injector.inject(podExperiment(pid: 101, inode: 1001))
    kernel.setPath("/proc/101/ns/net", to: nil)
    let outcome = try await injector.revert(active.entry, reason: .profileRemoved)
    #expect(outcome == .removed)
    #expect(kernel.root("eth0", in: 1001) == .kernelDefault)
    #expect(journal.entries().isEmpty)
  }

  @Test func aRevertThroughAReusedPidTouchesNothingElse() async throws {
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    kernel.addNamespace(inode: 3003, path: "/proc/300/ns/net")
    let active = try await injector.inject(podExperiment(pid: 101, inode: 1001))
    kernel.setRoot(
      .faultline(NetemParameters(delayFault(.milliseconds(1)), distribution: nil)), interface: "eth0",
      in: 3003)
    kernel.setPath("/proc/105/ns/net", to: 1001)
    kernel.setPath("/proc/101/ns/net", to: 3003)  // PID 101 reused inside another pod
    #expect(try await injector.revert(active.entry, reason: .profileRemoved) == .removed)
    #expect(kernel.root("eth0", in: 1001) == .kernelDefault)
    #expect(kernel.root("eth0", in: 3003)?.netem != nil, "the other pod's qdisc is untouched")
  }

  @Test func onlyANamespaceNobodyHoldsCountsAsGone() async throws {
    kernel.addNamespace(inode: 1001, path: "/proc/101/ns/net")
    let active = try await injector.inject(podExperiment(pid: 101, inode: 1001))
    kernel.deleteNamespace(inode: 1001)
    let outcome = try await injector.revert(active.entry, reason: .profileRemoved)
    guard case .nothingToRevert(let why) = outcome else {
      Issue.record("expected nothing to revert, got \(outcome)")
      return
    }
    #expect(why.contains("1001"))
    #expect(journal.entries().isEmpty)
  }

  @Test func aRevertThatFailsKeepsTheEntry() async throws {
    let active = try await injector.inject(
      Experiment(name: "cli", target: FaultTarget(), fault: delayFault(.milliseconds(5))))
    kernel.fail(.revert, with: .system("opening /proc/42/ns/net", errno: .tooManyOpenFiles))
    await #expect(throws: KernelError.self) { try await injector.revert(active.entry, reason: .manual) }
    #expect(
      journal.entries().map(\.id) == [active.experiment.id], "the fault may still be on: keep its record")
  }

  @Test func anInjectNeverDropsTheEntryOfAnotherLiveAgent() async throws {
    // PID 1 is alive for as long as this test runs: it plays the other agent.
    let agentEntry = JournalEntry(
      id: "agentwindow", name: "agent", target: FaultTarget(),
      namespace: NamespaceIdentity(path: InMemoryKernel.currentPath, inode: 1),
      handle: NetemKernel.handle, replaced: nil, fault: delayFault(.milliseconds(9)), startedAt: Date(),
      expiresAt: nil,
      pid: 1, processStart: try #require(ProcessIdentity.startTime(of: 1)))
    try journal.record(agentEntry)
    let dead = AgentRecoveryTests.orphan(id: "deadwindow")
    try journal.record(dead)
    let active = try await injector.inject(
      Experiment(name: "cli", target: FaultTarget(), fault: delayFault(.milliseconds(5))))
    #expect(
      Set(journal.entries().map(\.id)) == [active.experiment.id, "agentwindow"],
      "the dead owner's entry is superseded")
    await #expect(throws: InjectorError.self) {
      _ = try await injector.revert(target: FaultTarget(), reason: .manual)
    }
    let all = await injector.revertJournaled(reason: .manual)
    #expect(all.count == 2, "revert --all reverts every owner's faults")
  }
}
