import ChaosAnnotations
import Foundation
import TraceAnalysis

/// Grafana Tempo: a TraceQL search (`GET /api/search?q=…&start=…&end=…`, Unix seconds) for trace
/// ids, then each trace (`GET /api/traces/ID`), whose body is OTLP/JSON with `batches` for
/// `resourceSpans` (Tempo's `pkg/api/http.go`, `pkg/tempopb/trace_utils.go`).
struct TempoSource: SpanSource {
  let http: BackendHTTP

  /// Traces fetched at once: enough to hide latency, few enough to spare a shared query frontend.
  static let parallelFetches = 4

  func findWindows(_ finder: inout WindowFinder, within range: TimeRange) async throws {
    let query =
      "{ resource.service.name = \(Self.quoted(http.configuration.agentService)) && name = "
      + "\(Self.quoted(ChaosSpanVocabulary.experimentSpan)) }"
    _ = try await fetch(try await search(query, range).ids) { span in finder.add(span) }
  }

  func collect(into collector: inout SpanCollector, within range: TimeRange) async throws -> SourceReading {
    var ids: [String] = []
    var seen: Set<String> = []
    var reading = SourceReading()
    for query in queries() {
      let (url, found) = try await search(query, range)
      if let warning = http.configuration.capWarning(found.count, url: url) {
        reading.warnings.append(warning)
      }
      for id in found where seen.insert(id).inserted { ids.append(id) }
    }
    var summary = InputSummary(file: http.configuration.baseURL + "/api/traces/…")
    reading.malformed = try await fetch(ids) { span in
      collector.add(span)
      summary.spans += 1
    }
    summary.lines = ids.count
    summary.malformedLines = reading.malformed.count
    reading.inputs = [summary]
    return reading
  }

  /// `--traceql`, else one query per `--service`, else every trace; and the agent's traces, so
  /// that its spans are recognised and left out as they are in a file.
  func queries() -> [String] {
    let agent = "{ resource.service.name = \(Self.quoted(http.configuration.agentService)) }"
    if let traceQL = http.configuration.traceQL { return [traceQL, agent] }
    if http.configuration.services.isEmpty { return ["{}"] }
    return http.configuration.searchedServices.map { "{ resource.service.name = \(Self.quoted($0)) }" }
  }

  func searchURL(_ query: String, _ range: TimeRange) -> String {
    let start = range.startNanos / 1_000_000_000
    let end = (range.endNanos + 999_999_999) / 1_000_000_000
    return http.configuration.baseURL + "/api/search?"
      + BackendHTTP.query([
        ("q", query), ("start", String(start)), ("end", String(end)),
        ("limit", String(http.configuration.maxTraces)), ("spss", "1"),
      ])
  }

  /// The search's URL, and the trace ids it returns (hex, leading zeros dropped as Tempo writes them).
  func search(_ query: String, _ range: TimeRange) async throws -> (url: String, ids: [String]) {
    struct Response: Decodable {
      struct Trace: Decodable { var traceID: String }
      var traces: [Trace]?
    }
    let url = searchURL(query, range)
    guard let body = try await http.get(url) else { return (url, []) }
    do {
      return (url, try JSONDecoder().decode(Response.self, from: Data(body)).traces?.map(\.traceID) ?? [])
    } catch {
      throw TraceBackendError.invalidResponse(url, "not a Tempo search response: \(error)")
    }
  }

  /// Fetches the traces `ids` a few at a time and gives their spans to `body` in id order; a trace
  /// whose body does not decode, or that is no longer there, is skipped and returned as a malformed
  /// record.
  func fetch(_ ids: [String], _ body: (Span) -> Void) async throws -> [MalformedLine] {
    var malformed: [MalformedLine] = []
    let http = self.http
    try await withThrowingTaskGroup(of: (Int, String, Result<[Span], OTLPDecodingError>).self) { group in
      var next = 0
      var done: [Int: (String, Result<[Span], OTLPDecodingError>)] = [:]
      var emitted = 0
      func start() {
        guard next < ids.count else { return }
        let index = next
        let url = http.configuration.baseURL + "/api/traces/" + ids[index]
        group.addTask {
          // A trace the search listed can be gone by the time it is fetched (retention, a
          // compaction in between): one missing trace is skipped and counted, not fatal.
          guard let bytes = try await http.get(url, notFoundIsEmpty: true) else {
            return (
              index, url, .failure(OTLPDecodingError("not found (HTTP 404), though the search listed it"))
            )
          }
          do throws(OTLPDecodingError) {
            return (index, url, .success(try OTLPJSONDecoder().decode(bytes)))
          } catch {
            return (index, url, .failure(error))
          }
        }
        next += 1
      }
      for _ in 0..<Self.parallelFetches { start() }
      while let (index, url, result) = try await group.next() {
        done[index] = (url, result)
        start()
        while let (url, result) = done.removeValue(forKey: emitted) {
          switch result {
          case .success(let spans): for span in spans { body(span) }
          case .failure(let error):
            malformed.append(MalformedLine(file: url, line: 1, message: error.description))
          }
          emitted += 1
        }
      }
    }
    return malformed
  }

  /// A TraceQL string literal.
  static func quoted(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      + "\""
  }
}
