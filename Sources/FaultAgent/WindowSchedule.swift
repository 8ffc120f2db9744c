import FaultModel
import Foundation

/// One window of a profile: when it opened (nominally) and when it must close.
public struct WindowInstance: Sendable, Hashable {
  /// 1 for the first window of a profile's run, then 2, 3, …
  public var sequence: Int
  /// The fire time (a scheduled window) or the time the profile started (an unscheduled one).
  public var opensAt: Date
  /// When it closes; nil holds it until the agent stops or the profile changes.
  public var endsAt: Date?

  /// Window number `sequence`, open from `opensAt` until `endsAt`.
  public init(sequence: Int, opensAt: Date, endsAt: Date?) {
    self.sequence = sequence
    self.opensAt = opensAt
    self.endsAt = endsAt
  }
}

/// When a profile's windows open and close: a pure state machine over wall-clock time.
///
/// - An unscheduled profile opens one window at once. With a `duration` (capped by `--max-duration`)
///   it closes after that long and stays closed; without one it is held until the agent stops.
/// - A scheduled profile opens a window at each fire time and closes it at fire + `duration`
///   (capped by `--max-duration`; `--max-duration` itself when it has none). A fire that comes
///   while a window is open is skipped. A window whose whole span passed before the agent woke up
///   (a suspended machine) is skipped too. Windows end at their nominal time, however late they
///   opened.
public struct WindowSchedule: Sendable, Hashable {
  /// What happened on an ``advance(to:)``.
  public enum Event: Sendable, Hashable {
    /// A window opened.
    case opened(WindowInstance)
    /// A window closed (its time was up).
    case closed(WindowInstance)
    /// A fire time passed while a window was open, or too late to open.
    case skipped(Date)
    /// The schedule has no more fire times.
    case finished
  }

  private enum State: Sendable, Hashable {
    case waiting(Date)
    case open(WindowInstance)
    case done
  }

  private let schedule: Schedule?
  private let length: Duration?
  private let anchor: Date
  private let timeZone: TimeZone
  private var state: State
  private var sequence = 0

  /// The windows of `profile`, starting at `start`.
  public init(profile: Profile, maxDuration: Duration, start: Date) {
    schedule = profile.schedule
    timeZone = profile.timeZone
    anchor = start
    if let schedule = profile.schedule {
      length = min(profile.duration ?? maxDuration, maxDuration)
      state =
        schedule.nextFire(after: start, anchor: start, timeZone: profile.timeZone).map(State.waiting) ?? .done
    } else {
      length = profile.duration.map { min($0, maxDuration) }
      state = .waiting(start)
    }
  }

  /// The window open now, if any.
  public var current: WindowInstance? {
    if case .open(let window) = state { return window }
    return nil
  }

  /// When the state changes next (a fire time or a window's end); nil when it never will.
  public var nextDeadline: Date? {
    switch state {
    case .waiting(let fire): fire
    case .open(let window): window.endsAt
    case .done: nil
    }
  }

  /// Moves to `now`, returning what happened in order.
  public mutating func advance(to now: Date) -> [Event] {
    var events: [Event] = []
    while true {
      switch state {
      case .done:
        return events
      case .waiting(let fire):
        guard fire <= now else { return events }
        let endsAt = length.map { fire.adding($0) }
        if let endsAt, endsAt <= now {
          events.append(.skipped(fire))
          moveOn(after: fire, now: now, events: &events)
          continue
        }
        sequence += 1
        let window = WindowInstance(sequence: sequence, opensAt: fire, endsAt: endsAt)
        state = .open(window)
        events.append(.opened(window))
      case .open(let window):
        guard let endsAt = window.endsAt, endsAt <= now else { return events }
        events.append(.closed(window))
        // Fires that came while the window was open are skipped.
        var next = schedule?.nextFire(after: window.opensAt, anchor: anchor, timeZone: timeZone)
        while let fire = next, fire <= endsAt {
          events.append(.skipped(fire))
          next = schedule?.nextFire(after: fire, anchor: anchor, timeZone: timeZone)
        }
        if schedule == nil {
          state = .done
        } else if let next {
          state = .waiting(next)
        } else {
          state = .done
          events.append(.finished)
        }
      }
    }
  }

  private mutating func moveOn(after fire: Date, now: Date, events: inout [Event]) {
    guard let schedule, let next = schedule.nextFire(after: fire, anchor: anchor, timeZone: timeZone) else {
      state = .done
      events.append(.finished)
      return
    }
    state = .waiting(next)
  }
}
