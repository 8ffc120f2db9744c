import ArgumentParser
import FaultTelemetry
import Foundation

/// `--telemetry-flush-timeout`: faultline's own telemetry settings (the OTLP ones are `OTEL_*`).
struct TelemetryOptions: ParsableArguments {
  @Option(
    name: .customLong(TelemetryConfiguration.exitFlushTimeoutFlag),
    help: ArgumentHelp(
      "Longest wait at exit for spans to reach the OTLP collector; then they are dropped and counted "
        + "(default: $\(TelemetryConfiguration.exitFlushTimeoutVariable) or 2s).", valueName: "D"),
    transform: ArgumentValues.duration)
  var telemetryFlushTimeout: Duration?

  /// The settings from the flag, else the environment, else the defaults; a bad variable exits 2.
  func configuration() throws -> TelemetryConfiguration {
    do {
      return try TelemetryConfiguration(
        exitFlushTimeout: telemetryFlushTimeout, environment: ProcessInfo.processInfo.environment)
    } catch {
      throw CLIError(message: error.description, code: CLIError.badInput)
    }
  }
}
