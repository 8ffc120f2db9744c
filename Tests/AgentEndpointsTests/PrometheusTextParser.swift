/// A strict reader of the Prometheus text exposition format 0.0.4, for the tests: it fails on any
/// line it does not understand instead of skipping it.
struct PrometheusText {
  struct Sample: Hashable {
    var name: String
    var labels: [String: String]
    var value: Double
  }

  struct ParseError: Error, CustomStringConvertible {
    var line: Int
    var message: String
    var description: String { "line \(line): \(message)" }
  }

  /// Family name → type (`counter`, `gauge`, `histogram`, `summary`, `untyped`).
  var types: [String: String] = [:]
  /// Family name → help text.
  var help: [String: String] = [:]
  /// The samples in order.
  var samples: [Sample] = []

  init(_ text: String) throws {
    guard text.hasSuffix("\n") else { throw ParseError(line: 0, message: "does not end with a newline") }
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated()
    {
      let line = String(raw)
      let number = index + 1
      if line.hasPrefix("# HELP ") {
        let rest = line.dropFirst("# HELP ".count)
        guard let space = rest.firstIndex(of: " ") else {
          throw ParseError(line: number, message: "HELP without text")
        }
        help[String(rest[..<space])] = String(rest[rest.index(after: space)...])
      } else if line.hasPrefix("# TYPE ") {
        let words = line.dropFirst("# TYPE ".count).split(separator: " ")
        guard words.count == 2, ["counter", "gauge", "histogram", "summary", "untyped"].contains(words[1])
        else {
          throw ParseError(line: number, message: "bad TYPE line \(line)")
        }
        let name = String(words[0])
        guard types[name] == nil else { throw ParseError(line: number, message: "second TYPE for \(name)") }
        guard !samples.contains(where: { Self.family(of: $0.name, types: [name: String(words[1])]) == name })
        else {
          throw ParseError(line: number, message: "TYPE for \(name) after its samples")
        }
        types[name] = String(words[1])
      } else if line.hasPrefix("#") || line.isEmpty {
        throw ParseError(line: number, message: "unexpected line \"\(line)\"")
      } else {
        samples.append(try Self.sample(line, number))
      }
    }
  }

  /// The family a sample name belongs to, given the declared types (`x_bucket` → `x` for a histogram).
  static func family(of sampleName: String, types: [String: String]) -> String? {
    if types[sampleName] != nil { return sampleName }
    for suffix in ["_bucket", "_sum", "_count"] where sampleName.hasSuffix(suffix) {
      let base = String(sampleName.dropLast(suffix.count))
      if let type = types[base], type == "histogram" || (type == "summary" && suffix != "_bucket") {
        return base
      }
    }
    return nil
  }

  /// The value of the sample named `name` whose labels include `labels`.
  func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
    samples.first { sample in
      sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
    }?.value
  }

  private static func sample(_ line: String, _ number: Int) throws -> Sample {
    var rest = Substring(line)
    let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }
    guard let first = name.first, !first.isNumber else {
      throw ParseError(line: number, message: "bad metric name")
    }
    rest = rest.dropFirst(name.count)
    var labels: [String: String] = [:]
    if rest.first == "{" {
      rest = rest.dropFirst()
      while rest.first != "}" {
        let key = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        guard !key.isEmpty else { throw ParseError(line: number, message: "bad label name") }
        rest = rest.dropFirst(key.count)
        guard rest.hasPrefix("=\"") else {
          throw ParseError(line: number, message: "expected =\" after \(key)")
        }
        rest = rest.dropFirst(2)
        var value = ""
        while true {
          guard let character = rest.first else {
            throw ParseError(line: number, message: "unterminated label value")
          }
          rest = rest.dropFirst()
          if character == "\"" { break }
          if character == "\\" {
            switch rest.first {
            case "\\": value.append("\\")
            case "\"": value.append("\"")
            case "n": value.append("\n")
            default: throw ParseError(line: number, message: "bad escape in label value")
            }
            rest = rest.dropFirst()
          } else {
            value.append(character)
          }
        }
        guard labels.updateValue(value, forKey: String(key)) == nil else {
          throw ParseError(line: number, message: "label \(key) twice")
        }
        if rest.first == "," {
          rest = rest.dropFirst()
        } else if rest.first != "}" {
          throw ParseError(line: number, message: "expected , or } in labels")
        }
      }
      rest = rest.dropFirst()
    }
    guard rest.first == " " else {
      throw ParseError(line: number, message: "expected a space before the value")
    }
    let valueText = rest.dropFirst()
    let value: Double?
    switch valueText {
    case "+Inf": value = .infinity
    case "-Inf": value = -.infinity
    case "NaN": value = .nan
    default: value = Double(valueText)
    }
    guard let value else { throw ParseError(line: number, message: "bad value \"\(valueText)\"") }
    return Sample(name: String(name), labels: labels, value: value)
  }
}
