import CoreMetrics
import Foundation
import Logging
import OTel
import ServiceLifecycle

/// The agent's metrics over OTLP: swift-otel's metrics backend (a `MetricsFactory` and the service
/// that exports what it recorded every interval), configured by the standard `OTEL_*` variables.
///
/// | setting | variable | default |
/// | --- | --- | --- |
/// | on or off | `OTEL_METRICS_EXPORTER`: `otlp` turns it on; unset or anything else leaves it off | off |
/// | off whatever the above says | `OTEL_SDK_DISABLED=true` | – |
/// | export interval | `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds) | 60000 |
/// | collector | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` | `http://localhost:4318` (HTTP; the spec's default) |
/// | protocol | `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, `http/json` or `grpc` | `http/protobuf` |
///
/// Metrics are opt-in, unlike spans (on as soon as an endpoint is set), because the agent always
/// serves them at `/metrics` and most clusters scrape that; a collector user asks for OTLP too.
/// The resource is the spans' (``Telemetry/resourceAttributes(serviceVersion:environment:)``).
public struct MetricsExport: Sendable {
  /// Where the instruments record; combine it with the Prometheus factory.
  public let factory: any MetricsFactory
  /// The periodic exporter; run it in the process's `ServiceGroup` (it exports once more when it
  /// shuts down).
  public let service: any Service

  /// The backend the environment asks for, or nil (and why) when OTLP metrics are off.
  ///
  /// - Parameters:
  ///   - valueHistogramBuckets: bucket bounds per histogram name (swift-metrics leaves them to the
  ///     backend; the agent's are ``AgentMetrics``-defined and the same as on `/metrics`).
  ///   - logger: where swift-otel's diagnostics go (warnings and worse).
  /// - Throws: ``TelemetryError`` for a configuration swift-otel rejects.
  public static func bootstrap(
    serviceVersion: String, valueHistogramBuckets: [String: [Double]], logger: Logger
  ) throws -> (export: MetricsExport?, disabledReason: String?) {
    // swift-otel reads the OTEL_* variables from the process environment itself.
    let environment = ProcessInfo.processInfo.environment
    if let reason = disabledReason(environment) { return (nil, reason) }
    var configuration = try Telemetry.baseConfiguration(
      signal: "METRICS", serviceVersion: serviceVersion, environment: environment, diagnostics: logger,
      component: "otel-metrics")
    configuration.metrics.enabled = true
    configuration.metrics.valueHistogramBuckets = valueHistogramBuckets
    do {
      // swift-otel applies the OTEL_* overrides (interval, endpoint, protocol) itself.
      let backend = try OTel.makeMetricsBackend(configuration: configuration)
      return (MetricsExport(factory: backend.factory, service: backend.service), nil)
    } catch {
      throw TelemetryError(message: "cannot set up OTLP metrics: \(error)")
    }
  }

  /// Why OTLP metrics are off for `environment`, or nil when they are on.
  static func disabledReason(_ environment: [String: String]) -> String? {
    if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return "OTEL_SDK_DISABLED=true" }
    let exporter = environment["OTEL_METRICS_EXPORTER"]?.lowercased()
    guard exporter == "otlp" else {
      return exporter.map { "OTEL_METRICS_EXPORTER=\($0)" } ?? "OTEL_METRICS_EXPORTER unset"
    }
    return nil
  }
}
