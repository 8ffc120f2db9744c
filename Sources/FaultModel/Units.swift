import Foundation

/// A percentage from 0 to 100, as users write it (`25%` or `25`, decimals allowed).
public struct Percent: Sendable, Hashable, Codable, Comparable, ExpressibleByFloatLiteral,
  ExpressibleByIntegerLiteral, CustomStringConvertible
{
  /// The value in percent, 0...100.
  public var value: Double

  /// A percentage of `value` (0...100); not checked, see ``init(parsing:)``.
  public init(_ value: Double) { self.value = value }

  /// Builds a percentage from a float literal.
  public init(floatLiteral value: Double) { self.value = value }

  /// Builds a percentage from an integer literal.
  public init(integerLiteral value: Int) { self.value = Double(value) }

  /// Parses `25%`, `25` or `2.5%`; anything outside 0–100 is an error.
  public init(parsing text: String) throws(UnitParseError) {
    var body = text.trimmingCharacters(in: .whitespaces)
    if body.hasSuffix("%") { body.removeLast() }
    guard let value = Double(body), value.isFinite else {
      throw UnitParseError("\"\(text)\" is not a percentage; use e.g. 25% or 2.5")
    }
    guard (0...100).contains(value) else {
      throw UnitParseError("\"\(text)\" is outside 0–100%")
    }
    self.value = value
  }

  /// Zero percent.
  public static let zero = Percent(0)

  /// Whether the value is zero.
  public var isZero: Bool { value == 0 }

  /// `25%`, `2.5%`: the shortest form, as `tc` prints percentages.
  public var description: String { "\(formatNumber(value))%" }

  /// Orders by value.
  public static func < (lhs: Percent, rhs: Percent) -> Bool { lhs.value < rhs.value }
}

/// A value in a unit that could not be parsed; the message names the value and what is allowed.
public struct UnitParseError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What was wrong and what is allowed.
  public let description: String

  init(_ description: String) { self.description = description }
}

/// A rate in bits per second, parsed as `tc` does.
///
/// `1mbit`, `100kbit`, `20000` (bit/s), `1mbps` (megabytes/s), `1Gibit` (binary prefix).
public struct Bandwidth: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
  /// Bits per second.
  public var bitsPerSecond: UInt64

  /// A rate of `bitsPerSecond` bit/s.
  public init(bitsPerSecond: UInt64) { self.bitsPerSecond = bitsPerSecond }

  private static let suffixes: [(String, Double)] = [
    ("bit", 1), ("kibit", 1024), ("kbit", 1000), ("mibit", 1024 * 1024), ("mbit", 1_000_000),
    ("gibit", 1024 * 1024 * 1024), ("gbit", 1_000_000_000), ("tibit", 1024 * 1024 * 1024 * 1024),
    ("tbit", 1_000_000_000_000), ("bps", 8), ("kibps", 8 * 1024), ("kbps", 8000),
    ("mibps", 8 * 1024 * 1024), ("mbps", 8_000_000), ("gibps", 8 * 1024 * 1024 * 1024),
    ("gbps", 8_000_000_000), ("tibps", 8 * 1024 * 1024 * 1024 * 1024), ("tbps", 8_000_000_000_000),
  ]

  /// Parses a `tc` rate: a number with an optional unit (bit/s when none; `bps` units are bytes/s).
  public init(parsing text: String) throws(UnitParseError) {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let number = trimmed.prefix { $0.isNumber || $0 == "." }
    let unit = trimmed.dropFirst(number.count).lowercased()
    guard let value = Double(number), value.isFinite else {
      throw UnitParseError(
        "\"\(text)\" is not a rate; use e.g. 1mbit, 100kbit, 20000 (bit/s) or 1mbps (bytes/s)")
    }
    var scale: Double = 1
    if !unit.isEmpty {
      guard let match = Self.suffixes.first(where: { $0.0 == unit }) else {
        throw UnitParseError(
          "\"\(text)\": unknown rate unit \"\(unit)\"; allowed: bit, kbit, mbit, gbit, tbit, bps, kbps, mbps, gbps, "
            + "tbps (and kibit, mibps, … for binary prefixes)")
      }
      scale = match.1
    }
    let bits = value * scale
    guard bits >= 8, bits < 1.5e20 else {
      throw UnitParseError("\"\(text)\" is out of range; a rate must be at least 8bit (1 byte/s)")
    }
    self.bitsPerSecond = UInt64(bits)
  }

  /// `1Mbit`, `100Kbit`, `20Kbit`: as `tc` prints rates.
  public var description: String {
    let bits = Double(bitsPerSecond)
    for (unit, scale) in [("Tbit", 1e12), ("Gbit", 1e9), ("Mbit", 1e6), ("Kbit", 1e3)] where bits >= scale {
      return "\(formatNumber(bits / scale, significant: 4))\(unit)"
    }
    return "\(bitsPerSecond)bit"
  }

  /// Orders by value.
  public static func < (lhs: Bandwidth, rhs: Bandwidth) -> Bool { lhs.bitsPerSecond < rhs.bitsPerSecond }
}

/// Formats like C's `%g`: no trailing zeros, up to `significant` digits.
func formatNumber(_ value: Double, significant: Int = 6) -> String {
  if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
  var text = String(format: "%.\(significant)g", value)
  if text.contains("e") { return text }
  if text.contains(".") {
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
  }
  return text
}

extension Duration {
  /// Whole nanoseconds (saturating).
  public var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return seconds < 0 ? .min : .max }
    return product &+ attoseconds / 1_000_000_000
  }

  /// The duration in milliseconds, as a `Double`.
  public var milliseconds: Double { Double(nanoseconds) / 1e6 }

  /// `100ms`, `1.5s`, `250us`: the way `tc` prints times.
  public var tcDescription: String {
    let ns = Double(nanoseconds)
    if ns >= 1e9 { return "\(formatNumber(ns / 1e9))s" }
    if ns >= 1e6 { return "\(formatNumber(ns / 1e6))ms" }
    if ns >= 1e3 { return "\(formatNumber(ns / 1e3))us" }
    return "\(Int64(ns))ns"
  }

  /// `500ms`, `1m30s`, `1h0m0s`: Go's `time.Duration.String()` form, which ``parseGoDuration(_:)`` reads back.
  public var goDescription: String { formatGoDuration(self) }
}
