import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import NetemKernel
import Testing

/// `faultline run`'s windows under the manual clock: nothing here sleeps for a schedule.
@Suite struct AgentScheduleTests {
  @Test func scheduledWindowsApplyForTheirDurationAndRevertWithDurationElapsed() async throws {
    let harness = try AgentHarness(
      profiles: ["a.yaml": profileYAML("every10", schedule: "@every 10s", duration: "4s")])
    try await harness.run { h in
      await h.settle()
      #expect(h.netem() == nil)
      await h.advance(by: .seconds(10))
      #expect(h.netem()?.fault.delay == .milliseconds(50), "the window opens at the fire time")
      #expect(h.annotationFile.contains("chaos.experiment/active=\"true\""))
      await h.advance(by: .seconds(4))
      #expect(h.netem() == nil, "and closes after its duration")
      #expect(h.annotationFile.contains("chaos.experiment/active=\"false\""))
      await h.advance(by: .seconds(6))
      #expect(h.netem() != nil, "the next fire opens the next window")
      await h.advance(by: .seconds(4))
      #expect(h.netem() == nil)
    }
    let reverts = harness.spans("chaos.revert").map { $0.string("chaos.experiment.revert.reason") }
    #expect(reverts == ["duration_elapsed", "duration_elapsed"])
    #expect(harness.spans("chaos.experiment").count == 2)
    #expect(harness.kernel.calls(.apply).count == 2)
  }

  @Test func aFireDuringAWindowIsSkipped() async throws {
    let harness = try AgentHarness(
      profiles: ["a.yaml": profileYAML("long", schedule: "@every 10s", duration: "15s")])
    try await harness.run { h in
      await h.settle()
      await h.advance(by: .seconds(10))
      #expect(h.netem() != nil)
      await h.advance(by: .seconds(15))
      #expect(h.netem() == nil, "the fire at 20 s came during the window and was skipped")
      await h.advance(by: .seconds(4.5))
      #expect(h.netem() == nil)
      await h.advance(by: .seconds(0.5))
      #expect(h.netem() != nil, "the fire at 30 s opens the second window")
    }
    #expect(harness.kernel.calls(.apply).count == 2)
  }

  @Test func anUnscheduledProfileWithADurationIsRevertedAfterIt() async throws {
    let harness = try AgentHarness(profiles: ["cm.yaml": profileYAML("held", duration: "30s")])
    try await harness.run { h in
      await h.settle()
      #expect(h.netem()?.fault.delay == .milliseconds(50))
      await h.advance(by: .seconds(29.5))
      #expect(h.netem() != nil)
      await h.advance(by: .seconds(0.5))
      #expect(h.netem() == nil, "a 30 s experiment ends after 30 s")
      await h.advance(by: .seconds(120), step: .seconds(10))
      #expect(h.netem() == nil, "and is not applied again")
    }
    #expect(
      harness.spans("chaos.revert").map { $0.string("chaos.experiment.revert.reason") } == [
        "duration_elapsed"
      ])
  }

  @Test func maxDurationCapsAnUnscheduledProfile() async throws {
    let harness = try AgentHarness(
      profiles: ["a.yaml": profileYAML("capped", duration: "1h")],
      configuration: AgentConfiguration(maxDuration: .seconds(20)))
    try await harness.run { h in
      await h.settle()
      #expect(h.netem() != nil)
      await h.advance(by: .seconds(20))
      #expect(h.netem() == nil)
    }
  }

  @Test func anUnscheduledProfileWithoutDurationIsHeldUntilShutdownWhichRevertsWithSignal() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("held")])
    try await harness.run { h in
      await h.settle()
      await h.advance(by: .seconds(7200), step: .seconds(60))
      #expect(h.netem() != nil)
    }
    #expect(harness.netem() == nil)
    #expect(harness.spans("chaos.revert").map { $0.string("chaos.experiment.revert.reason") } == ["signal"])
    #expect(harness.journal.entries().isEmpty)
    #expect(harness.annotationFile.contains("chaos.experiment/active=\"false\""))
  }

  @Test func spansNestInjectAndRevertUnderTheExperiment() async throws {
    let harness = try AgentHarness(profiles: ["a.yaml": profileYAML("traced", duration: "5s")])
    try await harness.run { h in
      await h.settle()
      await h.advance(by: .seconds(5))
    }
    let experiment = try #require(harness.spans("chaos.experiment").first)
    let inject = try #require(harness.spans("chaos.inject").first)
    let revert = try #require(harness.spans("chaos.revert").first)
    #expect(inject.parentSpanID == experiment.spanID)
    #expect(revert.parentSpanID == experiment.spanID)
    #expect(experiment.string("chaos.experiment.name") == "traced")
    #expect(experiment.string("chaos.experiment.mode") == "sidecar")
    #expect(inject.attributes.get("chaos.experiment.verified") == .bool(true))
    #expect(revert.string("chaos.experiment.revert.outcome") == "removed")
  }
}
