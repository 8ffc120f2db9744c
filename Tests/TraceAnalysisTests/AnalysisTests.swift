import Foundation
import Testing

@testable import TraceAnalysis

@Suite struct AnalysisTests {
  func row(_ report: AnalysisReport, _ service: String, _ operation: String, _ role: SpanRole) throws
    -> OperationReport
  {
    try #require(
      report.operations.first { $0.service == service && $0.operation == operation && $0.role == role })
  }

  @Test func percentilesAreNearestRank() {
    let values = (1...100).map(Int64.init)
    #expect(Percentiles.nearestRank(50, sorted: values) == 50)
    #expect(Percentiles.nearestRank(95, sorted: values) == 95)
    #expect(Percentiles.nearestRank(99, sorted: values) == 99)
    #expect(Percentiles.nearestRank(99, sorted: [7]) == 7)
    #expect(Percentiles.nearestRank(50, sorted: [1, 2, 3]) == 2)
    #expect(Percentiles.nearestRank(50, sorted: []) == nil)
  }

  @Test func windowsComeFromTheExperimentSpansByIdOrName() async throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    for selector in [Fixture.experimentID, "payment-latency"] {
      let report = try await Fixture.analyze([path], experiment: selector)
      #expect(report.windows.count == 1)
      #expect(report.windows[0].start == "2023-11-14T22:14:20.000Z")
      #expect(report.windows[0].end == "2023-11-14T22:15:20.000Z")
      #expect(report.windows[0].baselineStart == "2023-11-14T22:13:20.000Z")
      #expect(report.windows[0].fault == "delay_ms=500")
    }
  }

  @Test func theFirstPassParsesOnlyLinesNamingAnExperimentSpan() {
    let lines = Fixture.checkoutScenario()
    #expect(WindowFinder.mayContainExperiment(Array(lines[0].utf8)))
    // Marked request spans carry chaos.experiment.* keys but are not experiment spans.
    #expect(lines[61].contains("chaos.experiment.id"))
    #expect(!WindowFinder.mayContainExperiment(Array(lines[61].utf8)))
  }

  @Test func theAgentsOwnSpansAreLeftOut() async throws {
    let report = try await Fixture.analyze([try Fixture.write(Fixture.checkoutScenario())])
    #expect(report.excludedServices == ["faultline"])
    #expect(!report.operations.contains { $0.service == "faultline" })
  }

  @Test func eachBaselineIsTheSameLengthBeforeItsWindowAndStopsAtThePreviousWindow() {
    let windows = [
      TimeRange(startNanos: 100, endNanos: 160), TimeRange(startNanos: 180, endNanos: 240),
    ]
    #expect(
      WindowFinder.baselines(before: windows) == [
        TimeRange(startNanos: 40, endNanos: 100), TimeRange(startNanos: 160, endNanos: 180),
      ])
  }

  @Test func anExplicitBaselineIsUsedForEveryWindow() throws {
    var finder = WindowFinder(selector: "e")
    for (index, at) in [100.0, 300.0].enumerated() {
      finder.add(
        try decodeOne(
          Fixture.experimentSpan(at: at, length: 60, id: "e", spanID: Fixture.hex(index + 1, digits: 16))))
    }
    let baseline = TimeRange(startNanos: Fixture.nanos(0), endNanos: Fixture.nanos(50))
    let windows = try finder.windows(baseline: baseline)
    #expect(windows.map(\.baseline) == [baseline, baseline])
    #expect(windows.map(\.during.startNanos) == [Fixture.nanos(100), Fixture.nanos(300)])
  }

  @Test func countsFromABaselineOfAnotherLengthAreComparedAtTheWindowsLength() async throws {
    // The window is 60 s at one request a second; a 30 s baseline holds half its requests at the
    // same rate. Latency and rates need no scaling; counts do, or every request count "doubles".
    let path = try Fixture.write(Fixture.checkoutScenario())
    let half = TimeRange(startNanos: Fixture.nanos(30), endNanos: Fixture.nanos(60))
    let report = try await Fixture.analyze(
      [path],
      conditions: ["gateway count > +10%", "gateway count < -10%", "gateway:GET /checkout p50 > +50%"],
      baseline: half)
    #expect(try row(report, "gateway", "GET /checkout", .server).baseline.count == 30)
    #expect(try row(report, "gateway", "GET /checkout", .server).window.count == 60)
    #expect(report.verdicts.map(\.outcome) == [.pass, .pass, .fail])
    #expect(report.verdicts.first?.observed == 0)
    #expect(report.baselineScale == 2)
    #expect(ReportTable.render(report).contains("the baselines are 0.50× as long as the windows"))
    // The same baseline with no scaling would read +100 %: the whole 60 s baseline agrees.
    let full = try await Fixture.analyze([path], conditions: ["gateway count > +10%"])
    #expect(full.verdicts.map(\.outcome) == [.pass])
  }

  @Test func anUnknownExperimentNamesTheOnesThere() async throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    await #expect {
      try await Fixture.analyze([path], experiment: "nope")
    } throws: { error in
      "\(error)".contains("\"nope\"") && "\(error)".contains("payment-latency")
    }
  }

  @Test func noWindowInTheRangeIsSaid() throws {
    var finder = WindowFinder(selector: "e")
    finder.add(try decodeOne(Fixture.experimentSpan(at: 100, length: 60, id: "e")))
    let range = TimeRange(startNanos: Fixture.nanos(1000), endNanos: Fixture.nanos(2000))
    #expect(throws: AnalysisInputError.noWindowsInRange("e", windows: 1)) {
      try finder.windows(within: range)
    }
  }

  @Test func timeRangesReadRFC3339AndUnixSeconds() throws {
    #expect(
      try TimeRange.parse("2023-11-14T22:14:20Z/2023-11-14T22:15:20.5Z")
        == TimeRange(startNanos: Fixture.nanos(60), endNanos: Fixture.nanos(120.5)))
    #expect(
      try TimeRange.parse("1700000060/1700000120")
        == TimeRange(startNanos: Fixture.nanos(60), endNanos: Fixture.nanos(120)))
    #expect(try TimeRange.parse("2023-11-14T23:14:20+01:00/1700000120").startNanos == Fixture.nanos(60))
    #expect { try TimeRange.parse("1700000120/1700000060") } throws: { "\($0)".contains("not after") }
    #expect { try TimeRange.parse("yesterday/today") } throws: { "\($0)".contains("\"yesterday\"") }
  }

  @Test func latencyChangeIsMeasuredPerOperationAndRole() async throws {
    let report = try await Fixture.analyze([try Fixture.write(Fixture.checkoutScenario())])
    let payment = try row(report, "payment", "payment.Charge", .server)
    #expect(payment.baseline.count == 60)
    #expect(payment.window.count == 60)
    #expect(payment.baseline.p50Ms == 10)
    #expect(payment.window.p50Ms == 510)
    #expect(payment.change.p50Ms == 500)
    #expect(payment.change.p50Percent == 5000)
    let orderClient = try row(report, "order", "payment.Charge", .client)
    #expect(orderClient.window.p99Ms == 515)
  }

  @Test func errorsTimeoutsAndRetriesAreCounted() async throws {
    let report = try await Fixture.analyze([try Fixture.write(Fixture.checkoutScenario())])
    let orderServer = try row(report, "order", "POST /order", .server)
    // HTTP 504 on the server span: an error and a timeout, 6 of 60 requests.
    #expect(orderServer.window.errors == 6)
    #expect(orderServer.window.errorRate == 0.1)
    #expect(orderServer.window.timeouts == 6)
    #expect(orderServer.baseline.errors == 0)
    let orderClient = try row(report, "order", "payment.Charge", .client)
    #expect(orderClient.window.timeouts == 6)  // gRPC DEADLINE_EXCEEDED
    let gatewayClient = try row(report, "gateway", "POST /order", .client)
    #expect(gatewayClient.window.retries == 6)
    #expect(gatewayClient.baseline.retries == 0)
  }

  @Test func retriesAreFoundByRepeatedClientSpansOrResendCount() throws {
    func client(_ id: Int, parent: String, at: Double, attributes: [String: Any] = [:]) throws -> Span {
      try decodeOne(
        FixtureSpan(
          service: "web", name: "GET /x", kind: 3, at: at, durationMs: 1, traceID: Fixture.hex(1, digits: 32),
          spanID: Fixture.hex(id, digits: 16), parentSpanID: parent, attributes: attributes))
    }
    let spans = [
      try client(1, parent: "00000000000000aa", at: 0), try client(2, parent: "00000000000000aa", at: 1),
      try client(3, parent: "00000000000000aa", at: 2), try client(4, parent: "00000000000000bb", at: 0),
      try client(5, parent: "00000000000000cc", at: 0, attributes: ["http.request.resend_count": 2]),
    ]
    let retried = SpanOutcome.retries(among: spans)
    #expect(retried == Set([spans[1], spans[2], spans[4]].map { $0.traceID + $0.spanID }))
  }

  @Test func errorAndTimeoutRulesFollowTheSemanticConventions() throws {
    func span(status: Int = 0, _ attributes: [String: Any], exception: String? = nil) throws -> Span {
      var fixture = FixtureSpan(
        service: "s", name: "op", kind: 2, at: 0, durationMs: 1, traceID: Fixture.hex(1, digits: 32),
        spanID: Fixture.hex(1, digits: 16), statusCode: status, attributes: attributes)
      if let exception { fixture.events = [("exception", ["exception.type": exception])] }
      return try decodeOne(fixture)
    }
    #expect(SpanOutcome.isError(try span(status: 2, [:])))
    #expect(SpanOutcome.isError(try span(["http.status_code": 502])))
    #expect(!SpanOutcome.isError(try span(["http.response.status_code": 404])))
    #expect(SpanOutcome.isError(try span(["rpc.grpc.status_code": 14])))
    #expect(!SpanOutcome.isError(try span(["rpc.grpc.status_code": 0])))
    #expect(SpanOutcome.isTimeout(try span(["rpc.grpc.status_code": 4])))
    #expect(SpanOutcome.isTimeout(try span(["http.response.status_code": 408])))
    #expect(SpanOutcome.isTimeout(try span([:], exception: "requests.exceptions.ReadTimeout")))
    #expect(SpanOutcome.isTimeout(try span([:], exception: "grpc.DeadlineExceeded")))
    #expect(!SpanOutcome.isTimeout(try span([:], exception: "ValueError")))
  }

  @Test func attributionSplitsMarkedFromUnmarkedRequests() async throws {
    let report = try await Fixture.analyze([try Fixture.write(Fixture.checkoutScenario())])
    #expect(try row(report, "payment", "payment.Charge", .server).marked == 60)
    #expect(try row(report, "order", "POST /order", .server).marked == 0)
    #expect(report.attribution.marked.count == 60)
    #expect(report.attribution.marked.p50Ms == 510)
    #expect(report.attribution.unmarked.count == 120)
  }

  @Test func aLinkToTheExperimentSpanAloneMarksARequest() throws {
    var fixture = FixtureSpan(
      service: "s", name: "op", kind: 2, at: 0, durationMs: 1, traceID: Fixture.hex(1, digits: 32),
      spanID: Fixture.hex(1, digits: 16))
    fixture.links = [(Fixture.experimentTrace, Fixture.experimentSpan, [:])]
    let marks = ExperimentMarks(windows: [
      FaultWindow(
        during: TimeRange(startNanos: 0, endNanos: 1), baseline: TimeRange(startNanos: 0, endNanos: 0),
        experimentID: "other-id", spanID: Fixture.experimentSpan)
    ])
    #expect(marks.isMarked(try decodeOne(fixture)))
    fixture.links = []
    #expect(!marks.isMarked(try decodeOne(fixture)))
  }

  @Test func theBlastRadiusFollowsCallersUpFromTheFaultedService() async throws {
    let report = try await Fixture.analyze([try Fixture.write(Fixture.checkoutScenario())])
    #expect(report.blastRadius.faultedServices == ["payment"])
    #expect(
      report.blastRadius.chains == [
        "payment p50 +500 ms → order p99 +500 ms, errors +10.0 pp, 12 timeouts → gateway p99 +500 ms, 6 timeouts, 6 retries"
      ])
    #expect(report.blastRadius.services.map(\.service) == ["payment", "order", "gateway"])
    #expect(report.blastRadius.services.map(\.distance) == [0, 1, 2])
    #expect(report.blastRadius.services.map(\.degraded) == [false, true, true])
  }

  @Test func aCallerThatServesNothingIsJudgedByItsCalls() async throws {
    // A load generator (a batch job, a browser): client spans only, calling the faulted service.
    var lines = [Fixture.line([Fixture.experimentSpan(at: 60, length: 60)])]
    for second in 0..<120 {
      let faulted = second >= 60
      let trace = Fixture.hex(0x2000 + second, digits: 32)
      let call = Fixture.hex(2 * second + 1, digits: 16)
      var served = FixtureSpan(
        service: "api", name: "GET /item", kind: 2, at: Double(second), durationMs: faulted ? 210 : 10,
        traceID: trace, spanID: Fixture.hex(2 * second + 2, digits: 16), parentSpanID: call)
      if faulted { served.attributes["chaos.experiment.id"] = Fixture.experimentID }
      lines.append(
        Fixture.line([
          FixtureSpan(
            service: "loadgen", name: "GET /item", kind: 3, at: Double(second),
            durationMs: faulted ? 212 : 12,
            traceID: trace, spanID: call),
          served,
        ]))
    }
    let report = try await Fixture.analyze([try Fixture.write(lines)])
    let loadgen = try #require(report.blastRadius.services.first { $0.service == "loadgen" })
    #expect(loadgen.degraded, "\(report.blastRadius)")
    #expect(loadgen.change.p99Ms == 200)
  }

  /// The span a fixture decodes to.
  func decodeOne(_ fixture: FixtureSpan) throws -> Span {
    try #require(try OTLPJSONDecoder().decode(Array(Fixture.line([fixture]).utf8)).first)
  }
}
