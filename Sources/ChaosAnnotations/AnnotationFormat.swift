/// The Kubernetes Downward API annotations file format: one `key="value"` per line, keys sorted,
/// values quoted as Go's `%q` (which kubelet uses), so readers of `/etc/podinfo/annotations` read
/// faultline's file too.
public enum AnnotationFormat {
  /// Renders `annotations` as kubelet does (sorted keys, `%q` values, lines joined by `\n`).
  public static func render(_ annotations: [String: String]) -> String {
    annotations.keys.sorted().map { "\($0)=\(quote(annotations[$0]!))" }.joined(separator: "\n") + "\n"
  }

  /// Parses the file; lines that are not `key="value"` are skipped (the file may hold other keys).
  public static func parse(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    // Split on the scalar "\n", not on Characters: a combining mark after a quote must not glue
    // lines together, and "\r\n" is one Character.
    for line in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: true) {
      guard let equals = line.firstIndex(of: "=") else { continue }
      let key = String(String.UnicodeScalarView(line[..<equals]))
      let rest = String(String.UnicodeScalarView(line[line.index(after: equals)...]))
      guard let value = unquote(rest) else { continue }
      result[key] = value
    }
    return result
  }

  /// Go's `strconv.Quote` (what `%q` writes), byte for byte: `"` and `\\` backslashed; printable
  /// characters (Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
  /// space) as they are; `\a \b \f \n \r \t \v`; other characters below U+0020 and U+007F as
  /// `\xNN`; anything else non-printable as `\uNNNN`, or `\UNNNNNNNN` above U+FFFF (lowercase hex).
  ///
  /// "Printable" follows the Unicode tables of the Swift runtime; a character assigned in a newer
  /// Unicode version than the writer's Go knows may be escaped by one and not the other, and
  /// ``unquote(_:)`` reads both forms.
  public static func quote(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"", "\\":
        out += "\\"
        out.unicodeScalars.append(scalar)
      case _ where isPrint(scalar): out.unicodeScalars.append(scalar)
      case "\u{07}": out += "\\a"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{0B}": out += "\\v"
      case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\x" + hex(scalar.value, width: 2)
      case _ where scalar.value < 0x10000: out += "\\u" + hex(scalar.value, width: 4)
      default: out += "\\U" + hex(scalar.value, width: 8)
      }
    }
    return out + "\""
  }

  /// Go's `unicode.IsPrint`: general categories L, M, N, P and S, plus U+0020.
  static func isPrint(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " { return true }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
      .nonspacingMark, .spacingMark, .enclosingMark,
      .decimalNumber, .letterNumber, .otherNumber,
      .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation,
      .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
      return true
    default:
      return false
    }
  }

  /// Whether `key` is a Kubernetes annotation key (what kubelet writes unquoted before `=`): an
  /// optional DNS subdomain prefix (at most 253 characters) and `/`, then a name of at most 63
  /// characters of `A-Z a-z 0-9 - _ .` that starts and ends with a letter or digit.
  public static func isValidKey(_ key: String) -> Bool {
    let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    func isAlphanumeric(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
    let name = parts.last!
    guard !name.isEmpty, name.count <= 63, isAlphanumeric(name.first!), isAlphanumeric(name.last!),
      name.allSatisfy({ isAlphanumeric($0) || $0 == "-" || $0 == "_" || $0 == "." })
    else { return false }
    guard parts.count == 2 else { return true }
    let prefix = parts[0]
    guard !prefix.isEmpty, prefix.count <= 253 else { return false }
    return prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
      !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
        && label.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }
  }

  /// The inverse of ``quote(_:)``; nil when `text` is not one Go double-quoted literal. Reads every
  /// escape Go's `strconv.Unquote` reads: `\a \b \f \n \r \t \v \\ \"`, `\xNN` and octal `\NNN`
  /// bytes (invalid UTF-8 among them becomes U+FFFD), `\uNNNN` and `\UNNNNNNNN` (not surrogates).
  public static func unquote<S: StringProtocol>(_ text: S) -> String? {
    var scalars = Array(text.unicodeScalars)
    guard scalars.count >= 2, scalars.first == "\"", scalars.last == "\"" else { return nil }
    scalars = Array(scalars[1..<(scalars.count - 1)])
    var bytes: [UInt8] = []
    var i = 0
    func appendScalar(_ s: Unicode.Scalar) { bytes.append(contentsOf: Array(String(s).utf8)) }
    func hexValue(_ count: Int) -> UInt32? {
      guard i + count <= scalars.count else { return nil }
      let digits = String(String.UnicodeScalarView(scalars[i..<(i + count)]))
      i += count
      return UInt32(digits, radix: 16)
    }
    while i < scalars.count {
      let c = scalars[i]
      i += 1
      if c == "\"" { return nil }
      guard c == "\\" else {
        appendScalar(c)
        continue
      }
      guard i < scalars.count else { return nil }
      let e = scalars[i]
      i += 1
      switch e {
      case "n": bytes.append(0x0A)
      case "t": bytes.append(0x09)
      case "r": bytes.append(0x0D)
      case "a": bytes.append(0x07)
      case "b": bytes.append(0x08)
      case "f": bytes.append(0x0C)
      case "v": bytes.append(0x0B)
      case "\\", "\"", "'": appendScalar(e)
      case "x":
        guard let v = hexValue(2) else { return nil }
        bytes.append(UInt8(v))
      case "u", "U":
        guard let v = hexValue(e == "u" ? 4 : 8), let s = Unicode.Scalar(v) else { return nil }
        appendScalar(s)
      case "0"..."7":
        i -= 1
        guard i + 3 <= scalars.count,
          let v = UInt32(String(String.UnicodeScalarView(scalars[i..<(i + 3)])), radix: 8), v < 256
        else { return nil }
        i += 3
        bytes.append(UInt8(v))
      default: return nil
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  private static func hex(_ value: UInt32, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }
}
