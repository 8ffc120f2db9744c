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
    for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
      guard let equals = line.firstIndex(of: "=") else { continue }
      let key = String(line[..<equals])
      guard let value = unquote(line[line.index(after: equals)...]) else { continue }
      result[key] = value
    }
    return result
  }

  /// Go's `strconv.Quote`: `"` and `\` escaped, control characters as `\n`, `\t`, `\xNN`, ….
  public static func quote(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{07}": out += "\\a"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      case "\u{0B}": out += "\\v"
      default:
        if scalar.value < 0x20 || scalar.value == 0x7F {
          out += "\\x" + hex(scalar.value, width: 2)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  /// The inverse of ``quote(_:)``; nil when `text` is not one Go double-quoted literal.
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
