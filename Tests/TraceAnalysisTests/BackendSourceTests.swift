import Foundation
import Testing
import TraceBackends

@testable import TraceAnalysis

/// Each backend's client against its recorded bodies, served over real HTTP: the same spans and the
/// same analysis as the OTLP file of the same scenario.
@Suite(.timeLimit(.minutes(1))) struct BackendSourceTests {
  static let otlpFile = BackendFixtures.directory + "/otlp/spans.json"

  /// The spans of the OTLP file, read through the same protocol.
  func fileSpans() async throws -> Set<Span> {
    var collector = SpanCollector(windows: [Self.everything])
    _ = try await OTLPInput(paths: [Self.otlpFile]).collect(into: &collector, within: Self.everything.during)
    return Set(collector.during)
  }

  /// One window over the whole scenario, so the collector keeps every span.
  static let everything = FaultWindow(
    during: TimeRange(startNanos: 1_699_999_990_000_000_000, endNanos: 1_700_000_130_000_000_000),
    baseline: TimeRange(startNanos: 0, endNanos: 1))

  func spans(_ api: BackendConfiguration.API, route: @escaping FixtureServer.Route, services: [String])
    async throws -> (Set<Span>, [String])
  {
    try await withFixtureServer(route) { server in
      let configuration = BackendConfiguration(api: api, baseURL: server.url, services: services)
      let spans = try await BackendSource.with(configuration) { source in
        var finder = WindowFinder(selector: "payment-delay")
        try await source.findWindows(&finder, within: Self.everything.during)
        #expect(try finder.windows().count == 1)
        var collector = SpanCollector(windows: [Self.everything])
        _ = try await source.collect(into: &collector, within: Self.everything.during)
        return Set(collector.during)
      }
      return (spans, server.requests)
    }
  }

  @Test func jaegerAPIv3YieldsTheSpansOfTheOTLPFile() async throws {
    let (spans, requests) = try await spans(.jaegerV3, route: BackendFixtures.jaegerV3, services: ["gateway"])
    let expected = try await fileSpans()
    #expect(spans == expected)
    // The experiment search first, by the agent's service and the span name, with RFC 3339 times.
    #expect(
      requests.first
        == "/api/v3/traces?query.service_name=faultline&query.start_time_min=2023-11-14T22%3A13%3A10.000000000Z"
        + "&query.start_time_max=2023-11-14T22%3A15%3A30.000000000Z&query.num_traces=1000"
        + "&query.operation_name=chaos.experiment")
  }

  @Test func jaegerLegacyYieldsTheSameSpansLessLinkAttributes() async throws {
    let (spans, requests) = try await spans(
      .jaegerLegacy, route: BackendFixtures.jaegerLegacy, services: ["gateway"])
    // Jaeger's own model keeps no attributes on references.
    let expected = try await fileSpans().map { span in
      var span = span
      span.links = span.links.map { SpanLink(traceID: $0.traceID, spanID: $0.spanID) }
      return span
    }
    #expect(spans == Set(expected))
    #expect(
      requests.contains("/api/traces?service=gateway&start=1699999990000000&end=1700000130000000&limit=1000"))
  }

  @Test func tempoSearchesThenFetchesEachTraceAndYieldsTheSameSpans() async throws {
    let (spans, requests) = try await spans(.tempo, route: BackendFixtures.tempo, services: ["gateway"])
    let expected = try await fileSpans()
    #expect(spans == expected)
    #expect(
      requests.first
        == "/api/search?q=%7B%20resource.service.name%20%3D%20%22faultline%22%20%26%26%20name%20%3D%20"
        + "%22chaos.experiment%22%20%7D&start=1699999990&end=1700000130&limit=1000&spss=1")
    #expect(requests.contains("/api/traces/1000"))
    // The experiment trace for the windows, then the 24 requests and the experiment again.
    #expect(requests.filter { $0.hasPrefix("/api/traces/") }.count == 26)
  }

  @Test func aTraceGoneFromTempoAfterTheSearchIsSkippedAndCounted() async throws {
    let route: FixtureServer.Route = { path, query in
      path == "/api/traces/1000"
        ? FixtureServer.Answer(
          status: .notFound, body: Array("trace not found".utf8), contentType: "text/plain")
        : BackendFixtures.tempo(path, query)
    }
    try await withFixtureServer(route) { server in
      let configuration = BackendConfiguration(api: .tempo, baseURL: server.url, services: ["gateway"])
      try await BackendSource.with(configuration) { source in
        var collector = SpanCollector(windows: [Self.everything])
        let reading = try await source.collect(into: &collector, within: Self.everything.during)
        #expect(reading.malformed.map(\.file) == [server.url + "/api/traces/1000"])
        #expect(reading.inputs.first?.malformedLines == 1)
        #expect(!collector.during.contains { $0.traceID.hasSuffix("1000") })
        // 24 requests of three spans less the missing one, and the experiment span.
        let expected = 24 * 3 - 3 + 1
        #expect(collector.during.count == expected)
      }
    }
  }

  @Test func tempoSearchesTheGivenTraceQLAndTheAgentsTraces() async throws {
    try await withFixtureServer(BackendFixtures.tempo) { server in
      let configuration = BackendConfiguration(
        api: .tempo, baseURL: server.url, traceQL: #"{ span.http.route = "/pay" }"#)
      try await BackendSource.with(configuration) { source in
        var collector = SpanCollector(windows: [Self.everything])
        _ = try await source.collect(into: &collector, within: Self.everything.during)
      }
      let searches = server.requests.filter { $0.hasPrefix("/api/search?") }.map {
        FixtureServer.parameters($0.dropFirst("/api/search?".count))["q"]
      }
      #expect(searches == [#"{ span.http.route = "/pay" }"#, #"{ resource.service.name = "faultline" }"#])
    }
  }

  @Test func aLegacySearchThatIsNotThereSaysJaegerRemovedIt() async throws {
    let route: FixtureServer.Route = { _, _ in
      FixtureServer.Answer(
        status: .notFound, body: Array("404 page not found\n".utf8), contentType: "text/plain")
    }
    try await withFixtureServer(route) { server in
      let configuration = BackendConfiguration(api: .jaegerLegacy, baseURL: server.url, services: ["gateway"])
      await #expect {
        try await BackendSource.with(configuration) { source in
          var finder = WindowFinder(selector: "x")
          try await source.findWindows(&finder, within: Self.everything.during)
        }
      } throws: { error in
        "\(error)".contains("HTTP 404: 404 page not found") && "\(error)".contains("use --jaeger for api_v3")
      }
    }
  }

  @Test func anEmptyJaegerSearchIsNoSpansNotAnError() async throws {
    let (spans, requests) = try await spans(.jaegerV3, route: BackendFixtures.jaegerV3, services: ["nobody"])
    // Jaeger answers 404 "No traces found" for "nobody"; the agent's own trace is still read.
    #expect(requests.contains { $0.contains("query.service_name=nobody") })
    #expect(Set(spans.map(\.service)) == ["faultline"])
  }

  @Test func anErrorStatusCarriesTheBackendsMessage() async throws {
    let route: FixtureServer.Route = { _, _ in
      BackendFixtures.json(
        .internalServerError, #"{"error":{"httpCode":500,"message":"cannot query the span store"}}"#)
    }
    try await withFixtureServer(route) { server in
      await #expect {
        try await BackendSource.with(
          BackendConfiguration(api: .jaegerV3, baseURL: server.url, services: ["a"])
        ) {
          var finder = WindowFinder(selector: "x")
          try await $0.findWindows(&finder, within: Self.everything.during)
        }
      } throws: { error in
        "\(error)".contains("HTTP 500: cannot query the span store") && "\(error)".contains(server.url)
      }
    }
  }

  @Test func aResponseOverTheLimitIsRefused() async throws {
    try await withFixtureServer(BackendFixtures.jaegerV3) { server in
      let configuration = BackendConfiguration(
        api: .jaegerV3, baseURL: server.url, services: ["gateway"], maxResponseBytes: 1024)
      await #expect {
        try await BackendSource.with(configuration) { source in
          var collector = SpanCollector(windows: [Self.everything])
          _ = try await source.collect(into: &collector, within: Self.everything.during)
        }
      } throws: { "\($0)".contains("larger than") }
    }
  }

  @Test func jaegerNeedsAServiceToSearch() async throws {
    await #expect {
      try await BackendSource.with(BackendConfiguration(api: .jaegerV3, baseURL: "http://127.0.0.1:1")) { _ in
      }
    } throws: { "\($0)".contains("--service NAME") }
  }

  @Test func tempoEnvelopesOfEveryVersionDecode() throws {
    let span =
      #"{"traceId":"AAAAAAAAAAAAAAAAAAAQAA==","spanId":"AAAAAAAAAAE=","name":"GET /","kind":2,"#
      + #""startTimeUnixNano":"1","endTimeUnixNano":"2"}"#
    let resource =
      #"{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"#
      + #""scopeSpans":[{"spans":["# + span + "]}]}"
    for body in [
      #"{"batches":["# + resource + "]}", #"{"resourceSpans":["# + resource + "]}",
      #"{"trace":{"resourceSpans":["# + resource + "]}}", #"{"result":{"resourceSpans":["# + resource + "]}}",
    ] {
      let spans = try OTLPJSONDecoder().decode(Array(body.utf8))
      #expect(spans.map(\.traceID) == ["00000000000000000000000000001000"], "\(body)")
      #expect(spans.map(\.service) == ["s"])
    }
  }

  @Test func aJaegerIDWithNonASCIIDigitsIsRefused() {
    // "１" is a fullwidth digit, which Character.isHexDigit accepts; ids are ASCII hex.
    let body = #"{"data":[{"traceID":"ab１","spans":[{"traceID":"ab１","spanID":"1","operationName":"op"}]}]}"#
    #expect(throws: OTLPDecodingError.self) { try JaegerJSONDecoder().decode(Array(body.utf8)) }
  }

  @Test func jaegerLegacyTagsBecomeKindStatusAndEvents() throws {
    let body = try #require(BackendFixtures.file("jaeger-legacy/gateway.json"))
    let spans = try JaegerJSONDecoder().decode(body)
    let timedOut = try #require(spans.first { $0.status == .error })
    #expect(timedOut.kind == .client)
    #expect(timedOut.traceID.count == 32)
    #expect(timedOut.events.map(\.name) == ["exception"])
    #expect(timedOut.events.first?.attributes["exception.type"] == .string("TimeoutError"))
    #expect(timedOut.attributes["span.kind"] == nil && timedOut.attributes["error"] == nil)
    #expect(timedOut.attributes["http.response.status_code"] == .int(504))
  }
}
