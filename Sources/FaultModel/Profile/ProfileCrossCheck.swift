import Foundation

// Checks across profiles: unique names, and no two profiles holding one interface at the same time.

extension ProfileLoader {
  /// Reference instants the overlap check starts from: a Monday in January and one in July, so that
  /// schedules in zones with daylight saving time are compared under both offsets.
  static let overlapReferences: [Date] = [
    Date(timeIntervalSince1970: 1_767_571_200),  // 2026-01-05T00:00:00Z
    Date(timeIntervalSince1970: 1_783_296_000),  // 2026-07-06T00:00:00Z
  ]
  /// How many fires of each schedule the overlap check looks at from each reference.
  static let overlapFires = 100

  /// Problems between profiles: a name used twice (reported at the later one, naming the first), and two
  /// profiles that can hold the same interface at the same time.
  ///
  /// Two profiles hold the same interface when their targets name the same network namespace (compared by
  /// path, so `netns: x` equals `/run/netns/x`) and interface, or when both select pods, with the same
  /// interface, from selectors that may match one pod (a shared namespace and no label with different
  /// values). They can overlap in time when:
  /// - either is unscheduled: it starts whenever the agent starts, so it can meet any run of the other;
  /// - one is `@every` and the other cron: `@every` counts from the agent's start, which can fall at any
  ///   wall-clock time;
  /// - both are cron, or both `@every` (counted from the same start): a run of one intersects a run of
  ///   the other among the first 100 fires of either after 2026-01-05 or after 2026-07-06 (UTC).
  public static func crossCheck(_ profiles: [Profile]) -> [ProfileIssue] {
    var issues: [ProfileIssue] = []
    var firstByName: [String: Profile] = [:]
    for profile in profiles {
      if let first = firstByName[profile.name] {
        let location = profile.source.nameLocation
        issues.append(
          ProfileIssue(
            file: profile.source.file, line: location.line, column: location.column,
            fieldPath: location.fieldPath,
            message:
              "duplicate name \"\(profile.name)\": also used at \(first.source.file):"
              + "\(first.source.nameLocation.line):\(first.source.nameLocation.column); names must be unique")
        )
      } else {
        firstByName[profile.name] = profile
      }
    }
    for (index, later) in profiles.enumerated() {
      for earlier in profiles[..<index] where holdSameInterface(earlier, later) {
        guard let why = timeOverlap(earlier, later) else { continue }
        let location = later.source.targetLocation
        let what = later.pods.map { "pods \($0) on \(later.target.interface)" } ?? later.target.description
        issues.append(
          ProfileIssue(
            file: later.source.file, line: location.line, column: location.column,
            fieldPath: location.fieldPath,
            message:
              "\"\(later.name)\" and \"\(earlier.name)\" (\(earlier.source.file):\(earlier.source.line):"
              + "\(earlier.source.column)) can hold \(what) at the same time: \(why); an interface has one "
              + "fault at a time, so change the target or the schedules"))
      }
    }
    return issues
  }

  private static func holdSameInterface(_ a: Profile, _ b: Profile) -> Bool {
    guard a.target.interface == b.target.interface else { return false }
    switch (a.pods, b.pods) {
    case (nil, nil): return a.target.namespace.path() == b.target.namespace.path()
    case (let x?, let y?): return x.mayOverlap(with: y)
    default: return false
    }
  }

  /// Why two profiles can hold an interface at the same time, or nil if they cannot.
  private static func timeOverlap(_ a: Profile, _ b: Profile) -> String? {
    guard let scheduleA = a.schedule, let scheduleB = b.schedule else {
      switch (a.schedule, b.schedule) {
      case (nil, nil): return "both start when the agent starts"
      case (nil, _):
        return "\"\(a.name)\" starts when the agent starts and "
          + (a.duration == nil ? "holds until it stops" : "may still hold when \"\(b.name)\" fires")
      default:
        return "\"\(b.name)\" starts when the agent starts and "
          + (b.duration == nil ? "holds until it stops" : "may still hold when \"\(a.name)\" fires")
      }
    }
    guard let durationA = a.duration, let durationB = b.duration else { return "one has no duration" }
    if (scheduleA.interval == nil) != (scheduleB.interval == nil) {
      return "@every counts from the agent's start, which can fall on the cron schedule's runs"
    }
    let runA = Run(schedule: scheduleA, duration: durationA, timeZone: a.timeZone)
    let runB = Run(schedule: scheduleB, duration: durationB, timeZone: b.timeZone)
    for reference in overlapReferences {
      if let (startA, startB) = firstOverlap(runA, runB, from: reference) {
        return "\"\(a.name)\" runs from \(formatRFC3339(startA)) for \(formatGoDuration(durationA)) and "
          + "\"\(b.name)\" from \(formatRFC3339(startB)) for \(formatGoDuration(durationB))"
      }
    }
    return nil
  }

  /// A schedule with the length of each run.
  struct Run {
    var schedule: Schedule
    var duration: Duration
    var timeZone: TimeZone
  }

  /// The starts of the first pair of intersecting runs, looking at the first ``overlapFires`` runs of each
  /// after `reference` (`@every` counted from `reference`).
  static func firstOverlap(_ a: Run, _ b: Run, from reference: Date) -> (Date, Date)? {
    func check(_ x: Run, against y: Run) -> (Date, Date)? {
      let lengthY = y.duration.timeInterval
      for start in x.schedule.fires(
        after: reference, anchor: reference, timeZone: x.timeZone, count: overlapFires)
      {
        // y's first run that ends after `start` begins strictly after start - lengthY.
        guard
          let other = y.schedule.nextFire(
            after: max(start - lengthY, reference), anchor: reference, timeZone: y.timeZone)
        else { continue }
        if other < start + x.duration.timeInterval { return (start, other) }
      }
      return nil
    }
    if let found = check(a, against: b) { return found }
    return check(b, against: a).map { ($0.1, $0.0) }
  }
}

/// For a `concurrencyPolicy: Allow` schedule: the first two consecutive fires closer than `duration`,
/// among the first fires after the overlap references.
func selfOverlap(schedule: Schedule, duration: Duration, timeZone: TimeZone) -> (Date, Date)? {
  if let interval = schedule.interval {
    let reference = ProfileLoader.overlapReferences[0]
    return interval < duration
      ? (reference + interval.timeInterval, reference + 2 * interval.timeInterval) : nil
  }
  for reference in ProfileLoader.overlapReferences {
    let fires = schedule.fires(
      after: reference, anchor: reference, timeZone: timeZone, count: ProfileLoader.overlapFires + 1)
    for (first, second) in zip(fires, fires.dropFirst()) where second < first + duration.timeInterval {
      return (first, second)
    }
  }
  return nil
}

extension Duration {
  /// The duration in seconds, as `TimeInterval`.
  var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) * 1e-18
  }
}

/// `2026-11-22T05:10:00Z`: RFC 3339 in UTC, with fractional seconds only when there are any.
public func formatRFC3339(_ date: Date) -> String {
  // Format styles are values, made once: creating an ISO8601DateFormatter per call was a quarter of
  // the daemon's CPU when a window opened (callgrind, docs/BENCHMARKS.md).
  date.timeIntervalSince1970 == date.timeIntervalSince1970.rounded(.down)
    ? date.formatted(rfc3339Whole) : date.formatted(rfc3339Fractional)
}

/// An RFC 3339 UTC timestamp truncated to whole seconds (`2026-11-22T05:00:00Z`), as the annotation
/// file carries them.
public func formatRFC3339Seconds(_ date: Date) -> String { date.formatted(rfc3339Whole) }

private let rfc3339Whole = Date.ISO8601FormatStyle(timeZone: utcTimeZone)
private let rfc3339Fractional = Date.ISO8601FormatStyle(
  includingFractionalSeconds: true, timeZone: utcTimeZone)

/// Parses an RFC 3339 timestamp (`2026-11-22T05:10:00Z`, `2026-11-22T06:10:00+01:00`, fractional seconds
/// allowed); nil if `text` is not one.
public func parseRFC3339(_ text: String) -> Date? {
  let formatter = ISO8601DateFormatter()
  formatter.formatOptions = [.withInternetDateTime]
  if let date = formatter.date(from: text) { return date }
  formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
  return formatter.date(from: text)
}
