/// One TCP or UDP port (`443`) or an inclusive range of ports (`8000-8080`), 1-65535.
///
/// Encoded (`Codable`) as its ``description``.
public struct PortRange: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The first port of the range.
  public var lower: UInt16
  /// The last port of the range (equal to ``lower`` for one port).
  public var upper: UInt16

  /// The ports `lower...upper`; both at least 1, `lower` not above `upper`.
  public init(_ lower: UInt16, _ upper: UInt16) {
    precondition(lower >= 1 && lower <= upper, "invalid port range \(lower)-\(upper)")
    self.lower = lower
    self.upper = upper
  }

  /// Parses `443` or `8000-8080`.
  public init(parsing text: String) throws(UnitParseError) {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let parts = trimmed.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
    func port(_ part: Substring) throws(UnitParseError) -> UInt16 {
      let digits = part.trimmingCharacters(in: .whitespaces)
      guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
        throw UnitParseError(
          "\(trimmed.isEmpty ? "\"\"" : trimmed): not a port; write a port such as 443 or a range such as "
            + "8000-8080")
      }
      guard let value = Int(digits.prefix(6)), value <= 65535, digits.count <= 5 else {
        throw UnitParseError("\(trimmed): \(digits) is more than 65535, the highest port")
      }
      guard value >= 1 else {
        throw UnitParseError("\(trimmed): port 0 is not a port you can send to; ports are 1-65535")
      }
      return UInt16(value)
    }
    let lower = try port(parts[0])
    let upper = parts.count == 2 ? try port(parts[1]) : lower
    guard lower <= upper else {
      throw UnitParseError("\(trimmed): the range runs backwards; write \(upper)-\(lower)")
    }
    self.init(lower, upper)
  }

  /// Whether every port of `other` is in this range.
  public func contains(_ other: PortRange) -> Bool {
    lower <= other.lower && other.upper <= upper
  }

  /// `443` or `8000-8080`.
  public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

  /// Decodes the ``description`` form.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    do throws(UnitParseError) {
      self = try PortRange(parsing: text)
    } catch {
      throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
    }
  }

  /// Encodes the ``description``.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}

/// Whether `ranges` together cover every port of `range`.
func covers(_ ranges: [PortRange], _ range: PortRange) -> Bool {
  var next = Int(range.lower)
  for candidate in ranges.sorted(by: { $0.lower < $1.lower }) where Int(candidate.lower) <= next {
    next = max(next, Int(candidate.upper) + 1)
    if next > Int(range.upper) { return true }
  }
  return false
}
