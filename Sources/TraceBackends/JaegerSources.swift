import ChaosAnnotations
import Foundation
import TraceAnalysis

/// Jaeger's api_v3 (`GET /api/v3/traces`), whose answers are OTLP/JSON in a `{"result": …}`
/// envelope (Jaeger's `cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go`).
/// Its search is per service and returns whole traces, so the entry service brings in its callees.
struct JaegerV3Source: JaegerSearch {
  let http: BackendHTTP

  /// The snake_case parameter names: every api_v3 release reads them (newer ones also read
  /// camelCase); `query.num_traces` is the search depth under its oldest name, still accepted.
  func searchURL(service: String, operation: String?, _ range: TimeRange) -> String {
    var pairs = [
      ("query.service_name", service), ("query.start_time_min", RFC3339Nano.format(range.startNanos)),
      ("query.start_time_max", RFC3339Nano.format(range.endNanos)),
      ("query.num_traces", String(http.configuration.maxTraces)),
    ]
    if let operation { pairs.append(("query.operation_name", operation)) }
    return http.configuration.baseURL + "/api/v3/traces?" + BackendHTTP.query(pairs)
  }

  /// api_v3 answers a search that found nothing with 404 "No traces found".
  var notFoundIsEmpty: Bool { true }

  func decode(_ body: [UInt8]) throws(OTLPDecodingError) -> [Span] { try OTLPJSONDecoder().decode(body) }
}

/// Jaeger's internal JSON API (`GET /api/traces?service=…&start=…&end=…`, microseconds), which its
/// UI read until recent v2 releases; for Jaeger versions without api_v3.
struct JaegerLegacySource: JaegerSearch {
  let http: BackendHTTP

  func searchURL(service: String, operation: String?, _ range: TimeRange) -> String {
    var pairs = [
      ("service", service), ("start", String(range.startNanos / 1000)),
      ("end", String((range.endNanos + 999) / 1000)), ("limit", String(http.configuration.maxTraces)),
    ]
    if let operation { pairs.append(("operation", operation)) }
    return http.configuration.baseURL + "/api/traces?" + BackendHTTP.query(pairs)
  }

  var notFoundIsEmpty: Bool { false }

  func decode(_ body: [UInt8]) throws(OTLPDecodingError) -> [Span] { try JaegerJSONDecoder().decode(body) }
}

/// A Jaeger search API: one query per service over a time range, whole traces back. Both of
/// Jaeger's APIs read windows and spans the same way; they differ in the URL and the body.
protocol JaegerSearch: SpanSource {
  var http: BackendHTTP { get }
  /// The search for `service` (and `operation`) over `range`.
  func searchURL(service: String, operation: String?, _ range: TimeRange) -> String
  /// Whether a 404 is an empty answer rather than an error.
  var notFoundIsEmpty: Bool { get }
  /// The spans of an answer's body.
  func decode(_ body: [UInt8]) throws(OTLPDecodingError) -> [Span]
}

extension JaegerSearch {
  /// The spans of the answer to `url`.
  func spans(_ url: String) async throws -> [Span] {
    guard let body = try await http.get(url, notFoundIsEmpty: notFoundIsEmpty) else { return [] }
    do {
      return try decode(body)
    } catch {
      throw TraceBackendError.invalidResponse(url, error.description)
    }
  }

  func findWindows(_ finder: inout WindowFinder, within range: TimeRange) async throws {
    let url = searchURL(
      service: http.configuration.agentService, operation: ChaosSpanVocabulary.experimentSpan, range)
    for span in try await spans(url) { finder.add(span) }
  }

  func collect(into collector: inout SpanCollector, within range: TimeRange) async throws -> SourceReading {
    var reading = SourceReading()
    for service in http.configuration.searchedServices {
      let url = searchURL(service: service, operation: nil, range)
      let spans = try await spans(url)
      for span in spans { collector.add(span) }
      reading.inputs.append(InputSummary(file: url, lines: 1, spans: spans.count))
      if let warning = http.configuration.capWarning(Set(spans.map(\.traceID)).count, url: url) {
        reading.warnings.append(warning)
      }
    }
    return reading
  }
}

/// RFC 3339 with nanoseconds, as Go's `time.RFC3339Nano` parses it (api_v3's time parameters).
enum RFC3339Nano {
  static func format(_ nanos: Int64) -> String {
    let seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
    let fraction = nanos - seconds * 1_000_000_000
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    let base = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
    let digits = String(fraction)
    return base.dropLast() + "." + String(repeating: "0", count: 9 - digits.count) + digits + "Z"
  }
}
