import FaultModel

/// faultline's own telemetry settings. The OTLP exporter itself is configured by the standard
/// `OTEL_*` variables, which swift-otel reads (see docs/TELEMETRY.md); these are the settings the
/// OpenTelemetry specification has no variable for.
public struct TelemetryConfiguration: Sendable, Hashable {
  /// How long a one-shot command (`faultline inject`) waits at exit for the spans still queued or
  /// in flight to reach the collector; then it stops waiting, drops them, counts them and exits.
  /// This bound, not the exporter's timeouts, is what keeps a dead or unanswering collector from
  /// holding up the command; the exports themselves keep the OTLP defaults
  /// (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s, with swift-otel's retries inside it). `0s` does not wait.
  /// The daemon (`faultline run`) does not use it: its shutdown flush keeps the OTLP defaults.
  ///
  /// - Flag: `--telemetry-flush-timeout D` (`inject`)
  /// - Environment: `FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT=D` (the flag wins)
  /// - Default: 2 s
  ///
  /// `D` is a duration with a unit, as everywhere in faultline: `2s`, `500ms`, `1m`.
  public var exitFlushTimeout: Duration

  /// The default of ``exitFlushTimeout``.
  public static let defaultExitFlushTimeout: Duration = .seconds(2)
  /// The flag that sets ``exitFlushTimeout`` (without the leading dashes).
  public static let exitFlushTimeoutFlag = "telemetry-flush-timeout"
  /// The environment variable that sets ``exitFlushTimeout``.
  public static let exitFlushTimeoutVariable = "FAULTLINE_OTEL_EXIT_FLUSH_TIMEOUT"

  /// The settings given, defaults for the rest.
  public init(exitFlushTimeout: Duration = defaultExitFlushTimeout) {
    self.exitFlushTimeout = exitFlushTimeout
  }

  /// The settings from the flag's value when given, else from `environment`, else the defaults
  /// (an empty variable counts as unset).
  /// - Throws: ``TelemetryError`` naming the variable whose value is not a duration (negative ones are
  ///   not durations to faultline).
  public init(exitFlushTimeout flag: Duration?, environment: [String: String]) throws(TelemetryError) {
    self.init()
    if let flag {
      exitFlushTimeout = flag
      return
    }
    let variable = Self.exitFlushTimeoutVariable
    guard let text = environment[variable], !text.isEmpty else { return }
    do { exitFlushTimeout = try parseGoDuration(text) } catch {
      throw TelemetryError(
        message: "\(variable): \(error.message) (it bounds how long faultline waits at exit for spans "
          + "to reach the collector)")
    }
  }
}
