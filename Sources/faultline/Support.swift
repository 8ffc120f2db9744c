import ArgumentParser
import FaultAgent
import FaultModel
import FaultTelemetry
import Foundation
import Logging
import NetemKernel
import ServiceLifecycle

/// An error the CLI prints as `faultline: MESSAGE` and exits with `code`.
struct CLIError: Error, CustomStringConvertible {
  var message: String
  var code: Int32

  init(message: String, code: Int32) {
    self.message = message
    self.code = code
  }

  /// Maps library errors to messages and exit codes.
  init(_ error: Error) {
    switch error {
    case let error as CLIError: self = error
    case let error as KernelError: self.init(message: error.description, code: error.exitCode)
    case let error as FaultError: self.init(message: error.description, code: CLIError.badInput)
    // The fault belongs to another faultline that is running: the same code as its lock.
    case let error as InjectorError: self.init(message: error.description, code: 8)
    case let error as StateDirectoryLockError: self.init(message: error.description, code: error.exitCode)
    default: self.init(message: "\(error)", code: 1)
    }
  }

  var description: String { message }

  /// The exit code of bad input: a malformed flag, value, profile or file argument.
  static let badInput: Int32 = 2
}

extension CLIError: CustomNSError {}

extension AsyncParsableCommand {
  /// Logs to stderr at `FAULTLINE_LOG_LEVEL` (default warning for the CLI).
  func makeLogger(default level: Logger.Level = .warning) -> Logger {
    var logger = Logger(label: "faultline")
    let env = ProcessInfo.processInfo.environment["FAULTLINE_LOG_LEVEL"].flatMap {
      Logger.Level(rawValue: $0)
    }
    logger.logLevel = env ?? level
    return logger
  }
}

/// Prints one JSON object on a line.
func printJSON(_ object: [String: Any]) {
  let cleaned = object.filter { !($0.value is NSNull) && !isNilOptional($0.value) }
  if let data = try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys]) {
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
  }
}

private func isNilOptional(_ value: Any) -> Bool {
  if case Optional<Any>.none = value { return true }
  return false
}

/// A JSON object from plain fields.
func jsonObject(_ fields: [(String, PlainValue)]) -> [String: Any] {
  var object: [String: Any] = [:]
  for (key, value) in fields {
    switch value {
    case .int(let v): object[key] = v
    case .double(let v): object[key] = v
    case .string(let v): object[key] = v
    case .bool(let v): object[key] = v
    }
  }
  return object
}

/// Runs a command body, turning errors into `faultline: message` and the mapped exit code.
func exitOnError<T>(_ body: () async throws -> T) async throws -> T {
  do { return try await body() } catch { throw CLIError(error) }
}

/// Sets up OTLP metrics from the `OTEL_*` environment (on with `OTEL_METRICS_EXPORTER=otlp`); nil
/// when off. A bad configuration is a clear error (exit 2).
func makeMetricsExport(logger: Logger) throws -> MetricsExport? {
  do {
    let (export, disabledReason) = try MetricsExport.bootstrap(
      serviceVersion: faultlineVersion, valueHistogramBuckets: AgentMetrics.valueHistogramBuckets,
      logger: logger)
    if let disabledReason {
      logger.debug("OTLP metrics off", metadata: ["reason": "\(disabledReason)"])
    }
    return export
  } catch {
    throw CLIError(message: "\(error)", code: CLIError.badInput)
  }
}

/// Sets up OTLP tracing from the `OTEL_*` environment; a bad configuration is a clear error (exit 2).
/// `onSpansDropped` hears of every span the exporter gives up on (the daemon counts them in a metric).
func makeTelemetry(
  logger: Logger, configuration: TelemetryConfiguration = TelemetryConfiguration(),
  onSpansDropped: @escaping @Sendable (Int) -> Void = { _ in }
) throws -> Telemetry {
  do {
    let telemetry = try Telemetry.bootstrap(
      serviceVersion: faultlineVersion, configuration: configuration, logger: logger,
      onSpansDropped: onSpansDropped)
    if let reason = telemetry.disabledReason {
      logger.debug("tracing off", metadata: ["reason": "\(reason)"])
    }
    return telemetry
  } catch {
    throw CLIError(message: "\(error)", code: CLIError.badInput)
  }
}
