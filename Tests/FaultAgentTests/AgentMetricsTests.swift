import MetricsTestKit
import Testing

@testable import FaultAgent

/// What ``AgentMetrics`` records through swift-metrics, read back from swift-metrics' `TestMetrics`.
/// How a backend renders it (Prometheus text, OTLP) is tested against real parsers and receivers:
/// scripts/peers/test_metrics_scrape.py and FaultTelemetryTests' MetricsExportTests.
@Suite struct AgentMetricsTests {
  let recorded = TestMetrics()
  let metrics: AgentMetrics

  init() { metrics = AgentMetrics(factory: recorded) }

  func counter(_ name: String, _ labels: [(String, String)] = []) -> Int64? {
    recorded.counters(label: name, dimensions: labels).first?.totalValue
  }

  func gauge(_ name: String, _ labels: [(String, String)] = []) -> Double? {
    try? recorded.expectGauge(name, labels).lastValue
  }

  @Test func aFreshAgentHasEverySeriesAtZeroAndIsNotReady() throws {
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "ok")]) == 0)
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "error")]) == 0)
    for reason in ["duration_elapsed", "signal", "manual", "profile_removed", "crash_recovery", "error"] {
      #expect(counter(AgentMetrics.Name.reverts, [("reason", reason)]) == 0)
    }
    for kind in ["changed", "removed", "replaced", "target_gone"] {
      #expect(counter(AgentMetrics.Name.drifts, [("kind", kind)]) == 0)
    }
    #expect(gauge(AgentMetrics.Name.activeFaults) == 0)
    #expect(gauge(AgentMetrics.Name.ready) == 0)
    #expect(gauge(AgentMetrics.Name.faultsPending, [("kind", "apply")]) == 0)
    #expect(gauge(AgentMetrics.Name.faultsPending, [("kind", "revert")]) == 0)
    #expect(counter(AgentMetrics.Name.reloadErrors) == 0)
    #expect(counter(AgentMetrics.Name.journalQuarantined) == 0)
    #expect(counter(AgentMetrics.Name.spansDropped) == 0)
    #expect(try recorded.expectRecorder(AgentMetrics.Name.applyDuration).values.isEmpty)
    #expect(!metrics.isReady)
  }

  @Test func injectionsAreCountedByOutcomeAndEveryAttemptIsObservedInSeconds() throws {
    metrics.recordInjection(ok: true, seconds: 0.0003)
    metrics.recordInjection(ok: true, seconds: 0.004)
    metrics.recordInjection(ok: false, seconds: 0.02)
    metrics.recordInjection(ok: true, seconds: -1)
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "ok")]) == 3)
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "error")]) == 1)
    #expect(try recorded.expectRecorder(AgentMetrics.Name.applyDuration).values == [0.0003, 0.004, 0.02, 0])
  }

  @Test func aNaNDurationIsCountedButNotObserved() throws {
    metrics.recordInjection(ok: false, seconds: .nan)
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "error")]) == 1)
    #expect(try recorded.expectRecorder(AgentMetrics.Name.applyDuration).values.isEmpty)
  }

  @Test func revertsAreCountedByReasonIncludingNewReasons() {
    metrics.recordRevert(reason: "duration_elapsed")
    metrics.recordRevert(.durationElapsed)
    metrics.recordRevert(.signal)
    metrics.recordRevert(reason: "node_drain")
    metrics.recordRevert(reason: "node_drain")
    #expect(counter(AgentMetrics.Name.reverts, [("reason", "duration_elapsed")]) == 2)
    #expect(counter(AgentMetrics.Name.reverts, [("reason", "signal")]) == 1)
    #expect(counter(AgentMetrics.Name.reverts, [("reason", "manual")]) == 0)
    #expect(counter(AgentMetrics.Name.reverts, [("reason", "node_drain")]) == 2)
    #expect(
      recorded.counters(label: AgentMetrics.Name.reverts, dimensions: [("reason", "node_drain")]).count == 1)
  }

  @Test func theActiveGaugeFollowsOpenedAndClosedWindowsAndNeverGoesNegative() {
    metrics.addActive(1)
    metrics.addActive(1)
    #expect(gauge(AgentMetrics.Name.activeFaults) == 2)
    metrics.addActive(-3)
    #expect(gauge(AgentMetrics.Name.activeFaults) == 0)
    metrics.addActive(1)
    #expect(gauge(AgentMetrics.Name.activeFaults) == 1)
  }

  @Test func pendingFaultsAreGaugedByKindAndMakeTheAgentNotReady() {
    metrics.markReady()
    metrics.setPending(applies: ["a: interface gone", "b: interface gone"], reverts: ["c: EBUSY"])
    #expect(gauge(AgentMetrics.Name.faultsPending, [("kind", "apply")]) == 2)
    #expect(gauge(AgentMetrics.Name.faultsPending, [("kind", "revert")]) == 1)
    #expect(metrics.readiness.ready == false)
    #expect(
      metrics.readiness.detail == [
        "not applied: a: interface gone", "not applied: b: interface gone", "not reverted: c: EBUSY",
      ])
    metrics.setPending(applies: [], reverts: [])
    #expect(gauge(AgentMetrics.Name.faultsPending, [("kind", "apply")]) == 0)
    #expect(metrics.readiness.ready)
  }

  @Test func reloadErrorsAndReadinessAreReported() {
    metrics.recordReloadError()
    metrics.recordReloadError()
    metrics.markReady()
    #expect(counter(AgentMetrics.Name.reloadErrors) == 2)
    #expect(gauge(AgentMetrics.Name.ready) == 1)
    #expect(metrics.isReady)
    metrics.markNotReady()
    #expect(gauge(AgentMetrics.Name.ready) == 0)
    #expect(!metrics.isReady)
  }

  @Test func droppedSpansAreCountedAndNegativeCountsIgnored() {
    metrics.recordSpansDropped(3)
    metrics.recordSpansDropped(1)
    metrics.recordSpansDropped(-2)
    #expect(counter(AgentMetrics.Name.spansDropped) == 4)
  }

  @Test func concurrentRecordingLosesNothing() async {
    let metrics = metrics
    await withTaskGroup(of: Void.self) { group in
      for task in 0..<8 {
        group.addTask {
          for index in 0..<500 {
            metrics.recordInjection(ok: index % 5 != 0, seconds: Double(index % 7) / 1000)
            metrics.recordRevert(reason: task % 2 == 0 ? "signal" : "a_new_reason")
            metrics.addActive(1)
          }
        }
      }
    }
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "ok")]) == 3200)
    #expect(counter(AgentMetrics.Name.injections, [("outcome", "error")]) == 800)
    #expect(counter(AgentMetrics.Name.reverts, [("reason", "signal")]) == 2000)
    #expect(counter(AgentMetrics.Name.reverts, [("reason", "a_new_reason")]) == 2000)
    #expect(gauge(AgentMetrics.Name.activeFaults) == 4000)
  }
}
