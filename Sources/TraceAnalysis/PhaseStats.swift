/// Whether a span served a request (SERVER, CONSUMER) or made one (CLIENT, PRODUCER); analysis
/// keeps the two apart, since a client span's latency includes the network the fault sits on.
public enum SpanRole: String, Sendable, Hashable, Codable, Comparable {
  case server
  case client

  /// The role of `kind`; nil for INTERNAL and unspecified spans, which are not requests.
  public init?(_ kind: SpanKind) {
    switch kind {
    case .server, .consumer: self = .server
    case .client, .producer: self = .client
    case .internal, .unspecified: return nil
    }
  }

  /// Server before client, the order of the report's rows.
  public static func < (lhs: SpanRole, rhs: SpanRole) -> Bool { lhs == .server && rhs == .client }
}

/// The figures of a set of request spans in one phase (during the windows, or the baselines).
public struct PhaseStats: Sendable, Hashable, Codable {
  /// Requests.
  public var count: Int
  /// Latency percentiles in milliseconds; nil with no requests.
  public var p50Ms: Double?
  /// 95th percentile, ms.
  public var p95Ms: Double?
  /// 99th percentile, ms.
  public var p99Ms: Double?
  /// Requests that failed (``SpanOutcome/isError(_:)``).
  public var errors: Int
  /// `errors / count` as a fraction (0.012 is 1.2 %); nil with no requests.
  public var errorRate: Double?
  /// Requests that timed out (``SpanOutcome/isTimeout(_:)``).
  public var timeouts: Int
  /// Client spans that were retries (``SpanOutcome/retries(among:)``).
  public var retries: Int

  /// The figures of `spans`; `retried` holds the trace+span ids of retries in the phase.
  public init(_ spans: [Span], retried: Set<String>) {
    let durations = spans.map(\.durationNanos).sorted()
    func ms(_ p: Double) -> Double? { Percentiles.nearestRank(p, sorted: durations).map { Double($0) / 1e6 } }
    count = spans.count
    p50Ms = ms(50)
    p95Ms = ms(95)
    p99Ms = ms(99)
    errors = spans.count(where: SpanOutcome.isError)
    errorRate = count == 0 ? nil : Double(errors) / Double(count)
    timeouts = spans.count(where: SpanOutcome.isTimeout)
    retries = spans.count { retried.contains($0.traceID + $0.spanID) }
  }
}

/// The change from baseline to window.
public struct PhaseChange: Sendable, Hashable, Codable {
  /// p50 difference in ms (window − baseline); nil when either phase has no requests.
  public var p50Ms: Double?
  /// p95 difference, ms.
  public var p95Ms: Double?
  /// p99 difference, ms.
  public var p99Ms: Double?
  /// p50 relative change in percent (+100 is twice as slow).
  public var p50Percent: Double?
  /// p95 relative change, percent.
  public var p95Percent: Double?
  /// p99 relative change, percent.
  public var p99Percent: Double?
  /// Error-rate difference in percentage points.
  public var errorRatePoints: Double?

  /// The change from `baseline` to `window`.
  public init(from baseline: PhaseStats, to window: PhaseStats) {
    func delta(_ path: KeyPath<PhaseStats, Double?>) -> Double? {
      guard let before = baseline[keyPath: path], let after = window[keyPath: path] else { return nil }
      return after - before
    }
    func percent(_ path: KeyPath<PhaseStats, Double?>) -> Double? {
      guard let before = baseline[keyPath: path], let after = window[keyPath: path] else { return nil }
      return relativePercent(before: before, after: after)
    }
    p50Ms = delta(\.p50Ms)
    p95Ms = delta(\.p95Ms)
    p99Ms = delta(\.p99Ms)
    p50Percent = percent(\.p50Ms)
    p95Percent = percent(\.p95Ms)
    p99Percent = percent(\.p99Ms)
    errorRatePoints = delta(\.errorRate).map { $0 * 100 }
  }
}

/// `(after − before) / before` in percent; a rise from zero is +infinity, zero to zero is 0.
func relativePercent(before: Double, after: Double) -> Double {
  if before == 0 { return after == 0 ? 0 : (after > 0 ? .infinity : -.infinity) }
  return (after - before) / before * 100
}
