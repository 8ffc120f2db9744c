/// Builds HTML and SVG text with every value escaped: span names, services and attribute values
/// come from whoever sent the spans, so none of them may reach the page as markup.
struct HTMLText {
  private(set) var markup = ""

  /// `value` with `& < > " '` as character references (safe in text and in quoted attributes).
  static func escape(_ value: String) -> String {
    var out = ""
    out.reserveCapacity(value.utf8.count)
    for character in value {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(character)
      }
    }
    return out
  }

  /// Appends markup written here (never span data).
  mutating func raw(_ written: String) { markup += written }

  /// Appends `value`, escaped.
  mutating func text(_ value: String) { markup += Self.escape(value) }

  /// `<tag attributes>` + escaped `content` + `</tag>`; attribute values are escaped.
  mutating func element(_ tag: String, _ attributes: [(String, String)] = [], _ content: String) {
    open(tag, attributes)
    text(content)
    close(tag)
  }

  /// `<tag attributes>`, attribute values escaped.
  mutating func open(_ tag: String, _ attributes: [(String, String)] = []) {
    markup += "<" + tag
    for (name, value) in attributes { markup += " \(name)=\"\(Self.escape(value))\"" }
    markup += ">"
  }

  /// `</tag>`.
  mutating func close(_ tag: String) { markup += "</\(tag)>" }
}
