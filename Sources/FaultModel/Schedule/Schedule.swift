import Foundation

/// A parsed schedule: a 5-field cron expression, a macro, or `@every <duration>`.
///
/// Cron expressions have the standard five fields `minute hour day-of-month month day-of-week` with
/// lists (`1,15`), ranges (`1-5`), steps (`*/15`, `0-30/10`, `5/15` = 5 through the field's maximum),
/// month names `JAN`-`DEC` and weekday names `SUN`-`SAT` (case-insensitive); day-of-week takes 0-7 with 0
/// and 7 both Sunday. As in Vixie cron, when both day-of-month and day-of-week are restricted (neither
/// field starts with `*`) a day matches if *either* matches; otherwise both must match.
///
/// Macros: `@yearly` (= `@annually`, `0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly` (`0 0 * * 0`),
/// `@daily` (= `@midnight`, `0 0 * * *`) and `@hourly` (`0 * * * *`). `@every <duration>` takes a
/// Go-style duration (see ``parseGoDuration(_:)``) and fires at anchor + k × interval for k ≥ 1, i.e.
/// the first time one interval after the anchor (the start), independent of time zones.
///
/// Cron schedules are evaluated on the wall clock of the given time zone, with Vixie cron's handling of
/// DST: a fixed-time job (neither minute nor hour field starts with `*`) scheduled in a skipped
/// (spring-forward) interval fires once right after the jump, and one in a repeated (fall-back)
/// interval fires once, in the first pass; wildcard jobs (e.g. `*/15 * * * *`, `30 * * * *`) fire at
/// every wall-clock time that exists, so not in a gap and twice in an overlap. Offset changes of 3 hours
/// or more are clock resets, not DST: only wall times that exist fire, each time they occur.
///
/// Two schedules are equal when their canonical text (``description``) is equal.
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
  private enum Kind: Hashable, Sendable {
    case cron(CronSpec)
    case every(Duration)
  }

  private let kind: Kind

  /// The canonical text: cron fields separated by single spaces with names upper-cased, macros by their
  /// primary name (`@annually` is `@yearly`, `@midnight` is `@daily`), and `@every` with the duration
  /// in canonical Go form (`@every 90m` is `@every 1h30m`). Parsing it gives an equal schedule.
  public let description: String

  /// For `@every` schedules the interval; `nil` for cron expressions and macros.
  public var interval: Duration? {
    if case .every(let interval) = kind { return interval }
    return nil
  }

  private static let macros: [String: (canonical: String, fields: String)] = [
    "@yearly": ("@yearly", "0 0 1 1 *"),
    "@annually": ("@yearly", "0 0 1 1 *"),
    "@monthly": ("@monthly", "0 0 1 * *"),
    "@weekly": ("@weekly", "0 0 * * 0"),
    "@daily": ("@daily", "0 0 * * *"),
    "@midnight": ("@daily", "0 0 * * *"),
    "@hourly": ("@hourly", "0 * * * *"),
  ]

  private static let fieldList = "minute hour day-of-month month day-of-week"

  /// Parses a cron expression (`*/15 9-17 * * MON-FRI`), a macro (`@daily`) or `@every <duration>`
  /// (`@every 1h30m`). Surrounding whitespace is ignored; fields are separated by spaces or tabs.
  ///
  /// - Throws: ``ScheduleError`` naming the field and the offending text, why it is wrong and what is
  ///   allowed, e.g. `minute field "61": value out of range 0-59`. Expressions with 6 or 7 fields
  ///   (seconds or year) are rejected.
  public init(parsing text: String) throws(ScheduleError) {
    let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
    guard let first = tokens.first else {
      throw ScheduleError(
        expression: text,
        reason: "empty schedule; expected 5 fields (\(Self.fieldList)), "
          + "a macro such as @daily, or @every <duration>")
    }
    if first.hasPrefix("@") {
      let name = first.lowercased()
      if name == "@every" {
        guard tokens.count == 2 else {
          throw ScheduleError(
            every: text,
            reason: tokens.count == 1
              ? "missing duration; use e.g. @every 10m, @every 1h30m"
              : "takes exactly one duration (no spaces), e.g. @every 1h30m")
        }
        let durationText = String(tokens[1])
        let interval: Duration
        do throws(DurationParseError) {
          interval = try parseGoDuration(durationText)
        } catch {
          throw ScheduleError(every: durationText, error)
        }
        if interval <= .zero {
          throw ScheduleError(
            every: durationText,
            reason: "\"\(durationText)\": the interval must be greater than zero, e.g. @every 10s")
        }
        self.kind = .every(interval)
        self.description = "@every " + formatGoDuration(interval)
        return
      }
      guard let macro = Self.macros[name] else {
        let reason: String
        if name == "@reboot" {
          reason =
            "\"@reboot\" is not supported (a schedule has no reboot); "
            + "use @every <duration> or a cron expression"
        } else {
          reason =
            "unknown macro \"\(first)\"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
            + "@hourly or @every <duration>"
        }
        throw ScheduleError(expression: text, reason: reason)
      }
      guard tokens.count == 1 else {
        throw ScheduleError(
          expression: text, reason: "\"\(text)\": \(macro.canonical) takes no further fields")
      }
      let fields = macro.fields.split(separator: " ")
      self.kind = .cron(try CronSpec(fields: fields))
      self.description = macro.canonical
      return
    }
    guard tokens.count == 5 else {
      var reason =
        "\"\(text)\" has \(tokens.count) field\(tokens.count == 1 ? "" : "s"); expected 5 (\(Self.fieldList))"
      if tokens.count == 6 || tokens.count == 7 {
        reason += "; seconds and year fields are not supported"
      }
      throw ScheduleError(expression: text, reason: reason)
    }
    self.kind = .cron(try CronSpec(fields: tokens))
    self.description = tokens.map { $0.uppercased() }.joined(separator: " ")
  }

  /// The first fire time strictly after `date`. For `@every`, fires are anchor + k*interval (k ≥ 1).
  ///
  /// - Parameters:
  ///   - date: fires at or before this instant are not returned.
  ///   - anchor: the start of the schedule; used only by `@every` (cron schedules ignore it).
  ///   - timeZone: the wall clock cron fields refer to, DST included; `@every` ignores it.
  /// - Returns: the next fire time, or `nil` if there is none (an expression that can never match, such
  ///   as `0 0 31 2 *`, or a date beyond what `Date` can represent).
  public func nextFire(after date: Date, anchor: Date, timeZone: TimeZone) -> Date? {
    switch kind {
    case .cron(let spec):
      return spec.nextFire(after: date, in: timeZone)
    case .every(let interval):
      return Self.nextEvery(after: date, anchor: anchor, interval: interval)
    }
  }

  /// The first `count` fire times strictly after `date`, in order (fewer if the schedule runs out,
  /// none if `count` ≤ 0). Equivalent to calling ``nextFire(after:anchor:timeZone:)`` repeatedly.
  public func fires(after date: Date, anchor: Date, timeZone: TimeZone, count: Int) -> [Date] {
    var result: [Date] = []
    guard count > 0 else { return result }
    result.reserveCapacity(min(count, 10_000))
    var last = date
    while result.count < count, let next = nextFire(after: last, anchor: anchor, timeZone: timeZone) {
      result.append(next)
      last = next
    }
    return result
  }

  /// anchor + k × interval for the smallest k ≥ 1 that is strictly after `date`.
  private static func nextEvery(after date: Date, anchor: Date, interval: Duration) -> Date? {
    let (seconds, attoseconds) = interval.components
    let step = Double(seconds) + Double(attoseconds) * 1e-18
    let origin = anchor.timeIntervalSince1970
    let after = date.timeIntervalSince1970
    guard step > 0, origin.isFinite, after.isFinite else { return nil }
    var k = max(1, ((after - origin) / step).rounded(.down) + 1)
    guard k < 9e15 else { return nil }  // beyond exact integers in Double
    // Correct for rounding in the division.
    var corrections = 0
    while k > 1, origin + (k - 1) * step > after, corrections < 4 {
      k -= 1
      corrections += 1
    }
    while origin + k * step <= after {
      k += 1
      corrections += 1
      if corrections > 64 { return nil }  // the interval is below Date's resolution here
    }
    let fire = origin + k * step
    return fire.isFinite ? Date(timeIntervalSince1970: fire) : nil
  }
}
