import FaultAgent
import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import FaultTelemetry

@Suite struct MetricsExportConfigurationTests {
  @Test(
    arguments: [
      ([:], "OTEL_METRICS_EXPORTER unset"),
      (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"], "OTEL_METRICS_EXPORTER unset"),
      (["OTEL_METRICS_EXPORTER": "otlp"], nil),
      (["OTEL_METRICS_EXPORTER": "OTLP"], nil),
      (["OTEL_METRICS_EXPORTER": "none"], "OTEL_METRICS_EXPORTER=none"),
      (["OTEL_METRICS_EXPORTER": "prometheus"], "OTEL_METRICS_EXPORTER=prometheus"),
      (["OTEL_METRICS_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"], "OTEL_SDK_DISABLED=true"),
    ] as [([String: String], String?)])
  func otlpMetricsAreOnOnlyWhenOTELMetricsExporterIsOTLP(environment: [String: String], reason: String?) {
    #expect(MetricsExport.disabledReason(environment) == reason)
  }
}

// An extension of the serialized export suite: these tests set OTEL_* in the process environment
// too, and must not overlap with the span tests that do.
extension TelemetryExportTests {
  /// One metric data point as the receiver wrote it.
  struct Point {
    var name: String
    var type: String
    var attributes: [String: String]
    var json: [String: Any]
  }

  @Test func aBadMetricsProtocolIsAClearError() async {
    await withEnvironment([
      "OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "carrier-pigeon",
    ]) {
      let error = #expect(throws: TelemetryError.self) {
        try MetricsExport.bootstrap(
          serviceVersion: "0", valueHistogramBuckets: [:], logger: Logger(label: "test"))
      }
      #expect(error?.message.contains("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=carrier-pigeon") == true)
    }
  }

  @Test(arguments: ["grpc", "http/protobuf", "http/json"])
  func theAgentsMetricsReachTheReceiverOverOTLP(protocol name: String) async throws {
    let pointsFile = NSTemporaryDirectory() + "fl-points-\(UUID().uuidString).jsonl"
    defer { try? FileManager.default.removeItem(atPath: pointsFile) }
    _ = try await withReceiver(protocol: name, arguments: ["--metrics-out", pointsFile], expecting: 0) {
      environment in
      let variables = environment.merging([
        "OTEL_METRICS_EXPORTER": "otlp", "OTEL_METRIC_EXPORT_INTERVAL": "200",
      ]) {
        $1
      }
      let (made, reason) = try await withEnvironment(variables) {
        try MetricsExport.bootstrap(
          serviceVersion: "test", valueHistogramBuckets: AgentMetrics.valueHistogramBuckets,
          logger: Logger(label: "test"))
      }
      let export = try #require(made, "OTLP metrics off: \(reason ?? "")")
      let metrics = AgentMetrics(factory: export.factory)
      metrics.recordInjection(ok: true, seconds: 0.0002)
      metrics.recordInjection(ok: true, seconds: 0.003)
      metrics.recordInjection(ok: false, seconds: 2)
      metrics.recordRevert(.signal)
      metrics.addActive(1)
      metrics.markReady()
      let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
          services: [.init(service: export.service)], gracefulShutdownSignals: [],
          logger: Logger(label: "test")))
      try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        for _ in 0..<100
        where Self.points(pointsFile).first(where: { $0.name == AgentMetrics.Name.ready }) == nil {
          try await Task.sleep(for: .milliseconds(100))
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
      }
    }
    // Cumulative temporality: every export repeats every series; the last one holds the totals.
    var last: [String: Point] = [:]
    for point in Self.points(pointsFile) {
      last[point.name + point.attributes.sorted { $0.key < $1.key }.description] = point
    }
    func value(_ name: String, _ attributes: [String: String] = [:]) -> Double? {
      (last[name + attributes.sorted { $0.key < $1.key }.description]?.json["value"] as? NSNumber)?
        .doubleValue
    }
    #expect(value(AgentMetrics.Name.injections, ["outcome": "ok"]) == 2)
    #expect(value(AgentMetrics.Name.injections, ["outcome": "error"]) == 1)
    #expect(value(AgentMetrics.Name.reverts, ["reason": "signal"]) == 1)
    #expect(value(AgentMetrics.Name.reverts, ["reason": "manual"]) == 0)
    #expect(value(AgentMetrics.Name.drifts, ["kind": "removed"]) == 0)
    #expect(value(AgentMetrics.Name.activeFaults) == 1)
    #expect(value(AgentMetrics.Name.ready) == 1)
    #expect(value(AgentMetrics.Name.faultsPending, ["kind": "apply"]) == 0)
    #expect(value(AgentMetrics.Name.spansDropped) == 0)
    let histogram = try #require(last[AgentMetrics.Name.applyDuration + "[]"], "\(last.keys.sorted())")
    #expect(histogram.type == "histogram")
    #expect(histogram.json["bounds"] as? [Double] == AgentMetrics.applyDurationBuckets)
    #expect((histogram.json["count"] as? NSNumber)?.intValue == 3)
    let counts = (histogram.json["bucket_counts"] as? [NSNumber])?.map(\.intValue) ?? []
    // 0.0002 s in (0.0001, 0.00025], 0.003 s in (0.0025, 0.005], 2 s above the last bound (1 s).
    #expect(counts == [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    #expect(
      last.values.allSatisfy {
        ($0.json["resource"] as? [String: Any])?["service.name"] as? String == "faultline"
      })
    #expect(last[AgentMetrics.Name.injections + #"[(key: "outcome", value: "ok")]"#]?.type == "sum")
  }

  /// The points in the receiver's `--metrics-out` file so far.
  static func points(_ path: String) -> [Point] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
      guard let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let name = json["name"] as? String, let type = json["type"] as? String
      else { return nil }
      let attributes = (json["attributes"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
      return Point(name: name, type: type, attributes: attributes, json: json)
    }
  }
}
