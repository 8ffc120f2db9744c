import ArgumentParser
import FaultModel
import Foundation

/// Why a flag's value was refused. argument-parser prints it after
/// `The value 'X' is invalid for '--flag <V>': `, so it says only why, not which flag or value.
struct InvalidArgument: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The typed values of the flags, parsed while argument-parser reads the command line (so a bad
/// value is a usage error, exit 2, before anything runs) by the same parsers profile files use:
/// a flag and the profile key of the same name accept and refuse the same text.
///
/// These are `transform:` functions rather than `ExpressibleByArgument` conformances because that
/// protocol's `init?(argument:)` cannot say why a value is wrong, and "has no unit" or "outside
/// 0–100%" is what a user needs to read.
enum ArgumentValues {
  /// A Go-style duration with a unit, zero or more: `0s`, `500ms`, `1.5s`, `1m30s`.
  static func duration(_ text: String) throws -> Duration {
    do { return try parseGoDuration(text) } catch { throw InvalidArgument(error.description) }
  }

  /// A duration greater than zero.
  static func positiveDuration(_ text: String) throws -> Duration {
    let value = try duration(text)
    guard value > .zero else { throw InvalidArgument("must be greater than 0") }
    return value
  }

  /// A percentage, `25%` or `25`, from 0 to 100.
  static func percent(_ text: String) throws -> Percent {
    do { return try Percent(parsing: text) } catch { throw InvalidArgument(error.description) }
  }

  /// `RATE[,PACKET-OVERHEAD,CELL-SIZE,CELL-OVERHEAD]`.
  static func rate(_ text: String) throws -> RateLimit {
    try fault { () throws(FaultError) in try RateLimit(parsing: text) }
  }

  /// `MIN[,MAX][,packets=N][,bytes=N]`.
  static func slot(_ text: String) throws -> SlotConfig {
    try fault { () throws(FaultError) in try SlotConfig(parsing: text) }
  }

  /// `P13[,P31,P32,P23,P14]`.
  static func lossState(_ text: String) throws -> LossStateModel {
    try fault { () throws(FaultError) in try LossStateModel(parsing: text) }
  }

  /// `P[,R,1-H,1-K]`.
  static func lossGemodel(_ text: String) throws -> GilbertElliottModel {
    try fault { () throws(FaultError) in try GilbertElliottModel(parsing: text) }
  }

  /// A packet count of at least 1 (`--gap`, `--limit`).
  static func count(_ text: String) throws -> UInt32 {
    try fault { () throws(FaultError) in try NetemFault.count(text, field: "count") }
  }

  /// An RFC 3339 time such as `2026-11-22T05:10:00Z`.
  static func rfc3339(_ text: String) throws -> Date {
    guard let date = parseRFC3339(text) else {
      throw InvalidArgument("not an RFC 3339 time such as 2026-11-22T05:10:00Z")
    }
    return date
  }

  /// An IANA time zone such as `UTC` or `Europe/Berlin`.
  static func timeZone(_ text: String) throws -> TimeZone {
    guard let zone = TimeZone(identifier: text) else {
      throw InvalidArgument("unknown time zone; use e.g. UTC or Europe/Berlin")
    }
    return zone
  }

  /// An address or CIDR (`--node-ip`).
  static func prefix(_ text: String) throws -> IPPrefix {
    do { return try IPPrefix(parsing: text) } catch { throw InvalidArgument("\(error)") }
  }

  private static func fault<T>(_ parse: () throws(FaultError) -> T) throws -> T {
    do { return try parse() } catch { throw InvalidArgument(error.reason) }
  }
}

/// A jitter distribution needs no reason beyond the list of names, which argument-parser prints (and
/// offers to shell completion).
extension DelayDistribution: ExpressibleByArgument {
  /// The distribution named `argument`, in any case.
  public init?(argument: String) { try? self.init(parsing: argument) }
}
