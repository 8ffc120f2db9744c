import Foundation

/// The agent's time: every timestamp and every wait in FaultAgent goes through one of these.
///
/// Schedules are wall-clock (cron fields, time zones), so the clock speaks `Date`. Production uses
/// ``SystemClock``; tests drive a manual clock and nothing in them sleeps for a schedule.
/// (swift-clocks' `TestClock` would fit, but it needs swift-issue-reporting, which the package
/// mirror this project builds from does not carry under that name.)
public protocol AgentClock: Sendable {
  /// The wall-clock time now.
  var now: Date { get }
  /// Suspends until `deadline`; throws `CancellationError` when the task is cancelled first.
  func sleep(until deadline: Date) async throws
}

extension AgentClock {
  /// Suspends for `duration` on this clock.
  public func sleep(for duration: Duration) async throws {
    try await sleep(until: now.adding(duration))
  }
}

/// The system's wall clock; waits are measured on the monotonic clock.
public struct SystemClock: AgentClock {
  /// The system clock.
  public init() {}

  /// The wall-clock time now.
  public var now: Date { Date() }

  /// Sleeps on the monotonic clock for the time left until `deadline`.
  public func sleep(until deadline: Date) async throws {
    let seconds = deadline.timeIntervalSinceNow
    guard seconds > 0 else {
      try Task.checkCancellation()
      return
    }
    try await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
  }
}

extension Date {
  /// This date plus `duration`.
  public func adding(_ duration: Duration) -> Date {
    addingTimeInterval(duration.seconds)
  }
}
