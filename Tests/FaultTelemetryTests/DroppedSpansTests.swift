import Foundation
import Logging
import Synchronization
import Testing
import Tracing

@testable import FaultTelemetry

/// A log handler that keeps every event it is given (the handler a test hands to the code it checks).
struct RecordingLogHandler: LogHandler {
  final class Events: Sendable {
    private let events = Mutex<[LogEvent]>([])
    func append(_ event: LogEvent) { events.withLock { $0.append(event) } }
    var all: [LogEvent] { events.withLock { $0 } }
    /// The events whose message starts with `prefix`.
    func matching(_ prefix: String) -> [LogEvent] { all.filter { $0.message.description.hasPrefix(prefix) } }
  }

  let events: Events
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    var event = event
    event.metadata = metadata.merging(event.metadata ?? [:]) { $1 }
    events.append(event)
  }
}

/// A logger whose events land in `events`.
func recordingLogger(_ events: RecordingLogHandler.Events, level: Logger.Level = .trace) -> Logger {
  var logger = Logger(label: "test", factory: { _ in RecordingLogHandler(events: events) })
  logger.logLevel = level
  return logger
}

/// The spans swift-otel gives up on, counted from its diagnostic warnings (unit level: the events
/// are written here the way swift-otel 1.6.0's batch span processor writes them).
@Suite struct DroppedSpanCountingTests {
  /// swift-otel's diagnostic logger as faultline builds it, over a recording handler at `level`.
  private func diagnostics(
    _ events: RecordingLogHandler.Events, counter: DroppedSpanCounter, level: Logger.Level = .warning
  ) -> Logger {
    var inner = RecordingLogHandler(events: events)
    inner.logLevel = level
    let handler = DroppedSpanLogHandler(wrapping: inner, counter: counter)
    var logger = Logger(label: "test", factory: { _ in handler })
    logger.logLevel = level
    logger[metadataKey: "component"] = "OTelBatchSpanProcessor"
    return logger
  }

  @Test func aFailedBatchAndAFullQueueAreCountedAndLoggedWithTheCount() {
    let events = RecordingLogHandler.Events()
    let losses = Mutex<[Int]>([])
    let counter = DroppedSpanCounter { count in losses.withLock { $0.append(count) } }
    var logger = diagnostics(events, counter: counter)
    logger[metadataKey: "batch_size"] = "3"
    logger.warning("Failed to export batch.", error: CancellationError())
    logger.warning(
      "Spans were dropped this iteration because queue was full",
      metadata: ["queue_size": "2048", "dropped_count": "5"])

    #expect(counter.count == 8)
    #expect(losses.withLock { $0 } == [3, 5])
    let logged = events.matching("spans dropped")
    #expect(logged.count == 2)
    #expect(logged.map { $0.metadata?["spans_dropped"]?.description } == ["3", "5"])
    #expect(logged.map { $0.metadata?["spans_dropped_total"]?.description } == ["3", "8"])
    // swift-otel's own details stay on the line: the batch and the error.
    #expect(logged.first?.metadata?["batch_size"] == "3")
    #expect(logged.first?.error is CancellationError)
    #expect(events.all.count == 2)
  }

  @Test func otherDiagnosticsPassThroughUnchangedAndUncounted() {
    let events = RecordingLogHandler.Events()
    let counter = DroppedSpanCounter()
    var logger = diagnostics(events, counter: counter)
    logger[metadataKey: "batch_size"] = "3"
    logger.debug("Exported batch.")  // below the level: neither forwarded nor counted
    logger.warning("Force flush failed.")
    var other = logger
    other[metadataKey: "component"] = "OTelBatchLogRecordProcessor"
    other.warning("Failed to export batch.")

    #expect(counter.count == 0)
    #expect(events.all.map(\.message.description) == ["Force flush failed.", "Failed to export batch."])
  }

  @Test func lossesAreCountedEvenWhenTheLogLevelHidesTheWarning() {
    let events = RecordingLogHandler.Events()
    let counter = DroppedSpanCounter()
    var logger = diagnostics(events, counter: counter, level: .error)  // OTEL_LOG_LEVEL=error
    logger[metadataKey: "batch_size"] = "2"
    logger.warning("Failed to export batch.")
    logger.error("Something else went wrong.")

    #expect(counter.count == 2)
    #expect(events.all.map(\.message.description) == ["Something else went wrong."])
  }
}

@Suite struct TelemetryConfigurationParsingTests {
  @Test(
    arguments: [
      (nil, [:], .seconds(2)),
      (nil, ["FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT": "500ms"], .milliseconds(500)),
      (nil, ["FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT": ""], .seconds(2)),
      (.seconds(10), ["FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT": "500ms"], .seconds(10)),
      (.zero, [:], .zero),
    ] as [(Duration?, [String: String], Duration)])
  func theExitFlushBoundComesFromTheFlagThenTheEnvironmentThenTheDefault(
    flag: Duration?, environment: [String: String], expected: Duration
  ) throws {
    let configuration = try TelemetryConfiguration(exitFlushTimeout: flag, environment: environment)
    #expect(configuration.exitFlushTimeout == expected)
  }

  @Test func aBadExitFlushBoundNamesWhereItCameFrom() {
    let fromEnvironment = #expect(throws: TelemetryError.self) {
      try TelemetryConfiguration(
        exitFlushTimeout: nil, environment: ["FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT": "2"])
    }
    #expect(fromEnvironment?.message.hasPrefix("FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT: ") == true)
    #expect(fromEnvironment?.message.contains("no unit") == true, "\(String(describing: fromEnvironment))")
    // (A bad --telemetry-flush-timeout is refused by argument-parser: CLIArgumentTests.)
    let negative = #expect(throws: TelemetryError.self) {
      try TelemetryConfiguration(
        exitFlushTimeout: nil, environment: ["FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT": "-1s"])
    }
    #expect(negative?.message.contains("negative") == true, "\(String(describing: negative))")
  }
}

/// Spans and slow, dead or unanswering collectors, end to end on the host: the real swift-otel
/// pipeline against scripts/peers/otlp_receiver.py (in the serialized suite: swift-otel reads the
/// process's environment).
extension TelemetryExportTests {
  /// Bootstraps with `environment`, runs `body` in ``Telemetry/whileExporting(logger:_:)`` and says
  /// how long that took (the body's time plus the exit flush).
  private func export(
    _ environment: [String: String], configuration: TelemetryConfiguration = TelemetryConfiguration(),
    logger: Logger, _ body: @escaping @Sendable (Telemetry) async throws -> Void
  ) async throws -> (telemetry: Telemetry, seconds: Double) {
    let telemetry = try await withEnvironment(environment) {
      try Telemetry.bootstrap(serviceVersion: "test", configuration: configuration, logger: logger)
    }
    let clock = ContinuousClock()
    let started = clock.now
    try await telemetry.whileExporting(logger: logger) { try await body(telemetry) }
    let elapsed = clock.now - started
    return (telemetry, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
  }

  @Test(arguments: ["grpc", "http/protobuf"])
  func everySpanReachesACollectorThatAnswersItsFirstExportLate(protocol name: String) async throws {
    let events = RecordingLogHandler.Events()
    var dropped = -1
    let spans = try await withReceiver(protocol: name, arguments: ["--first-rpc-delay", "1.5"], expecting: 3)
    {
      environment in
      let (telemetry, seconds) = try await export(environment, logger: recordingLogger(events)) { telemetry in
        telemetry.tracer.startSpan("first", context: .topLevel).end()
        // The batch with "first" goes out now (every 500 ms) and is answered 1.5 s later, longer
        // than faultline's old 1 s export timeout allowed.
        try await Task.sleep(for: .seconds(1))
        telemetry.tracer.startSpan("second", context: .topLevel).end()
        telemetry.tracer.startSpan("third", context: .topLevel).end()
      }
      dropped = telemetry.droppedSpans.count
      print("measured: \(name) collector answering its first export after 1.5 s: \(seconds) s")
    }
    #expect(Set(spans.compactMap { $0["name"] as? String }) == ["first", "second", "third"])
    #expect(dropped == 0)
    #expect(events.matching("spans dropped").isEmpty, "\(events.all)")
  }

  @Test(arguments: ["grpc", "http/protobuf"])
  func everySpanAnExportGivesUpOnIsCountedAndLogged(protocol name: String) async throws {
    let events = RecordingLogHandler.Events()
    // Nothing listens on port 1 of 127.0.0.1. Both exporters keep trying to connect, with backoff,
    // until the export times out: 300 ms here, well inside the exit flush's 10 s.
    let environment = [
      "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": name,
      "OTEL_EXPORTER_OTLP_TIMEOUT": "300",
    ]
    let patient = TelemetryConfiguration(exitFlushTimeout: .seconds(10))
    let (telemetry, seconds) = try await export(
      environment, configuration: patient, logger: recordingLogger(events)
    ) {
      telemetry in
      for index in 0..<3 { telemetry.tracer.startSpan("lost \(index)", context: .topLevel).end() }
    }
    print("measured: dead \(name) collector, 300 ms export timeout: \(seconds) s")
    #expect(telemetry.droppedSpans.count == 3, "\(events.all)")
    #expect(events.matching("spans dropped: the OTLP export failed").count == 1, "\(events.all)")
    let summary = try #require(events.matching("spans dropped: not every span").last, "\(events.all)")
    #expect(summary.metadata?["spans_dropped_total"] == "3")
    #expect(seconds < 10, "the export gave up before the exit flush's bound")
  }

  @Test(arguments: ["grpc", "http/protobuf"])
  func theExitFlushStopsWaitingAtItsBoundAndCountsWhatItCouldNotSend(protocol name: String) async throws {
    let events = RecordingLogHandler.Events()
    let bound = TelemetryConfiguration(exitFlushTimeout: .milliseconds(500))
    var result: (telemetry: Telemetry, seconds: Double)?
    // A collector that takes the export and does not answer for a minute.
    let spans = try await withReceiver(protocol: name, arguments: ["--first-rpc-delay", "60"], expecting: 0) {
      environment in
      result = try await export(environment, configuration: bound, logger: recordingLogger(events)) {
        telemetry in
        telemetry.tracer.startSpan("held", context: .topLevel).end()
        telemetry.tracer.startSpan("held too", context: .topLevel).end()
      }
    }
    let (telemetry, seconds) = try #require(result)
    print(
      "measured: exit flush bounded to 0.5 s against a \(name) collector that does not answer: \(seconds) s")
    #expect(spans.isEmpty)
    #expect(telemetry.droppedSpans.count == 2, "\(events.all)")
    let summary = try #require(events.matching("spans dropped: the exit flush").last, "\(events.all)")
    #expect(summary.metadata?["spans_dropped_total"] == "2")
    #expect(summary.message.description.contains("FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT"))
    // The bound plus the time to cancel; a flush that waited for the collector would take 60 s.
    #expect(seconds < 0.5 + 10)
  }
}
