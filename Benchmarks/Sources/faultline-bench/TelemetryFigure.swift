import FaultAgent
import FaultModel
import FaultTelemetry
import Foundation
import Logging
import NetemKernel

/// `inject_p50_us_dead_collector`: the whole window path (journal, apply, read-back, spans,
/// revert) with tracing on and the OTLP collector unreachable, against the same path with tracing
/// off (`window_inject_p50_us`). The claim: a dead collector adds nothing to an injection.
enum TelemetryFigure {
  static func deadCollector(_ target: FaultTarget, iterations: Int, warmup: Int) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let logger = {
      var logger = Logger(label: "faultline-bench")
      logger.logLevel = .critical
      return logger
    }()
    let state = NSTemporaryDirectory() + "fl-bench-windows-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: state) }
    let injector = Injector(
      kernel: NetemKernel(logger: logger), journal: Journal(directory: state), logger: logger)

    @Sendable func measure(_ windows: FaultWindows) async throws -> Samples {
      var samples = Samples()
      for index in 0..<(warmup + iterations) {
        let experiment = Experiment(name: "bench", target: target, fault: BenchFault.fault)
        var window: OpenWindow?
        let elapsed = try await microseconds { window = try await windows.open(experiment) }
        if let window { try await windows.close(window, reason: .durationElapsed) }
        if index >= warmup { samples.append(elapsed) }
      }
      return samples
    }

    let plain = try await measure(FaultWindows(injector: injector, logger: logger))
    // Nothing listens on port 9 (discard) of 127.0.0.1.
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", 1)
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1)
    defer {
      unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT")
      unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL")
    }
    let telemetry = try Telemetry.bootstrap(serviceVersion: "bench", logger: logger)
    let traced = try await telemetry.whileExporting(logger: logger) {
      try await measure(
        FaultWindows(injector: injector, tracer: telemetry.tracer, parent: telemetry.parent, logger: logger))
    }
    progress(
      "dead collector: window open p50 \(rounded(traced.median)) µs with spans to a dead collector, "
        + "\(rounded(plain.median)) µs with tracing off")
    let figures: [String: Any] = [
      "window_inject_p50_us": rounded(plain.median), "window_inject_p99_us": rounded(plain.p99),
      "inject_p50_us_dead_collector": rounded(traced.median),
      "inject_p99_us_dead_collector": rounded(traced.p99),
    ]
    let details: [String: Any] = [
      "method":
        "FaultWindows.open (chaos.experiment + chaos.inject spans, journal fsync, apply, read-back) timed, "
        + "then close, on a veth in another netns; \(warmup) warm-up and \(iterations) timed windows with "
        + "tracing off, then the same with swift-otel exporting over gRPC to 127.0.0.1:9 (nothing "
        + "listening) while the exporter runs",
      "tracing_off_us": plain.summary(), "dead_collector_us": traced.summary(),
    ]
    return (figures, details)
  }
}
