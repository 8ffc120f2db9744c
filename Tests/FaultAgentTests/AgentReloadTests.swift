import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import NetemKernel
import Testing

/// Hot reload: what a profile change does to its open window.
@Suite struct AgentReloadTests {
  @Test func aFaultOnlyChangeIsReappliedInPlaceWithoutARevert() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("tuned", netem: "delay: 50ms; loss: 5%")])
    try await harness.run { h in
      await h.settle()
      #expect(h.netem()?.fault.delay == .milliseconds(50))
      h.profiles.send(loadProfiles(["a.yaml": profileYAML("tuned", netem: "delay: 80ms")]))
      #expect(await eventually { h.netem()?.fault.delay == .milliseconds(80) })
      #expect(h.netem()?.fault.loss == .zero, "no stale parameter survives an in-place change")
      #expect(h.kernel.calls(.revert).isEmpty, "no gap: the qdisc is replaced, never removed")
    }
    let experiment = try #require(harness.spans("chaos.experiment").first)
    #expect(experiment.attributes.get("chaos.experiment.reapplied") == .bool(true))
    #expect(harness.spans("chaos.inject").count == 2)
  }

  @Test func aScheduleChangeRestartsTheProfile() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("moved")])
    try await harness.run { h in
      await h.settle()
      #expect(h.netem() != nil)
      h.profiles.send(
        loadProfiles(["a.yaml": profileYAML("moved", schedule: "@every 10s", duration: "2s")]))
      #expect(await eventually { h.netem() == nil }, "the held window closes")
      await h.settle()
      await h.advance(by: .seconds(10))
      #expect(h.netem() != nil, "and the new schedule runs")
    }
    let reasons = harness.spans("chaos.revert").map { $0.string("chaos.experiment.revert.reason") }
    #expect(reasons.first == "profile_removed")
  }

  @Test func aRemovedFileRevertsItsProfilesAndAnEmptyOneDoesNot() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("kept")])
    try await harness.run { h in
      await h.settle()
      h.profiles.send(loadProfiles(["a.yaml": ""]))
      await h.settle()
      await h.advance(by: .seconds(1))
      #expect(h.netem() != nil, "a file caught empty mid-save keeps its profiles")
      #expect(h.kernel.calls(.revert).isEmpty)
      h.profiles.send(loadProfiles([:]))
      #expect(await eventually { h.netem() == nil })
    }
    #expect(
      harness.spans("chaos.revert").map { $0.string("chaos.experiment.revert.reason") } == ["profile_removed"]
    )
  }

  @Test func anInvalidEditKeepsTheLastGoodVersionAndCountsAReloadError() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("good", netem: "delay: 30ms")])
    try await harness.run { h in
      await h.settle()
      h.profiles.send(loadProfiles(["a.yaml": profileYAML("good", netem: "delay: soon")]))
      #expect(await eventually { h.recorded.counterTotal(label: AgentMetrics.Name.reloadErrors) == 1 })
      #expect(h.netem()?.fault.delay == .milliseconds(30))
    }
  }
}
