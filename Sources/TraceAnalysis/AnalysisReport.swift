/// Everything `faultline analyze` found; `--output json` prints it as is.
public struct AnalysisReport: Sendable, Encodable {
  /// The input files.
  public var inputs: [InputSummary] = []
  /// The first malformed lines (all are counted in ``inputs``).
  public var malformed: [MalformedLine] = []
  /// `--experiment` as given.
  public var experiment: String?
  /// The windows and their baselines.
  public var windows: [WindowReport] = []
  /// The windows' total length over the baselines': baseline counts are multiplied by it before a
  /// verdict or the blast radius compares them with the window's (the table shows them raw).
  public var baselineScale: Double = 1
  /// Services left out because they emitted faultline's own spans (the agent).
  public var excludedServices: [String] = []
  /// Per service, operation and role, sorted by service, operation, role.
  public var operations: [OperationReport] = []
  /// Marked against unmarked requests during the windows.
  public var attribution: Attribution
  /// The faulted services and their callers.
  public var blastRadius: BlastRadius
  /// One per `--fail-if`, in order.
  public var verdicts: [VerdictResult] = []
  /// The latency distributions of the most changed operations (the HTML report plots them).
  public var distributions: [LatencyDistribution] = []
  /// True unless a verdict failed.
  public var passed: Bool { !verdicts.contains { $0.outcome == .fail } }

  enum CodingKeys: String, CodingKey {
    case inputs, malformed, experiment, windows, baselineScale, excludedServices, operations, attribution
    case blastRadius
    case verdicts, distributions, passed
  }

  /// Encodes every field, `passed` included.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(inputs, forKey: .inputs)
    try container.encode(malformed, forKey: .malformed)
    try container.encodeIfPresent(experiment, forKey: .experiment)
    try container.encode(windows, forKey: .windows)
    try container.encode(baselineScale, forKey: .baselineScale)
    try container.encode(excludedServices, forKey: .excludedServices)
    try container.encode(operations, forKey: .operations)
    try container.encode(attribution, forKey: .attribution)
    try container.encode(blastRadius, forKey: .blastRadius)
    try container.encode(verdicts, forKey: .verdicts)
    try container.encode(distributions, forKey: .distributions)
    try container.encode(passed, forKey: .passed)
  }
}

/// One input file.
public struct InputSummary: Sendable, Hashable, Codable {
  /// The path.
  public var file: String
  /// Lines read.
  public var lines: Int
  /// Spans decoded.
  public var spans: Int
  /// Lines skipped as malformed.
  public var malformedLines: Int

  /// A summary.
  public init(file: String, lines: Int = 0, spans: Int = 0, malformedLines: Int = 0) {
    self.file = file
    self.lines = lines
    self.spans = spans
    self.malformedLines = malformedLines
  }
}

/// A line that was skipped.
public struct MalformedLine: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The file.
  public var file: String
  /// 1-based line number.
  public var line: Int
  /// What is wrong with it.
  public var message: String

  /// A skipped line (or, from a backend, a skipped response: `file` is its URL, `line` 1).
  public init(file: String, line: Int, message: String) {
    self.file = file
    self.line = line
    self.message = message
  }

  /// `FILE:LINE: message`.
  public var description: String { "\(file):\(line): \(message)" }
}

/// A window as reported.
public struct WindowReport: Sendable, Hashable, Codable {
  /// RFC 3339.
  public var start: String
  /// RFC 3339.
  public var end: String
  /// RFC 3339.
  public var baselineStart: String
  /// RFC 3339.
  public var baselineEnd: String
  /// `chaos.experiment.id`.
  public var experimentId: String?
  /// `chaos.experiment.name`.
  public var experimentName: String?
  /// `delay_ms=500 loss_pct=1`.
  public var fault: String?

  init(_ window: FaultWindow) {
    start = TimeRange.format(window.during.startNanos)
    end = TimeRange.format(window.during.endNanos)
    baselineStart = TimeRange.format(window.baseline.startNanos)
    baselineEnd = TimeRange.format(window.baseline.endNanos)
    experimentId = window.experimentID
    experimentName = window.experimentName
    fault = window.fault
  }
}

/// One (service, operation, role) row.
public struct OperationReport: Sendable, Hashable, Codable {
  /// `service.name`.
  public var service: String
  /// The span name.
  public var operation: String
  /// Server (SERVER, CONSUMER) or client (CLIENT, PRODUCER) spans.
  public var role: SpanRole
  /// During the windows.
  public var window: PhaseStats
  /// During the baselines.
  public var baseline: PhaseStats
  /// Window against baseline.
  public var change: PhaseChange
  /// Window requests the middleware marked with the experiment.
  public var marked: Int
}

/// Marked against unmarked requests (server role) in the windows.
public struct Attribution: Sendable, Hashable, Codable {
  /// Requests the middleware marked.
  public var marked: PhaseStats
  /// Requests in the same windows it did not mark (other pods, or outside the middleware).
  public var unmarked: PhaseStats
}

/// Which services the fault reached, following parent/child edges up from the faulted service.
public struct BlastRadius: Sendable, Hashable, Codable {
  /// Where the fault was (`--faulted-service`, else the services with marked requests).
  public var faultedServices: [String]
  /// The faulted services and their callers, nearest first.
  public var services: [ServiceImpact]
  /// Call chains from a faulted service up to a top caller, as
  /// `payment p50 +500 ms → order p99 +510 ms, 12 timeouts → gateway 3 retries`.
  public var chains: [String]
}

/// What one service went through during the windows.
public struct ServiceImpact: Sendable, Hashable, Codable {
  /// `service.name`.
  public var service: String
  /// Calls away from a faulted service (0: faulted).
  public var distance: Int
  /// Whether the fault was on this service.
  public var faulted: Bool
  /// Not faulted yet worse: p99 up by 10 % and 1 ms or more, error rate up a point or more, or
  /// more timeouts or retries than in the baseline.
  public var degraded: Bool
  /// Its server spans, window against baseline.
  public var change: PhaseChange
  /// Timeouts in its spans during the windows (either role).
  public var timeouts: Int
  /// Retries among its client spans during the windows.
  public var retries: Int
  /// Services whose spans called it.
  public var callers: [String]
}

/// The result of one `--fail-if`.
public struct VerdictResult: Sendable, Hashable, Codable {
  /// Whether the condition held.
  public enum Outcome: String, Sendable, Hashable, Codable {
    /// The condition held: the run fails.
    case fail
    /// It did not.
    case pass
    /// It needs a baseline (or window) figure that has no requests behind it.
    case noData = "no_data"
  }

  /// The condition as given.
  public var condition: String
  /// The outcome.
  public var outcome: Outcome
  /// The value compared: ms, percent, percentage points or a count, as the condition reads.
  public var observed: Double?
  /// `observed` with its unit, e.g. `+412.0%` or `3 timeouts`.
  public var detail: String
}

/// One operation's latency before and during the windows, as percentiles: enough to draw both
/// cumulative distributions without keeping every span.
public struct LatencyDistribution: Sendable, Hashable, Codable {
  /// `service.name`.
  public var service: String
  /// The span name.
  public var operation: String
  /// Server or client spans.
  public var role: SpanRole
  /// Latency in ms at 0, 1, …, 100 % (nearest rank; 0 % is the fastest); empty with no requests.
  public var baselineMs: [Double]
  /// The same during the windows.
  public var windowMs: [Double]

  /// Percentiles 0…100 of `durations` (nanoseconds, sorted ascending), in ms.
  static func percentiles(_ durations: [Int64]) -> [Double] {
    guard !durations.isEmpty else { return [] }
    return (0...100).map { p in
      Double(Percentiles.nearestRank(Double(p), sorted: durations)!) / 1e6
    }
  }
}
