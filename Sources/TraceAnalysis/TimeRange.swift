import Foundation

/// A half-open time range `[start, end)` in nanoseconds since the Unix epoch.
public struct TimeRange: Sendable, Hashable {
  /// Inclusive start.
  public var startNanos: Int64
  /// Exclusive end.
  public var endNanos: Int64

  /// A range; `end` before `start` is the caller's mistake (``parse(_:)`` rejects it).
  public init(startNanos: Int64, endNanos: Int64) {
    self.startNanos = startNanos
    self.endNanos = endNanos
  }

  /// The length in nanoseconds.
  public var lengthNanos: Int64 { endNanos - startNanos }

  /// Whether `nanos` lies in the range.
  public func contains(_ nanos: Int64) -> Bool { nanos >= startNanos && nanos < endNanos }

  /// Parses `START/END`, each RFC 3339 (`2025-03-01T10:00:00Z`, fractions and offsets allowed) or
  /// Unix seconds (`1740823200`, `1740823200.5`).
  public static func parse(_ text: String) throws(AnalysisInputError) -> TimeRange {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2 else { throw .badRange(text, reason: "expected START/END") }
    guard let start = parseInstant(String(parts[0])) else {
      throw .badRange(text, reason: "\"\(parts[0])\" is neither RFC 3339 nor Unix seconds")
    }
    guard let end = parseInstant(String(parts[1])) else {
      throw .badRange(text, reason: "\"\(parts[1])\" is neither RFC 3339 nor Unix seconds")
    }
    guard end > start else { throw .badRange(text, reason: "the end is not after the start") }
    return TimeRange(startNanos: start, endNanos: end)
  }

  /// An instant in nanoseconds, from RFC 3339 or Unix seconds.
  static func parseInstant(_ text: String) -> Int64? {
    let text = text.trimmingCharacters(in: .whitespaces)
    if let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds < 9e9 {
      return Int64((seconds * 1e9).rounded())
    }
    // ISO8601DateFormatter needs one flag set per form; fractions are read separately so that
    // nanosecond digits are not rounded to a Double's milliseconds.
    var base = text
    var fractionNanos: Int64 = 0
    if let dot = text.firstIndex(of: "."), text[text.index(after: dot)...].first?.isNumber == true {
      let digitsEnd = text[text.index(after: dot)...].firstIndex { !$0.isNumber } ?? text.endIndex
      let digits = String(text[text.index(after: dot)..<digitsEnd].prefix(9))
      fractionNanos = Int64(digits.padding(toLength: 9, withPad: "0", startingAt: 0)) ?? 0
      base = String(text[..<dot]) + String(text[digitsEnd...])
    }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: base) else { return nil }
    return Int64(date.timeIntervalSince1970.rounded()) * 1_000_000_000 + fractionNanos
  }

  /// RFC 3339 in UTC with milliseconds, for reports.
  public static func format(_ nanos: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(nanos) / 1e9))
  }
}
