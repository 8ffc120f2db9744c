// Go-style duration strings ("10m", "1h30m", "1.5s", "500ms"), shared by schedules, profiles and the CLI.
//
// Grammar (as Go's time.ParseDuration, minus signs): one or more <number><unit> pairs, where <number> is
// decimal digits with an optional fraction ("1.5", ".5", "2.") and <unit> is one of ns, us, µs, ms, s, m,
// h. Pairs add up ("1h30m", "1m1m" = 2m). Differences from Go, on purpose: a negative duration is an
// error, and so is a bare number, including "0" (write "0s"). A leading "+" is accepted as Go does.

/// A Go-style duration that could not be parsed: says what was wrong and what is allowed.
public struct DurationParseError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The text that was parsed.
  public let text: String
  /// The complete message, e.g. `"10" has no unit; use e.g. 10s, 10m, 1h`.
  public let message: String

  /// The complete message, as ``message``.
  public var description: String { message }

  init(_ text: String, _ message: String) {
    self.text = text
    self.message = message
  }
}

private let allowedUnitsHint = "allowed units are ns, us (µs), ms, s, m, h"
private let exampleHint = "use e.g. 10s, 1h30m, 1.5s, 500ms"

/// Nanoseconds per unit, for the unit spellings Go accepts (µ as U+00B5 micro sign or U+03BC Greek mu).
private func nanosecondsPerUnit(_ unit: String) -> UInt64? {
  switch unit {
  case "ns": 1
  case "us", "\u{00B5}s", "\u{03BC}s": 1_000
  case "ms": 1_000_000
  case "s": 1_000_000_000
  case "m": 60_000_000_000
  case "h": 3_600_000_000_000
  default: nil
  }
}

/// Parses a Go-style duration such as `10m`, `1h30m`, `1.5s`, `500ms` or `2h`.
///
/// Units are `ns`, `us` (or `µs`), `ms`, `s`, `m` and `h`; number-unit pairs may repeat and add up.
/// Fractions are allowed (`1.5h`) and are truncated to whole nanoseconds, as in Go. Zero (`0s`) is
/// valid here; callers that need a positive duration (such as `@every`) check that themselves.
///
/// - Throws: ``DurationParseError`` for empty text, a bare number without unit (`"10"`), a negative
///   duration, an unknown unit, or a value above Go's limit of about 292 years.
public func parseGoDuration(_ text: String) throws(DurationParseError) -> Duration {
  let scalars = Array(text.unicodeScalars)
  if scalars.isEmpty {
    throw DurationParseError(text, "empty duration; \(exampleHint)")
  }
  if scalars.contains(where: { $0.properties.isWhitespace }) {
    throw DurationParseError(text, "\"\(text)\": spaces are not allowed in a duration; \(exampleHint)")
  }
  var index = 0
  if scalars[0] == "-" {
    throw DurationParseError(text, "\"\(text)\": negative durations are not allowed")
  }
  if scalars[0] == "+" { index = 1 }
  let body = scalars[index...]
  if body.isEmpty {
    throw DurationParseError(text, "\"\(text)\": not a duration; \(exampleHint)")
  }
  if body.allSatisfy({ isDigit($0) || $0 == "." }) && body.contains(where: isDigit) {
    throw DurationParseError(text, "\"\(text)\" has no unit; use e.g. 10s, 10m, 1h")
  }

  let tooLarge = DurationParseError(
    text, "\"\(text)\": too large; the maximum is 2562047h47m16.854775807s (about 292 years)")
  let limit = UInt64(Int64.max)
  var total: UInt64 = 0
  while index < scalars.count {
    // The number: digits, optionally a fraction.
    let numberStart = index
    var whole: UInt64 = 0
    var sawWhole = false
    var overflowed = false
    while index < scalars.count, let digit = digitValue(scalars[index]) {
      let (times10, o1) = whole.multipliedReportingOverflow(by: 10)
      let (next, o2) = times10.addingReportingOverflow(UInt64(digit))
      if o1 || o2 || next > limit { overflowed = true }
      whole = next
      sawWhole = true
      index += 1
    }
    var fraction: UInt64 = 0
    var scale: Double = 1
    var sawFraction = false
    if index < scalars.count, scalars[index] == "." {
      index += 1
      while index < scalars.count, let digit = digitValue(scalars[index]) {
        // Like Go, digits beyond what fits are dropped (they are far below a nanosecond).
        if fraction < 100_000_000_000_000_000 {
          fraction = fraction * 10 + UInt64(digit)
          scale *= 10
        }
        sawFraction = true
        index += 1
      }
    }
    let number = String(String.UnicodeScalarView(scalars[numberStart..<index]))
    if !sawWhole && !sawFraction {
      var unitEnd = index
      while unitEnd < scalars.count, !isDigit(scalars[unitEnd]), scalars[unitEnd] != "." { unitEnd += 1 }
      let unit = String(String.UnicodeScalarView(scalars[index..<unitEnd]))
      if unit.isEmpty || nanosecondsPerUnit(unit) == nil {
        throw DurationParseError(text, "\"\(text)\": not a duration; \(exampleHint)")
      }
      throw DurationParseError(text, "\"\(text)\": expected a number before \"\(unit)\"; \(exampleHint)")
    }

    // The unit: everything up to the next digit or dot.
    let unitStart = index
    while index < scalars.count, !isDigit(scalars[index]), scalars[index] != "." { index += 1 }
    let unit = String(String.UnicodeScalarView(scalars[unitStart..<index]))
    if unit.isEmpty {
      throw DurationParseError(text, "\"\(text)\": missing unit after \"\(number)\"; \(allowedUnitsHint)")
    }
    guard let perUnit = nanosecondsPerUnit(unit) else {
      throw DurationParseError(text, "\"\(text)\": unknown unit \"\(unit)\"; \(allowedUnitsHint)")
    }
    if overflowed { throw tooLarge }
    let (scaled, o1) = whole.multipliedReportingOverflow(by: perUnit)
    if o1 || scaled > limit { throw tooLarge }
    var value = scaled
    if fraction > 0 {
      let extra = (Double(fraction) * (Double(perUnit) / scale)).rounded(.towardZero)
      if extra >= Double(limit) { throw tooLarge }
      value += UInt64(extra)
      if value > limit { throw tooLarge }
    }
    let (sum, o2) = total.addingReportingOverflow(value)
    if o2 || sum > limit { throw tooLarge }
    total = sum
  }
  return .nanoseconds(Int64(total))
}

/// Formats a duration in the canonical Go-style text that ``parseGoDuration(_:)`` reads back.
///
/// Durations of a second or more are written as hours, minutes and (possibly fractional) seconds with
/// zero parts left out (`1h30m`, `2h`, `1m0.5s`); shorter ones use the largest fitting unit of `ms`, `us`
/// and `ns` (`500ms`, `1.5us`). Zero is `0s`. Precision below a nanosecond is dropped; a negative
/// duration gets a leading `-` (which the parser rejects).
public func formatGoDuration(_ duration: Duration) -> String {
  if duration == .zero { return "0s" }
  let sign = duration < .zero ? "-" : ""
  let (seconds, attoseconds) = (duration < .zero ? .zero - duration : duration).components
  let subsecondNanos = UInt64(attoseconds / 1_000_000_000)
  if seconds == 0 {
    if subsecondNanos == 0 { return "0s" }
    if subsecondNanos < 1_000 { return "\(sign)\(subsecondNanos)ns" }
    if subsecondNanos < 1_000_000 { return sign + decimal(subsecondNanos, per: 1_000) + "us" }
    return sign + decimal(subsecondNanos, per: 1_000_000) + "ms"
  }
  let wholeSeconds = UInt64(seconds)
  let hours = wholeSeconds / 3_600
  let minutes = wholeSeconds % 3_600 / 60
  let rest = wholeSeconds % 60 * 1_000_000_000 + subsecondNanos
  var text = sign
  if hours > 0 { text += "\(hours)h" }
  if minutes > 0 { text += "\(minutes)m" }
  if rest > 0 { text += decimal(rest, per: 1_000_000_000) + "s" }
  return text
}

/// `value / unit` as a decimal with trailing fractional zeros removed, e.g. 1_500 per 1_000 is "1.5".
private func decimal(_ value: UInt64, per unit: UInt64) -> String {
  let whole = value / unit
  var remainder = value % unit
  if remainder == 0 { return "\(whole)" }
  var digits = ""
  var place = unit / 10
  while remainder > 0 && place > 0 {
    digits += "\(remainder / place)"
    remainder %= place
    place /= 10
  }
  return "\(whole).\(digits)"
}

private func isDigit(_ scalar: Unicode.Scalar) -> Bool {
  scalar.value >= 48 && scalar.value <= 57
}

private func digitValue(_ scalar: Unicode.Scalar) -> Int? {
  isDigit(scalar) ? Int(scalar.value - 48) : nil
}
