import Testing

@testable import FaultAgent

/// The problems with `text` as Prometheus 0.0.4 exposition: every sample belongs to a family with
/// `# TYPE` and `# HELP`; a histogram's buckets have ascending `le`, cumulative counts and a last
/// `+Inf` bucket equal to `_count`, and it has `_sum`; counters are non-negative and end in `_total`.
func wellFormednessProblems(_ text: PrometheusText) -> [String] {
  var problems: [String] = []
  for sample in text.samples {
    guard let family = PrometheusText.family(of: sample.name, types: text.types) else {
      problems.append("\(sample.name) has no # TYPE")
      continue
    }
    if text.help[family] == nil { problems.append("\(family) has no # HELP") }
    if text.types[family] == "counter" {
      if !family.hasSuffix("_total") { problems.append("counter \(family) does not end in _total") }
      if !(sample.value >= 0) { problems.append("counter \(family) is \(sample.value)") }
    }
  }
  for (family, type) in text.types where type == "histogram" {
    let buckets = text.samples.filter { $0.name == family + "_bucket" }
    let bounds = buckets.map { $0.labels["le"].flatMap { $0 == "+Inf" ? .infinity : Double($0) } }
    if bounds.contains(where: { $0 == nil }) { problems.append("\(family): a bucket has no valid le") }
    let values = bounds.compactMap { $0 }
    if values != values.sorted() || Set(values).count != values.count {
      problems.append("\(family): le not strictly ascending")
    }
    if values.last != .infinity { problems.append("\(family): the last bucket is not le=\"+Inf\"") }
    let counts = buckets.map(\.value)
    if counts != counts.sorted() { problems.append("\(family): bucket counts are not cumulative: \(counts)") }
    if text.value(family + "_count") != counts.last { problems.append("\(family): +Inf bucket != _count") }
    if text.value(family + "_sum") == nil { problems.append("\(family): no _sum") }
  }
  return problems
}

@Suite struct AgentMetricsTests {
  @Test func aFreshAgentExportsEveryFamilyAtZeroAndIsNotReady() throws {
    let metrics = AgentMetrics()
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    #expect(text.value("faultline_injections_total", ["outcome": "ok"]) == 0)
    #expect(text.value("faultline_injections_total", ["outcome": "error"]) == 0)
    for reason in ["duration_elapsed", "signal", "manual", "profile_removed", "crash_recovery", "error"] {
      #expect(text.value("faultline_reverts_total", ["reason": reason]) == 0)
    }
    #expect(text.value("faultline_active_faults") == 0)
    #expect(text.value("faultline_apply_duration_seconds_count") == 0)
    #expect(text.value("faultline_apply_duration_seconds_bucket", ["le": "+Inf"]) == 0)
    #expect(text.value("faultline_profile_reload_errors_total") == 0)
    #expect(text.value("faultline_ready") == 0)
    #expect(!metrics.isReady)
    #expect(text.types["faultline_apply_duration_seconds"] == "histogram")
    #expect(text.types["faultline_active_faults"] == "gauge")
    #expect(text.types["faultline_injections_total"] == "counter")
  }

  @Test func injectionsAreCountedByOutcomeAndEveryAttemptIsObserved() throws {
    let metrics = AgentMetrics()
    metrics.recordInjection(ok: true, seconds: 0.0003)
    metrics.recordInjection(ok: true, seconds: 0.004)
    metrics.recordInjection(ok: true, seconds: 0.004)
    metrics.recordInjection(ok: false, seconds: 0.02)
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    #expect(text.value("faultline_injections_total", ["outcome": "ok"]) == 3)
    #expect(text.value("faultline_injections_total", ["outcome": "error"]) == 1)
    #expect(text.value("faultline_apply_duration_seconds_count") == 4)
    let sum = try #require(text.value("faultline_apply_duration_seconds_sum"))
    #expect(abs(sum - 0.0283) < 1e-12)
  }

  @Test func histogramBucketsAreCumulativeWithBoundsInclusive() throws {
    let metrics = AgentMetrics()
    for seconds in [0.0001, 0.0001, 0.0002, 0.001, 0.3, 0.9, 1.0, 2.5, -1] {
      metrics.recordInjection(ok: true, seconds: seconds)
    }
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    let bucket = { (le: String) in text.value("faultline_apply_duration_seconds_bucket", ["le": le]) }
    #expect(bucket("0.0001") == 3)  // 0.0001 twice and -1 (counted as 0); a bound is inclusive
    #expect(bucket("0.00025") == 4)
    #expect(bucket("0.001") == 5)
    #expect(bucket("0.25") == 5)
    #expect(bucket("0.5") == 6)
    #expect(bucket("1") == 8)
    #expect(bucket("+Inf") == 9)
    let les = text.samples.filter { $0.name == "faultline_apply_duration_seconds_bucket" }.compactMap {
      $0.labels["le"]
    }
    #expect(
      les == [
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
        "0.5", "1", "+Inf",
      ])
    let snapshot = metrics.snapshot()
    #expect(snapshot.bucketCounts.last == 8)
    #expect(snapshot.applyCount == 9)
  }

  @Test func aNaNDurationIsCountedButNotObserved() throws {
    let metrics = AgentMetrics()
    metrics.recordInjection(ok: false, seconds: .nan)
    let text = try PrometheusText(metrics.prometheusText())
    #expect(text.value("faultline_injections_total", ["outcome": "error"]) == 1)
    #expect(text.value("faultline_apply_duration_seconds_count") == 0)
    #expect(text.value("faultline_apply_duration_seconds_sum") == 0)
  }

  @Test func revertsAreCountedByReasonIncludingNewReasons() throws {
    let metrics = AgentMetrics()
    metrics.recordRevert(reason: "duration_elapsed")
    metrics.recordRevert(.durationElapsed)
    metrics.recordRevert(.signal)
    metrics.recordRevert(reason: "node_drain")
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    #expect(text.value("faultline_reverts_total", ["reason": "duration_elapsed"]) == 2)
    #expect(text.value("faultline_reverts_total", ["reason": "signal"]) == 1)
    #expect(text.value("faultline_reverts_total", ["reason": "manual"]) == 0)
    #expect(text.value("faultline_reverts_total", ["reason": "node_drain"]) == 1)
  }

  @Test func labelValuesAreEscaped() throws {
    let metrics = AgentMetrics()
    let reason = "odd \"reason\" with \\ and\nnewline"
    metrics.recordRevert(reason: reason)
    let rendered = metrics.prometheusText()
    #expect(rendered.contains(#"reason="odd \"reason\" with \\ and\nnewline"} 1"#))
    let text = try PrometheusText(rendered)
    #expect(text.value("faultline_reverts_total", ["reason": reason]) == 1)
  }

  @Test func theActiveGaugeIsSetIncrementedAndNeverNegative() {
    let metrics = AgentMetrics()
    metrics.setActive(3)
    metrics.incrementActive()
    #expect(metrics.snapshot().activeFaults == 4)
    metrics.decrementActive()
    #expect(metrics.snapshot().activeFaults == 3)
    metrics.setActive(0)
    metrics.decrementActive()
    #expect(metrics.snapshot().activeFaults == 0)
    metrics.setActive(-5)
    #expect(metrics.snapshot().activeFaults == 0)
  }

  @Test func reloadErrorsAndReadinessAreReported() throws {
    let metrics = AgentMetrics()
    metrics.recordReloadError()
    metrics.recordReloadError()
    metrics.markReady()
    var text = try PrometheusText(metrics.prometheusText())
    #expect(text.value("faultline_profile_reload_errors_total") == 2)
    #expect(text.value("faultline_ready") == 1)
    #expect(metrics.isReady)
    metrics.markNotReady()
    text = try PrometheusText(metrics.prometheusText())
    #expect(text.value("faultline_ready") == 0)
  }

  @Test func droppedSpansAreCountedFromZero() throws {
    let metrics = AgentMetrics()
    #expect(try PrometheusText(metrics.prometheusText()).value("faultline_spans_dropped_total") == 0)
    metrics.recordSpansDropped(3)
    metrics.recordSpansDropped(1)
    metrics.recordSpansDropped(-2)
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    #expect(text.types["faultline_spans_dropped_total"] == "counter")
    #expect(text.value("faultline_spans_dropped_total") == 4)
  }

  @Test func concurrentRecordingLosesNothing() async throws {
    let metrics = AgentMetrics()
    await withTaskGroup(of: Void.self) { group in
      for task in 0..<8 {
        group.addTask {
          for index in 0..<500 {
            metrics.recordInjection(ok: index % 5 != 0, seconds: Double(index % 7) / 1000)
            metrics.recordRevert(reason: task % 2 == 0 ? "signal" : "manual")
            metrics.incrementActive()
          }
        }
      }
    }
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    #expect(text.value("faultline_injections_total", ["outcome": "ok"]) == 3200)
    #expect(text.value("faultline_injections_total", ["outcome": "error"]) == 800)
    #expect(text.value("faultline_apply_duration_seconds_count") == 4000)
    #expect(text.value("faultline_reverts_total", ["reason": "signal"]) == 2000)
    #expect(text.value("faultline_reverts_total", ["reason": "manual"]) == 2000)
    #expect(text.value("faultline_active_faults") == 4000)
  }

  @Test func customBucketsAreSortedAndDeduplicated() throws {
    let metrics = AgentMetrics(applyDurationBuckets: [0.5, 0.1, 0.5, .infinity, .nan])
    metrics.recordInjection(ok: true, seconds: 0.2)
    let text = try PrometheusText(metrics.prometheusText())
    #expect(wellFormednessProblems(text) == [])
    let les = text.samples.filter { $0.name == "faultline_apply_duration_seconds_bucket" }.compactMap {
      $0.labels["le"]
    }
    #expect(les == ["0.1", "0.5", "+Inf"])
  }

  @Test(arguments: [
    (0.0001, "0.0001"), (0.00025, "0.00025"), (1.0, "1"), (42.0, "42"), (Double.infinity, "+Inf"),
    (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (0.5, "0.5"),
  ])
  func valuesAreFormattedAsPrometheusWritesThem(value: Double, expected: String) {
    #expect(AgentMetrics.format(value) == expected)
  }

  @Test func theCheckerCatchesMalformedText() throws {
    // The well-formedness check itself must fail on broken output, or the tests above prove nothing.
    let noType = try PrometheusText("# HELP x_total X.\nx_total 1\n")
    #expect(wellFormednessProblems(noType) == ["x_total has no # TYPE"])
    let notCumulative = try PrometheusText(
      """
      # HELP h H.
      # TYPE h histogram
      h_bucket{le="0.1"} 2
      h_bucket{le="1"} 1
      h_bucket{le="+Inf"} 3
      h_sum 1
      h_count 2

      """)
    #expect(
      wellFormednessProblems(notCumulative) == [
        "h: bucket counts are not cumulative: [2.0, 1.0, 3.0]", "h: +Inf bucket != _count",
      ])
    #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("x{a=\"1} 2\n") }
    #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("x 1") }
  }
}
