import ChaosAnnotations
import ChaosAnnotationsTracing
import FaultAgent
import FaultModel
import Foundation
import Logging
import ServiceLifecycle
import Testing
import Tracing

@testable import FaultTelemetry

@Suite struct TelemetryConfigurationTests {
  @Test(
    arguments: [
      ([:], "no OTEL_EXPORTER_OTLP_ENDPOINT"),
      (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"], nil),
      (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"], nil),
      (["OTEL_TRACES_EXPORTER": "otlp"], nil),
      (
        ["OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"],
        "OTEL_TRACES_EXPORTER=none"
      ),
      (["OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"], "OTEL_SDK_DISABLED=true"),
      (["OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"], nil),
    ] as [([String: String], String?)])
  func tracingIsOnOnlyWhenAnExporterIsConfigured(environment: [String: String], reason: String?) {
    #expect(Telemetry.disabledReason(environment) == reason)
  }

  @Test func downwardAPIVariablesBecomeKubernetesResourceAttributes() {
    let attributes = Telemetry.resourceAttributes(
      serviceVersion: "0.1.0",
      environment: [
        "POD_NAME": "faultline-x7k2p", "POD_NAMESPACE": "faultline", "NODE_NAME": "node-3", "POD_UID": "",
        "HOSTNAME": "faultline-x7k2p",
      ])
    #expect(
      attributes == [
        "service.version": "0.1.0", "host.name": "faultline-x7k2p", "k8s.pod.name": "faultline-x7k2p",
        "k8s.namespace.name": "faultline", "k8s.node.name": "node-3",
      ])
  }

}

/// Sets environment variables for the duration of `body` (swift-otel reads the process's).
func withEnvironment<T>(_ variables: [String: String], _ body: () async throws -> T) async rethrows -> T {
  for (key, value) in variables { setenv(key, value, 1) }
  defer { for key in variables.keys { unsetenv(key) } }
  return try await body()
}

/// The OTLP export path end to end on the host (no kernel involved): a real receiver
/// (scripts/peers/otlp_receiver.py) gets the spans swift-otel sends.
@Suite(.serialized) struct TelemetryExportTests {
  @Test func aBadProtocolIsAClearError() async {
    await withEnvironment([
      "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon",
    ]) {
      #expect(throws: TelemetryError.self) {
        try Telemetry.bootstrap(serviceVersion: "0", logger: Logger(label: "test"))
      }
    }
  }

  static let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  /// Runs the receiver (with `arguments` added), hands `body` the exporter environment, returns the
  /// spans received once `count` have arrived (or after 10 s).
  func withReceiver(
    protocol name: String, arguments: [String] = [], expecting count: Int,
    _ body: ([String: String]) async throws -> Void
  ) async throws -> [[String: Any]] {
    let directory = NSTemporaryDirectory() + "fl-otlp-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let receiver = Process()
    receiver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    receiver.arguments =
      [
        "python3", "\(Self.repoRoot)/scripts/peers/otlp_receiver.py", "--grpc-port", "0", "--http-port", "0",
        "--out", directory + "/spans.jsonl", "--ready-file", directory + "/ready.json",
      ] + arguments
    receiver.standardOutput = FileHandle.nullDevice
    try receiver.run()
    defer {
      // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
      kill(receiver.processIdentifier, SIGKILL)
      receiver.waitUntilExit()
    }
    var ready: [String: Int]?
    for _ in 0..<300 where ready == nil {
      try await Task.sleep(for: .milliseconds(100))
      if let data = FileManager.default.contents(atPath: directory + "/ready.json") {
        ready = try JSONSerialization.jsonObject(with: data) as? [String: Int]
      }
    }
    let port = try #require(ready?[name == "grpc" ? "grpc" : "http"])
    try await body([
      "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)", "OTEL_EXPORTER_OTLP_PROTOCOL": name,
    ])
    var spans: [[String: Any]] = []
    for attempt in 0..<100 where attempt == 0 || spans.count < count {
      if attempt > 0 { try await Task.sleep(for: .milliseconds(100)) }
      let text = (try? String(contentsOfFile: directory + "/spans.jsonl", encoding: .utf8)) ?? ""
      spans = text.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
    }
    return spans
  }

  /// Runs `body` with the exporter service running, then shuts it down (flushing).
  private func withExporter(_ telemetry: Telemetry, _ body: @escaping @Sendable () async throws -> Void)
    async throws
  {
    #expect(telemetry.service != nil)
    try await telemetry.whileExporting(logger: Logger(label: "test"), body)
  }

  @Test(arguments: ["grpc", "http/protobuf"])
  func aRequestSpanMarkedDuringAnExperimentLinksToTheExperimentSpan(protocol name: String) async throws {
    let annotations = NSTemporaryDirectory() + "fl-ann-\(UUID().uuidString)"
    let experimentTrace = "0af7651916cd43dd8448eb211c80319c"
    let experimentSpan = "b7ad6b7169203331"
    let writer = AnnotationWriter(path: annotations)
    var fault = NetemFault()
    fault.delay = .milliseconds(500)
    let experiment = Experiment(
      id: "5f3c0e1d2a9b48c7a1d2e3f405162738", name: "payment-latency", target: FaultTarget(), fault: fault)
    let spans = try await withReceiver(protocol: name, expecting: 2) { environment in
      let telemetry = try await withEnvironment(environment.merging(["OTEL_SERVICE_NAME": "shop"]) { $1 }) {
        try Telemetry.bootstrap(serviceVersion: "test", logger: Logger(label: "test"))
      }
      let marker = ChaosSpanMarker(path: annotations)
      try await withExporter(telemetry) {
        try await writer.started(
          experiment, at: Date(), traceparent: "00-\(experimentTrace)-\(experimentSpan)-01")
        let during = telemetry.tracer.startSpan("GET /pay during", context: .topLevel)
        #expect(marker.mark(during, tracer: telemetry.tracer)?.names == ["payment-latency"])
        during.end()
        try await writer.ended(id: experiment.id)
        try await Task.sleep(for: .milliseconds(100))  // the marker may answer up to 50 ms late
        let after = telemetry.tracer.startSpan("GET /pay after", context: .topLevel)
        #expect(marker.mark(after, tracer: telemetry.tracer) == nil)
        after.end()
      }
    }
    let during = try #require(spans.first { $0["name"] as? String == "GET /pay during" }, "\(spans)")
    let after = try #require(spans.first { $0["name"] as? String == "GET /pay after" })
    let attributes = during["attributes"] as? [String: Any] ?? [:]
    #expect(attributes["chaos.experiment.active"] as? Bool == true)
    #expect(attributes["chaos.experiment.name"] as? String == "payment-latency")
    #expect(attributes["chaos.experiment.id"] as? String == experiment.id)
    let links = during["links"] as? [[String: Any]] ?? []
    #expect(links.count == 1)
    #expect(links.first?["trace_id"] as? String == experimentTrace)
    #expect(links.first?["span_id"] as? String == experimentSpan)
    #expect((after["attributes"] as? [String: Any] ?? [:]).keys.filter { $0.hasPrefix("chaos.") }.isEmpty)
    #expect((after["links"] as? [Any] ?? []).isEmpty)
    #expect((during["resource"] as? [String: Any])?["service.name"] as? String == "shop")
  }

  @Test func traceparentInTheEnvironmentBecomesTheParent() async throws {
    let spans = try await withReceiver(protocol: "grpc", expecting: 1) { environment in
      var environment = environment
      environment["TRACEPARENT"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      let telemetry = try await withEnvironment(environment) {
        try Telemetry.bootstrap(serviceVersion: "test", logger: Logger(label: "test"))
      }
      try await withExporter(telemetry) {
        telemetry.tracer.startSpan("child", context: telemetry.parent).end()
      }
    }
    #expect(spans.first?["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
    #expect(spans.first?["parent_span_id"] as? String == "00f067aa0ba902b7")
  }
}
