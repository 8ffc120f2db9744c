// IPv4 and IPv6 addresses and prefixes, parsed by hand rather than with inet_pton: inet_pton answers
// only yes or no, and every profile problem must say what is wrong and what to write instead
// ("256 is more than 255", "'::' may appear only once", "host bits are set; write 10.0.0.0/8").
// The grammar is inet_pton's (RFC 4291 text forms, dotted IPv4 in the last 32 bits, no zone index,
// no leading zeros in IPv4 parts); the tests check the bytes against inet_pton.

/// A CIDR or a single address (a /32 or /128), IPv4 or IPv6.
///
/// Written `10.0.0.0/8`, `10.1.2.3`, `fd00::/64` or `::1`; an address without a length is a /32 (IPv4)
/// or /128 (IPv6). Encoded (`Codable`) as its ``description``.
public struct IPPrefix: Sendable, Hashable, Codable, CustomStringConvertible {
  /// 4 (IPv4) or 16 (IPv6) bytes in network order, host bits zeroed.
  public var address: [UInt8]
  /// The prefix length: 0...32 for IPv4, 0...128 for IPv6.
  public var length: UInt8

  /// The prefix of `address` (4 or 16 bytes) and `length`, with the bits past `length` cleared.
  public init(address: [UInt8], length: UInt8) {
    precondition(address.count == 4 || address.count == 16, "an IP address has 4 or 16 bytes")
    precondition(Int(length) <= address.count * 8, "prefix length \(length) is too long")
    self.address = Self.masked(address, to: length)
    self.length = length
  }

  /// Parses `10.0.0.0/8`, `10.1.2.3`, `fd00::/64`, `::1`, `::ffff:10.1.2.3`.
  ///
  /// Host bits set (`10.1.2.3/8`) are an error that names both likely meanings.
  public init(parsing text: String) throws(UnitParseError) {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard !trimmed.isEmpty else {
      throw UnitParseError("empty address; write a CIDR such as 10.0.0.0/8 or an address such as 10.1.2.3")
    }
    let parts = trimmed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let addressText = String(parts[0])
    let bytes = try parseIPAddress(addressText, whole: trimmed)
    let maxLength = bytes.count * 8
    let family = bytes.count == 4 ? "IPv4" : "IPv6"
    var length = maxLength
    if parts.count == 2 {
      let lengthText = parts[1]
      guard !lengthText.isEmpty else {
        throw UnitParseError("\(trimmed): missing prefix length after '/'; e.g. \(addressText)/\(maxLength)")
      }
      guard lengthText.allSatisfy({ $0.isASCII && $0.isNumber }), lengthText.count <= 3,
        let value = Int(lengthText)
      else {
        throw UnitParseError(
          "\(trimmed): prefix length \"\(lengthText)\" is not a number; use 0-\(maxLength) for \(family)")
      }
      guard value <= maxLength else {
        throw UnitParseError("\(trimmed): prefix length \(value) is more than \(maxLength) for \(family)")
      }
      length = value
    }
    let prefix = IPPrefix(address: bytes, length: UInt8(length))
    guard prefix.address == bytes else {
      let single = IPPrefix(address: bytes, length: UInt8(maxLength))
      throw UnitParseError(
        "\(trimmed): host bits are set; write \(prefix) for the network or \(single) for the one address")
    }
    self = prefix
  }

  /// Whether this is an IPv6 prefix (16 bytes).
  public var isIPv6: Bool { address.count == 16 }

  /// Whether every address of `other` is in this prefix; false across address families.
  public func contains(_ other: IPPrefix) -> Bool {
    guard other.address.count == address.count, other.length >= length else { return false }
    return Self.masked(other.address, to: length) == address
  }

  /// The IPv4 prefix an IPv4-mapped IPv6 prefix (`::ffff:10.0.0.0/104`) stands for, as packets to it
  /// travel as IPv4; nil for any other prefix.
  var unmappedIPv4: IPPrefix? {
    guard isIPv6, length >= 96, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF,
      address[11] == 0xFF
    else { return nil }
    return IPPrefix(address: Array(address[12..<16]), length: length - 96)
  }

  /// `10.0.0.0/8`, `10.1.2.3/32`, `fd00::/64`, `::ffff:10.1.2.3/128`: RFC 5952 text for IPv6
  /// (lower case, the longest run of zero groups compressed), always with the length.
  public var description: String {
    "\(formatIPAddress(address))/\(length)"
  }

  /// Decodes the ``description`` form (any form ``init(parsing:)`` reads).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    do throws(UnitParseError) {
      self = try IPPrefix(parsing: text)
    } catch {
      throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
    }
  }

  /// Encodes the ``description``.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }

  private static func masked(_ bytes: [UInt8], to length: UInt8) -> [UInt8] {
    var result = bytes
    for index in result.indices {
      let bitsBefore = index * 8
      let keep = max(0, min(8, Int(length) - bitsBefore))
      result[index] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
    }
    return result
  }
}

/// The bytes of an IPv4 (dotted) or IPv6 address; `whole` is the text errors quote.
func parseIPAddress(_ text: String, whole: String) throws(UnitParseError) -> [UInt8] {
  if text.contains(":") { return try parseIPv6(text, whole: whole) }
  return try parseIPv4(Substring(text), whole: whole)
}

/// Whether `text` can only be meant as an IPv4 address: digits and dots only.
func looksLikeIPv4(_ text: Substring) -> Bool {
  !text.isEmpty && text.allSatisfy { ($0.isASCII && $0.isNumber) || $0 == "." }
}

private func parseIPv4(_ text: Substring, whole: String) throws(UnitParseError) -> [UInt8] {
  guard looksLikeIPv4(text) else {
    throw UnitParseError(
      "\(whole): not an IP address; write an IPv4 address such as 10.1.2.3, an IPv6 address such as "
        + "fd00::1, or a CIDR such as 10.0.0.0/8")
  }
  let parts = text.split(separator: ".", omittingEmptySubsequences: false)
  guard parts.count == 4 else {
    throw UnitParseError(
      "\(whole): an IPv4 address has 4 parts separated by '.', found \(parts.count); e.g. 10.1.2.3")
  }
  var bytes: [UInt8] = []
  for part in parts {
    guard !part.isEmpty else { throw UnitParseError("\(whole): empty part between dots; e.g. 10.1.2.3") }
    guard part.count == 1 || part.first != "0" else {
      let digits = part.drop { $0 == "0" }
      throw UnitParseError(
        "\(whole): leading zero in \"\(part)\" (some tools read it as octal); write \(digits.isEmpty ? "0" : digits)"
      )
    }
    guard part.count <= 3, let value = UInt8(part) else {
      throw UnitParseError("\(whole): \(part) is more than 255; each part of an IPv4 address is 0-255")
    }
    bytes.append(value)
  }
  return bytes
}

private func parseIPv6(_ text: String, whole: String) throws(UnitParseError) -> [UInt8] {
  if let percent = text.firstIndex(of: "%") {
    throw UnitParseError(
      "\(whole): zone index \(text[percent...]) is not allowed; write \(text[..<percent])")
  }
  if text.contains(":::") {
    throw UnitParseError("\(whole): ':::' is not allowed; '::' stands for zero groups")
  }
  let halves = text.components(separatedBy: "::")
  guard halves.count <= 2 else {
    throw UnitParseError("\(whole): '::' may appear only once; write the other zero groups as 0")
  }
  if halves[0].hasPrefix(":") || (halves.count == 1 && text.hasPrefix(":")) {
    throw UnitParseError("\(whole): starts with a single ':'; write '::' or a group first")
  }
  if halves[halves.count - 1].hasSuffix(":") || (halves.count == 1 && text.hasSuffix(":")) {
    throw UnitParseError("\(whole): ends with a single ':'; write '::' or a group last")
  }

  /// The 16-bit groups of one half; a dotted IPv4 tail counts as two groups.
  func groups(_ half: String, isLast: Bool) throws(UnitParseError) -> [UInt16] {
    guard !half.isEmpty else { return [] }
    let fields = half.split(separator: ":", omittingEmptySubsequences: false)
    var result: [UInt16] = []
    for (index, field) in fields.enumerated() {
      if field.contains(".") {
        guard isLast, index == fields.count - 1 else {
          throw UnitParseError("\(whole): a dotted IPv4 part may only end the address, e.g. ::ffff:10.1.2.3")
        }
        let bytes = try parseIPv4(field, whole: whole)
        result.append(UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        result.append(UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        continue
      }
      guard !field.isEmpty else { throw UnitParseError("\(whole): empty group between ':'") }
      guard field.count <= 4, field.allSatisfy(\.isHexDigit), let value = UInt16(field, radix: 16) else {
        let why = field.allSatisfy(\.isHexDigit) ? "more than 4 hex digits" : "not a hex number"
        throw UnitParseError("\(whole): group \"\(field)\" is \(why); each group is 1-4 hex digits (0-ffff)")
      }
      result.append(value)
    }
    return result
  }

  let head = try groups(halves[0], isLast: halves.count == 1)
  let tail = halves.count == 2 ? try groups(halves[1], isLast: true) : []
  let all: [UInt16]
  if halves.count == 2 {
    guard head.count + tail.count <= 7 else {
      throw UnitParseError("\(whole): more than 8 groups; an IPv6 address has 8 groups of 16 bits")
    }
    all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
  } else {
    guard head.count == 8 else {
      let problem = head.count > 8 ? "more than 8 groups" : "only \(head.count) of 8 groups and no '::'"
      throw UnitParseError("\(whole): \(problem); e.g. fd00::1 or fd00:0:0:0:0:0:0:1")
    }
    all = head
  }
  return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
}

/// Dotted IPv4, or RFC 5952 IPv6 (IPv4-mapped addresses with a dotted tail).
func formatIPAddress(_ bytes: [UInt8]) -> String {
  if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
  let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
  if groups[0..<5].allSatisfy({ $0 == 0 }), groups[5] == 0xFFFF {
    return "::ffff:" + bytes[12..<16].map(String.init).joined(separator: ".")
  }
  // The longest run of two or more zero groups (the first one on a tie) becomes "::".
  var best: Range<Int>?
  var index = 0
  while index < 8 {
    guard groups[index] == 0 else {
      index += 1
      continue
    }
    var end = index
    while end < 8 && groups[end] == 0 { end += 1 }
    if end - index >= 2, end - index > (best?.count ?? 0) { best = index..<end }
    index = end
  }
  func hex(_ range: Range<Int>) -> String {
    groups[range].map { String($0, radix: 16) }.joined(separator: ":")
  }
  guard let best else { return hex(0..<8) }
  return hex(0..<best.lowerBound) + "::" + hex(best.upperBound..<8)
}
