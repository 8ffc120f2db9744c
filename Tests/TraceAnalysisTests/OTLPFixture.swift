import AgentTestSupport
import Foundation
import TraceAnalysis

/// Spans written as the OpenTelemetry Collector's `file` exporter writes them: one
/// `ExportTraceServiceRequest` per line, hex ids, 64-bit integers as strings, enums as numbers.
struct FixtureSpan {
  var service: String
  var name: String
  var kind: Int
  /// Seconds after ``Fixture/t0``.
  var at: Double
  var durationMs: Double
  var traceID: String
  var spanID: String
  var parentSpanID: String? = nil
  var statusCode: Int = 0
  var attributes: [String: Any] = [:]
  var events: [(name: String, attributes: [String: Any])] = []
  var links: [(traceID: String, spanID: String, attributes: [String: Any])] = []
}

enum Fixture {
  /// 2023-11-14T22:13:20Z.
  static let t0: Int64 = 1_700_000_000
  static let experimentID = "5e1f0c2d9a8b47c6b3e2d1f0a9b8c7d6"
  static let experimentTrace = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  static let experimentSpan = "bbbbbbbbbbbbbbbb"

  static func nanos(_ seconds: Double) -> Int64 { t0 * 1_000_000_000 + Int64((seconds * 1e9).rounded()) }

  static func hex(_ value: Int, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
  }

  static func anyValue(_ value: Any) -> [String: Any] {
    switch value {
    case let v as Bool: ["boolValue": v]
    case let v as Int: ["intValue": String(v)]
    case let v as Double: ["doubleValue": v]
    default: ["stringValue": "\(value)"]
    }
  }

  static func keyValues(_ attributes: [String: Any]) -> [[String: Any]] {
    attributes.keys.sorted().map { ["key": $0, "value": anyValue(attributes[$0]!)] }
  }

  /// One line: the spans grouped into one resource per service.
  static func line(_ spans: [FixtureSpan]) -> String {
    var services: [String] = []
    for span in spans where !services.contains(span.service) { services.append(span.service) }
    let resourceSpans: [[String: Any]] = services.map { service in
      let encoded: [[String: Any]] = spans.filter { $0.service == service }.map { span in
        var object: [String: Any] = [
          "traceId": span.traceID, "spanId": span.spanID, "name": span.name, "kind": span.kind,
          "startTimeUnixNano": String(nanos(span.at)),
          "endTimeUnixNano": String(nanos(span.at + span.durationMs / 1000)),
          "attributes": keyValues(span.attributes),
          "status": span.statusCode == 0 ? [:] : ["code": span.statusCode],
        ]
        if let parent = span.parentSpanID { object["parentSpanId"] = parent }
        if !span.events.isEmpty {
          object["events"] = span.events.map {
            ["name": $0.name, "timeUnixNano": String(nanos(span.at)), "attributes": keyValues($0.attributes)]
          }
        }
        if !span.links.isEmpty {
          object["links"] = span.links.map {
            ["traceId": $0.traceID, "spanId": $0.spanID, "attributes": keyValues($0.attributes)]
              as [String: Any]
          }
        }
        return object
      }
      return [
        "resource": ["attributes": keyValues(["service.name": service])],
        "scopeSpans": [["scope": ["name": "fixture"], "spans": encoded]],
      ]
    }
    let data = try! JSONSerialization.data(
      withJSONObject: ["resourceSpans": resourceSpans], options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
  }

  /// faultline's `chaos.experiment` span for a window of `length` seconds at `at`.
  static func experimentSpan(
    at: Double, length: Double, id: String = experimentID, name: String = "payment-latency",
    spanID: String = experimentSpan
  ) -> FixtureSpan {
    FixtureSpan(
      service: "faultline", name: "chaos.experiment", kind: 1, at: at, durationMs: length * 1000,
      traceID: experimentTrace, spanID: spanID,
      attributes: [
        "chaos.experiment.id": id, "chaos.experiment.name": name, "chaos.experiment.netem.delay_ms": 500,
        "chaos.experiment.mode": "sidecar",
      ])
  }

  /// gateway → order → payment, one request per second for 120 s; the fault (a 500 ms delay on
  /// payment) is on from 60 s to 120 s. In the window, payment's middleware marks its spans, order's
  /// calls to payment time out every 10th request (gRPC DEADLINE_EXCEEDED), and gateway retries
  /// each of those once.
  static func checkoutScenario() -> [String] {
    var lines = [line([experimentSpan(at: 60, length: 60)])]
    var counter = 0
    func nextID() -> String {
      counter += 1
      return hex(counter, digits: 16)
    }
    for second in 0..<120 {
      let faulted = second >= 60
      let trace = hex(0x1000 + second, digits: 32)
      let extra = faulted ? 500.0 : 0
      let timeout = faulted && second % 10 == 0
      let gatewayServer = nextID()
      let gatewayClient = nextID()
      let orderServer = nextID()
      let orderClient = nextID()
      let paymentServer = nextID()
      var spans = [
        FixtureSpan(
          service: "gateway", name: "GET /checkout", kind: 2, at: Double(second), durationMs: 40 + extra,
          traceID: trace, spanID: gatewayServer, attributes: ["http.response.status_code": 200]),
        FixtureSpan(
          service: "gateway", name: "POST /order", kind: 3, at: Double(second), durationMs: 30 + extra,
          traceID: trace, spanID: gatewayClient, parentSpanID: gatewayServer,
          attributes: ["http.response.status_code": timeout ? 504 : 200]),
        FixtureSpan(
          service: "order", name: "POST /order", kind: 2, at: Double(second), durationMs: 25 + extra,
          traceID: trace, spanID: orderServer, parentSpanID: gatewayClient,
          attributes: ["http.response.status_code": timeout ? 504 : 200]),
        FixtureSpan(
          service: "order", name: "payment.Charge", kind: 3, at: Double(second), durationMs: 15 + extra,
          traceID: trace, spanID: orderClient, parentSpanID: orderServer, statusCode: timeout ? 2 : 0,
          attributes: ["rpc.grpc.status_code": timeout ? 4 : 0]),
      ]
      var payment = FixtureSpan(
        service: "payment", name: "payment.Charge", kind: 2, at: Double(second), durationMs: 10 + extra,
        traceID: trace, spanID: paymentServer, parentSpanID: orderClient,
        attributes: ["rpc.grpc.status_code": 0])
      if faulted {
        payment.attributes["chaos.experiment.active"] = true
        payment.attributes["chaos.experiment.id"] = experimentID
        payment.attributes["chaos.experiment.name"] = "payment-latency"
        payment.links = [(experimentTrace, experimentSpan, ["chaos.experiment.id": experimentID])]
      }
      spans.append(payment)
      if timeout {
        // The gateway's retry: a second client span under the same parent.
        spans.append(
          FixtureSpan(
            service: "gateway", name: "POST /order", kind: 3, at: Double(second) + 0.6, durationMs: 30,
            traceID: trace, spanID: nextID(), parentSpanID: gatewayServer,
            attributes: ["http.response.status_code": 200, "http.request.resend_count": 1]))
      }
      lines.append(line(spans))
    }
    return lines
  }

  /// A fresh file holding `lines`.
  static func write(_ lines: [String], name: String = "spans.json") throws -> String {
    let directory = NSTemporaryDirectory() + "analyze-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/" + name
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// Gzips `path` with the system's gzip (a real gzip writer, not ours), returning the new path.
  static func gzip(_ path: String, arguments: [String] = ["-kn"]) throws -> String {
    try runProcess(["gzip"] + arguments + [path])
    return path + ".gz"
  }

  /// Reads and analyses `paths` as `faultline analyze --experiment` does.
  static func analyze(
    _ paths: [String], experiment: String = experimentID, conditions: [String] = [], faulted: [String] = [],
    baseline: TimeRange? = nil
  ) async throws -> AnalysisReport {
    let input = OTLPInput(paths: paths)
    let windows = try await input.windows(of: experiment, baseline: baseline, within: nil, now: nanos(0))
    return try await input.report(
      on: windows,
      by: Analyzer(
        conditions: try conditions.map { try FailCondition(parsing: $0) }, faultedServices: faulted),
      experiment: experiment
    ).report
  }
}
