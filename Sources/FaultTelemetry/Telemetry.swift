import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// faultline's OpenTelemetry tracing backend: an OTLP exporter (gRPC or HTTP) from swift-otel,
/// configured by the standard `OTEL_*` environment variables, plus the parent context that
/// `TRACEPARENT`/`TRACESTATE` carry.
///
/// Export is batched and asynchronous: a span ends in a bounded in-memory queue and a background
/// service ships it, so a slow or dead collector never delays or fails an injection. The exports
/// keep the OTLP defaults: each waits up to `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s), and within it
/// swift-otel keeps trying to connect and retries the transient failures with backoff (gRPC
/// `UNAVAILABLE`, `DEADLINE_EXCEEDED`… from the collector; HTTP 429, 502, 503, 504), so a collector
/// slow to connect or to answer still gets every span. What a one-shot command waits for at exit is bounded separately, by
/// ``TelemetryConfiguration/exitFlushTimeout`` (see ``whileExporting(logger:_:)``). Spans the
/// exporter gives up on (a failed export, a full queue, a flush cut short) are counted in
/// ``droppedSpans`` and each loss is a warning with the count.
///
/// Tracing is on when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER` names an exporter, and off when
/// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Off means a no-op tracer: spans cost
/// nothing and nothing is sent.
public struct Telemetry: Sendable {
  /// The tracer every span is started from.
  public let tracer: any Tracer
  /// The background exporter; run it in the process's `ServiceGroup` (nil when tracing is off).
  public let service: (any Service)?
  /// The context the top span of every experiment is a child of: `TRACEPARENT`'s, or empty.
  public let parent: ServiceContext
  /// Why tracing is off, or nil when it is on.
  public let disabledReason: String?
  /// faultline's own settings (the exit-flush bound).
  public let configuration: TelemetryConfiguration
  /// The spans the exporter gave up on so far.
  public let droppedSpans: DroppedSpanCounter

  /// Tracing switched off: no spans, no exporter.
  public static let disabled = Telemetry(
    tracer: NoOpTracer(), service: nil, parent: .topLevel, disabledReason: "disabled",
    configuration: TelemetryConfiguration(), droppedSpans: DroppedSpanCounter())

  /// Builds the backend from the process's environment.
  ///
  /// Resource attributes: `service.name` (`OTEL_SERVICE_NAME`, default `faultline`),
  /// `service.version`, `host.name`, and `k8s.pod.name`, `k8s.namespace.name`, `k8s.pod.uid`,
  /// `k8s.node.name` from the Downward API variables `POD_NAME`, `POD_NAMESPACE`, `POD_UID`,
  /// `NODE_NAME` when set; `OTEL_RESOURCE_ATTRIBUTES` overrides any of them.
  ///
  /// - Parameters:
  ///   - configuration: faultline's own settings (the OTLP ones come from `OTEL_*`).
  ///   - logger: where swift-otel's diagnostics go, the dropped-span warnings among them.
  ///   - onSpansDropped: called with the number of spans of each loss (e.g. to count them in a metric).
  /// - Throws: ``TelemetryError`` for a configuration swift-otel rejects (e.g. a bad protocol).
  public static func bootstrap(
    serviceVersion: String, configuration settings: TelemetryConfiguration = TelemetryConfiguration(),
    logger: Logger, onSpansDropped: @escaping @Sendable (Int) -> Void = { _ in }
  ) throws -> Telemetry {
    // swift-otel reads the OTEL_* variables from the process environment itself.
    let environment = ProcessInfo.processInfo.environment
    let dropped = DroppedSpanCounter(onDrop: onSpansDropped)
    if let reason = disabledReason(environment) {
      return Telemetry(
        tracer: NoOpTracer(), service: nil, parent: .topLevel, disabledReason: reason,
        configuration: settings,
        droppedSpans: dropped)
    }
    let handler = DroppedSpanLogHandler(wrapping: logger.handler, counter: dropped)
    var configuration = try baseConfiguration(
      signal: "TRACES", serviceVersion: serviceVersion, environment: environment,
      diagnostics: Logger(label: logger.label, factory: { _ in handler }), component: "otel")
    configuration.traces.enabled = true
    // Ship spans twice a second (the SDK waits 5 s), so the spans of a long `inject` reach the
    // collector while it holds the fault. The export timeouts stay the spec's (10 s per export,
    // 30 s per batch): cutting them short lost the first batch to a collector slow to connect.
    configuration.traces.batchSpanProcessor.scheduleDelay = .milliseconds(500)
    let backend: (factory: any Tracer, service: any Service)
    do {
      let made = try OTel.makeTracingBackend(configuration: configuration)
      backend = (made.factory, made.service)
    } catch {
      throw TelemetryError(message: "cannot set up OTLP tracing: \(error)")
    }
    return Telemetry(
      tracer: backend.factory, service: backend.service,
      parent: parentContext(environment, tracer: backend.factory), disabledReason: nil,
      configuration: settings, droppedSpans: dropped)
  }

  /// Why tracing is off for `environment`, or nil when it is on.
  static func disabledReason(_ environment: [String: String]) -> String? {
    if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return "OTEL_SDK_DISABLED=true" }
    let exporter = environment["OTEL_TRACES_EXPORTER"]?.lowercased()
    if exporter == "none" { return "OTEL_TRACES_EXPORTER=none" }
    let endpoints = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if exporter == nil && !endpoints.contains(where: { !(environment[$0] ?? "").isEmpty }) {
      return "no OTEL_EXPORTER_OTLP_ENDPOINT"
    }
    return nil
  }

  /// What every OTLP signal of faultline's shares, with every signal off (the caller turns its own
  /// on): the protocol checked for `signal` (`TRACES`, `METRICS`), the service name and resource
  /// attributes, and swift-otel's diagnostics (warnings and worse) on `diagnostics` under
  /// `component`.
  static func baseConfiguration(
    signal: String, serviceVersion: String, environment: [String: String], diagnostics: Logger,
    component: String
  ) throws -> OTel.Configuration {
    for key in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_\(signal)_PROTOCOL"] {
      if let value = environment[key], !["grpc", "http/protobuf", "http/json"].contains(value) {
        throw TelemetryError(
          message:
            "\(key)=\(value) is not a protocol faultline can export with: use grpc, http/protobuf or http/json"
        )
      }
    }
    var configuration = OTel.Configuration.default
    configuration.serviceName = "faultline"
    configuration.resourceAttributes = resourceAttributes(
      serviceVersion: serviceVersion, environment: environment)
    configuration.traces.enabled = false
    configuration.metrics.enabled = false
    configuration.logs.enabled = false
    var logger = diagnostics
    logger[metadataKey: "component"] = .string(component)
    configuration.diagnosticLogger = .custom(logger)
    configuration.diagnosticLogLevel = .warning
    return configuration
  }

  /// The resource attributes faultline adds before `OTEL_RESOURCE_ATTRIBUTES` is applied.
  static func resourceAttributes(serviceVersion: String, environment: [String: String]) -> [String: String] {
    var attributes = ["service.version": serviceVersion]
    if let host = environment["HOSTNAME"] ?? ProcessInfo.processInfo.hostName.nonEmpty {
      attributes["host.name"] = host
    }
    let downward = [
      ("POD_NAME", "k8s.pod.name"), ("POD_NAMESPACE", "k8s.namespace.name"), ("POD_UID", "k8s.pod.uid"),
      ("NODE_NAME", "k8s.node.name"),
    ]
    for (variable, key) in downward {
      if let value = environment[variable], !value.isEmpty { attributes[key] = value }
    }
    return attributes
  }

  /// The context `TRACEPARENT` (and `TRACESTATE`) carry, per the OpenTelemetry environment-variable
  /// carrier convention; empty when unset or malformed.
  static func parentContext(_ environment: [String: String], tracer: any Tracer) -> ServiceContext {
    guard let traceparent = environment["TRACEPARENT"], !traceparent.isEmpty else { return .topLevel }
    var carrier = ["traceparent": traceparent]
    if let state = environment["TRACESTATE"], !state.isEmpty { carrier["tracestate"] = state }
    var context = ServiceContext.topLevel
    tracer.extract(carrier, into: &context, using: DictionaryExtractor())
    return context
  }
}

extension Telemetry {
  /// Runs `body` while the span exporter runs, then flushes the spans and returns the body's result
  /// or rethrows its error. For one-shot commands; a daemon puts ``service`` in its own
  /// `ServiceGroup` instead.
  ///
  /// The flush waits at most ``TelemetryConfiguration/exitFlushTimeout`` after the body ends; then
  /// the exporter is cancelled and what it had not delivered is dropped and counted. That bound is
  /// what keeps a dead collector from holding up the command. When spans were dropped, one more
  /// warning at exit gives the total (and the setting to raise when the bound cut the flush short).
  public func whileExporting<T: Sendable>(
    logger: Logger, _ body: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    guard let exporter = service else { return try await body() }
    let outcome = OutcomeBox<T>()
    let work = BodyService { await outcome.set(await Result(catching: body)) }
    // Services stop in reverse order: the body first, then the exporter (which flushes). An exporter
    // that stops or fails on its own must not cut the body short.
    var group = ServiceGroupConfiguration(
      services: [
        .init(service: exporter, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore),
        .init(service: work, successTerminationBehavior: .gracefullyShutdownGroup),
      ],
      logger: logger)
    let bound = configuration.exitFlushTimeout
    group.maximumGracefulShutdownDuration = bound
    try await ServiceGroup(configuration: group).run()
    guard let (result, ended) = await outcome.value else { throw CancellationError() }
    let dropped = droppedSpans.count
    if dropped > 0 {
      let flush = ContinuousClock.now - ended
      var metadata: Logger.Metadata = ["spans_dropped_total": "\(dropped)"]
      if flush >= bound {
        metadata["exit_flush_timeout"] = "\(bound)"
        let raise =
          "--\(TelemetryConfiguration.exitFlushTimeoutFlag) or \(TelemetryConfiguration.exitFlushTimeoutVariable)"
        logger.warning(
          "spans dropped: the exit flush stopped waiting for the collector; raise \(raise) to wait longer",
          metadata: metadata)
      } else {
        logger.warning("spans dropped: not every span reached the collector", metadata: metadata)
      }
    }
    return try result.get()
  }
}

/// A service that runs a closure once.
private struct BodyService: Service {
  let body: @Sendable () async -> Void
  func run() async throws { await body() }
}

/// The body's result and when it ended (the exit flush starts then).
private actor OutcomeBox<T: Sendable> {
  var value: (Result<T, any Error>, ContinuousClock.Instant)?
  func set(_ result: Result<T, any Error>) { value = (result, .now) }
}

extension Result where Failure == any Error {
  fileprivate init(catching body: () async throws -> Success) async {
    do { self = .success(try await body()) } catch { self = .failure(error) }
  }
}

/// A tracing configuration faultline or swift-otel refused.
public struct TelemetryError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What is wrong.
  public let message: String
  /// The message.
  public var description: String { message }
}

/// Reads a `[String: String]` carrier (header names lower-cased).
public struct DictionaryExtractor: Extractor {
  /// An extractor.
  public init() {}
  /// The value for `key`, case-insensitively.
  public func extract(key: String, from carrier: [String: String]) -> String? {
    carrier[key] ?? carrier.first { $0.key.lowercased() == key.lowercased() }?.value
  }
}

extension String {
  fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
