import Foundation

/// Capped exponential backoff: `initial`, twice that, four times, … never more than `maximum`.
///
/// Deterministic (no jitter): one agent retries a handful of targets on one node, so there is no
/// herd to spread, and tests can name the exact retry times.
public struct Backoff: Sendable, Hashable {
  /// The first delay.
  public var initial: Duration
  /// The longest delay.
  public var maximum: Duration

  /// A backoff from `initial` doubling up to `maximum`.
  public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(60)) {
    self.initial = initial
    self.maximum = maximum
  }

  /// The delay before retry number `attempt` (1 for the first retry).
  public func delay(attempt: Int) -> Duration {
    var delay = initial
    for _ in 1..<max(attempt, 1) {
      delay = delay * 2
      if delay >= maximum { return maximum }
    }
    return min(delay, maximum)
  }
}

/// A failing operation being retried: how many times it failed, when it may run again, and why.
public struct RetryState: Sendable, Hashable {
  /// Failures so far.
  public var failures: Int
  /// When the next attempt may run.
  public var retryAt: Date
  /// The last error, for the log, `/readyz` and the metrics.
  public var lastError: String

  /// The state after the first failure at `now`.
  public init(failedAt now: Date, error: String, backoff: Backoff) {
    failures = 1
    retryAt = now.adding(backoff.delay(attempt: 1))
    lastError = error
  }

  /// Records one more failure at `now`.
  public mutating func failedAgain(at now: Date, error: String, backoff: Backoff) {
    failures += 1
    retryAt = now.adding(backoff.delay(attempt: failures))
    lastError = error
  }
}
