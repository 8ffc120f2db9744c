import Foundation
import Testing

@testable import TraceAnalysis

@Suite struct OTLPReadingTests {
  @Test func decodesTheCollectorFileFormat() throws {
    let line = """
      {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"order"}}]},\
      "scopeSpans":[{"scope":{"name":"x"},"spans":[{"traceId":"0AF7651916CD43DD8448EB211C80319C",\
      "spanId":"b7ad6b7169203331","parentSpanId":"","name":"GET /pay","kind":2,\
      "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",\
      "attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}},\
      {"key":"ok","value":{"boolValue":true}},{"key":"ratio","value":{"doubleValue":0.5}}],\
      "events":[{"name":"exception","attributes":[{"key":"exception.type","value":{"stringValue":"TimeoutError"}}]}],\
      "status":{"code":2}}]}]}]}
      """
    let spans = try OTLPJSONDecoder().decode(Array(line.utf8))
    #expect(spans.count == 1)
    let span = try #require(spans.first)
    #expect(span.service == "order")
    #expect(span.traceID == "0af7651916cd43dd8448eb211c80319c")
    #expect(span.parentSpanID == nil)
    #expect(span.kind == .server)
    #expect(span.status == .error)
    #expect(span.durationNanos == 250_000_000)
    #expect(span.attributes["http.response.status_code"] == .int(503))
    #expect(span.attributes["ok"] == .bool(true))
    #expect(SpanOutcome.isError(span))
    #expect(SpanOutcome.isTimeout(span))
  }

  @Test func readsSnakeCaseEnumNamesAndBase64Ids() throws {
    // What a generic protobuf JSON printer writes: proto field names, enum names, base64 bytes.
    let line = """
      {"resource_spans":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"a"}}]},\
      "scope_spans":[{"spans":[{"trace_id":"CvdlGRbNQ92ESOshHIAxnA==","span_id":"t61rcWkgMzE=",\
      "name":"q","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":1,"end_time_unix_nano":2,\
      "status":{"code":"STATUS_CODE_OK"}}]}]}]}
      """
    let span = try #require(try OTLPJSONDecoder().decode(Array(line.utf8)).first)
    #expect(span.traceID == "0af7651916cd43dd8448eb211c80319c")
    #expect(span.spanID == "b7ad6b7169203331")
    #expect(span.kind == .client)
    #expect(span.status == .ok)
  }

  @Test func aBadIdIsAnErrorNamingTheSpanAndField() {
    let line =
      #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"b7ad6b7169203331","name":"q"}]}]}]}"#
    #expect {
      try OTLPJSONDecoder().decode(Array(line.utf8))
    } throws: { error in
      "\(error)".contains("traceId") && "\(error)".contains("\"q\"")
    }
  }

  @Test func malformedLinesAreSkippedAndCountedWithFileAndLine() async throws {
    var lines = Fixture.checkoutScenario()
    lines.insert("{not json", at: 3)
    lines.insert(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"no ids"}]}]}]}"#, at: 10)
    let path = try Fixture.write(lines)
    let report = try await Fixture.analyze([path])
    #expect(report.inputs == [InputSummary(file: path, lines: 123, spans: 607, malformedLines: 2)])
    #expect(report.malformed.map(\.line) == [4, 11])
    #expect(report.malformed.allSatisfy { $0.file == path })
    #expect(report.malformed[0].message.hasPrefix("not JSON"))
    #expect(report.malformed[1].message.contains("no traceId"))
    // The rest is still analysed.
    #expect(report.operations.count == 5)
  }

  @Test func gzipInputReadsLikeThePlainFile() async throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let gzipped = try Fixture.gzip(path)
    let plain = try await Fixture.analyze([path])
    let compressed = try await Fixture.analyze([gzipped])
    #expect(compressed.operations == plain.operations)
    #expect(compressed.inputs.first?.spans == plain.inputs.first?.spans)
  }

  @Test func concatenatedGzipMembersAreOneStream() async throws {
    let lines = Fixture.checkoutScenario()
    let first = try Fixture.gzip(try Fixture.write(Array(lines[..<60])))
    let second = try Fixture.gzip(try Fixture.write(Array(lines[60...])))
    let joined = NSTemporaryDirectory() + "joined-\(UUID().uuidString).gz"
    var data = try Data(contentsOf: URL(fileURLWithPath: first))
    data.append(try Data(contentsOf: URL(fileURLWithPath: second)))
    try data.write(to: URL(fileURLWithPath: joined))
    let report = try await Fixture.analyze([joined])
    #expect(report.inputs.first?.lines == lines.count)
    #expect(report.inputs.first?.malformedLines == 0)
  }

  @Test func aTruncatedGzipFileIsAnInputError() throws {
    let gzipped = try Fixture.gzip(try Fixture.write(Fixture.checkoutScenario()))
    let data = try Data(contentsOf: URL(fileURLWithPath: gzipped))
    try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: gzipped))
    #expect {
      try OTLPFile(path: gzipped).forEachLine { _, _ in }
    } throws: { error in
      "\(error)".contains(gzipped) && "\(error)".contains("gzip")
    }
  }

  @Test func aMissingFileIsAnInputErrorNamingIt() {
    #expect(throws: TraceInputError.unreadable("/nonexistent/spans.json", reason: "no such file")) {
      try OTLPFile(path: "/nonexistent/spans.json").forEachLine { _, _ in }
    }
  }

  @Test func anOverlongLineIsReportedAndTheNextLineStillRead() throws {
    let lines = Fixture.checkoutScenario()
    let path = try Fixture.write(lines)
    var numbers: [Int] = []
    var overlong: [Int] = []
    let longest = lines.map(\.utf8.count).max()!
    try OTLPFile(path: path, maxLineBytes: longest - 1).forEachLine { line, number in
      if line == nil { overlong.append(number) } else { numbers.append(number) }
    }
    #expect(!overlong.isEmpty)
    #expect(numbers.count + overlong.count == lines.count)
  }
}
