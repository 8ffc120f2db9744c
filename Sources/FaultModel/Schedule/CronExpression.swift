// Parsing of standard 5-field cron expressions into bit sets.
//
// Syntax per field, as in Vixie cron (crontab(5)) plus the croniter-compatible "A/N":
//   *        every value of the field
//   A        one value; month and day-of-week fields also take 3-letter names, case-insensitively
//   A-B      A through B inclusive (A must not exceed B; A-A is just A)
//   */N      every Nth value starting at the field's minimum (for day-of-week: 0, 0+N, ... up to 6)
//   A-B/N    A, A+N, ... up to B
//   A/N      A, A+N, ... up to the field's maximum (for day-of-week: up to 6, Saturday; as croniter)
//   x,y,...  a list of any of the above
// Day-of-week takes 0-7 (0 and 7 are Sunday) or SUN-SAT; a range ending on Sunday may be written
// FRI-SUN or 5-0 as well as 5-7. Steps go from 1 up to the number of values in the field.
// Not supported (rejected with a message): seconds or year fields, L, W, #, ?, H.

/// One of the five fields of a cron expression.
enum CronField: Int, CaseIterable, Sendable {
  case minute, hour, dayOfMonth, month, dayOfWeek

  var name: String {
    switch self {
    case .minute: "minute"
    case .hour: "hour"
    case .dayOfMonth: "day-of-month"
    case .month: "month"
    case .dayOfWeek: "day-of-week"
    }
  }

  /// Values accepted when written.
  var bounds: ClosedRange<Int> {
    switch self {
    case .minute: 0...59
    case .hour: 0...23
    case .dayOfMonth: 1...31
    case .month: 1...12
    case .dayOfWeek: 0...7
    }
  }

  /// The range that `*`, `*/N` and the open end of `A/N` stand for.
  var wildcardRange: ClosedRange<Int> {
    self == .dayOfWeek ? 0...6 : bounds
  }

  /// How many distinct values the field has (the largest step that still makes sense).
  var valueCount: Int { wildcardRange.count }

  /// Three-letter names, index = value.
  var names: [String] {
    switch self {
    case .month: ["", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    default: []
    }
  }

  /// "0-59", "1-12 or JAN-DEC", ... for messages.
  var allowedText: String {
    switch self {
    case .month: "1-12 or JAN-DEC"
    case .dayOfWeek: "0-7 (0 and 7 are Sunday) or SUN-SAT"
    default: "\(bounds.lowerBound)-\(bounds.upperBound)"
    }
  }
}

/// A parsed 5-field cron expression: one bit set per field plus the Vixie "starts with *" flags.
struct CronSpec: Hashable, Sendable {
  /// Bit n set = minute n matches (0-59).
  var minutes: UInt64 = 0
  /// Bit n set = hour n matches (0-23).
  var hours: UInt64 = 0
  /// Bit n set = day n of the month matches (1-31).
  var daysOfMonth: UInt64 = 0
  /// Bit n set = month n matches (1-12).
  var months: UInt64 = 0
  /// Bit n set = weekday n matches (0 = Sunday ... 6 = Saturday; 7 is folded into 0).
  var daysOfWeek: UInt64 = 0
  /// The minute field starts with `*` (Vixie's MIN_STAR).
  var minuteStar = false
  /// The hour field starts with `*` (Vixie's HR_STAR).
  var hourStar = false
  /// The day-of-month field starts with `*` (Vixie's DOM_STAR).
  var dayOfMonthStar = false
  /// The day-of-week field starts with `*` (Vixie's DOW_STAR).
  var dayOfWeekStar = false

  /// Vixie: a job is a "wildcard" job when its minute or hour field starts with `*`; any other job is
  /// a "fixed-time" job, which gets the DST catch-up / no-repeat treatment.
  var isFixedTime: Bool { !minuteStar && !hourStar }

  /// Vixie: when both day fields are restricted (neither starts with `*`), a day matches if either
  /// field matches; otherwise both must match.
  var daysMatchEither: Bool { !dayOfMonthStar && !dayOfWeekStar }

  /// Whether some date can ever match: false for e.g. `0 0 31 2 *` or `0 0 30 2 *`.
  var canMatchSomeDay: Bool {
    if daysMatchEither { return true }  // the day-of-week side always matches somewhere
    let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    for month in 1...12 where months & (1 << UInt64(month)) != 0 {
      let daysInMonth: UInt64 = (1 << UInt64(longest[month] + 1)) - 2  // bits 1...longest
      if daysOfMonth & daysInMonth != 0 { return true }
    }
    return false
  }

  func bits(_ field: CronField) -> UInt64 {
    switch field {
    case .minute: minutes
    case .hour: hours
    case .dayOfMonth: daysOfMonth
    case .month: months
    case .dayOfWeek: daysOfWeek
    }
  }

  /// Parses five whitespace-separated fields (already split).
  init(fields: [Substring]) throws(ScheduleError) {
    precondition(fields.count == 5)
    for field in CronField.allCases {
      let text = fields[field.rawValue]
      let bits = try Self.parseField(text, field)
      let star = text.hasPrefix("*")
      switch field {
      case .minute: (minutes, minuteStar) = (bits, star)
      case .hour: (hours, hourStar) = (bits, star)
      case .dayOfMonth: (daysOfMonth, dayOfMonthStar) = (bits, star)
      case .month: months = bits
      case .dayOfWeek:
        // 7 is Sunday, like 0.
        daysOfWeek = (bits & 0x7F) | ((bits >> 7) & 1)
        dayOfWeekStar = star
      }
    }
  }

  private static func parseField(_ text: Substring, _ field: CronField) throws(ScheduleError) -> UInt64 {
    var bits: UInt64 = 0
    for element in text.split(separator: ",", omittingEmptySubsequences: false) {
      if element.isEmpty {
        throw ScheduleError(
          field: field.name, text: String(text),
          reason: "empty list element; separate values with single commas, e.g. 1,15,30")
      }
      bits |= try parseElement(element, field)
    }
    return bits
  }

  private static func parseElement(_ element: Substring, _ field: CronField) throws(ScheduleError) -> UInt64 {
    let elementText = String(element)
    func fail(_ reason: String) -> ScheduleError {
      ScheduleError(field: field.name, text: elementText, reason: reason)
    }
    if element.contains("#") {
      throw fail("\"#\" (nth weekday of the month) is not supported; allowed \(field.allowedText)")
    }
    if element.contains("?") {
      throw fail("\"?\" is not supported; use * for any value")
    }

    let slashParts = element.split(separator: "/", omittingEmptySubsequences: false)
    if slashParts.count > 2 {
      throw fail("more than one \"/\"; a step is written like */15 or 0-30/5")
    }
    var step: Int?
    if slashParts.count == 2 {
      step = try parseStep(slashParts[1], field, fail)
    }
    let base = slashParts[0]
    if base.isEmpty {
      throw fail("missing value before \"/\"; a step is written like */15 or 0-30/5")
    }

    var low: Int
    var high: Int
    if base == "*" {
      (low, high) = (field.wildcardRange.lowerBound, field.wildcardRange.upperBound)
    } else if base.contains("-") {
      let ends = base.split(separator: "-", omittingEmptySubsequences: false)
      if ends.count == 2 && ends[0].isEmpty {
        throw fail("negative values are not allowed; allowed \(field.allowedText)")
      }
      if ends.count != 2 || ends[1].isEmpty {
        throw fail("a range is written like 1-5 (start-end); allowed \(field.allowedText)")
      }
      let isWholeElement = false
      low = try parseValue(ends[0], field, isWholeElement, fail)
      high = try parseValue(ends[1], field, isWholeElement, fail)
      if field == .dayOfWeek && high == 0 && low > 0 {
        high = 7  // FRI-SUN, 5-0: a range ending on Sunday
      }
      if low > high {
        throw fail("range start \(low) is after its end \(high); ranges do not wrap around")
      }
    } else {
      low = try parseValue(base, field, slashParts.count == 1, fail)
      if step != nil {
        if field == .dayOfWeek && low == 7 { low = 0 }
        high = field.wildcardRange.upperBound
      } else {
        high = low
      }
    }

    var bits: UInt64 = 0
    for value in stride(from: low, through: high, by: step ?? 1) {
      bits |= 1 << UInt64(value)
    }
    return bits
  }

  private static func parseStep(
    _ text: Substring, _ field: CronField, _ fail: (String) -> ScheduleError
  ) throws(ScheduleError) -> Int {
    guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit) else {
      throw fail(
        "step \"\(text)\" is not a number; a step is written like */15 (allowed 1-\(field.valueCount))")
    }
    guard let step = text.count <= 6 ? Int(text) : Int.max, step >= 1 else {
      throw fail("step must be at least 1")
    }
    if step > field.valueCount {
      var reason =
        "step \(step) is larger than the field (\(field.valueCount) values); allowed 1-\(field.valueCount)"
      if field == .minute {
        reason += "; for longer intervals use e.g. @every \(step)m"
      } else if field == .hour {
        reason += "; for longer intervals use e.g. @every \(step)h"
      }
      throw fail(reason)
    }
    return step
  }

  private static func parseValue(
    _ text: Substring, _ field: CronField, _ isWholeElement: Bool, _ fail: (String) -> ScheduleError
  ) throws(ScheduleError) -> Int {
    let value: Int
    if !text.isEmpty && text.allSatisfy(\.isASCIIDigit) {
      value = text.count <= 6 ? Int(text)! : Int.max
    } else if !field.names.isEmpty {
      guard let index = field.names.firstIndex(of: text.uppercased()), index > 0 || field == .dayOfWeek
      else {
        let list = field.names.filter { !$0.isEmpty }.joined(separator: ", ")
        let what = field == .month ? "month" : "weekday"
        throw fail(
          "unknown \(what) \"\(text)\"; use \(field.bounds.lowerBound)-\(field.bounds.upperBound) or \(list)")
      }
      value = index
    } else {
      var reason = "\"\(text)\" is not a number; allowed \(field.allowedText)"
      if field == .dayOfMonth {
        reason += " (the L and W extensions are not supported)"
      }
      throw fail(reason)
    }
    if !field.bounds.contains(value) {
      let shown = isWholeElement ? "value" : "value \(text)"
      throw fail("\(shown) out of range \(field.allowedText)")
    }
    return value
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
