import Foundation
import Yams

// The YAML layer of profile parsing: splitting a file into documents, composing each into nodes with
// positions, and reading mappings and scalars while collecting issues. Pure: text in, values out.

/// One document's text: the whole file with every line outside the document blanked, so that line and
/// column numbers from the YAML parser are the file's own.
struct YAMLDocumentText {
  /// The document's text, padded with empty lines in front.
  var text: String
  /// 1-based line where the document starts.
  var firstLine: Int
}

/// Splits a YAML stream at its document markers (`---` and `...` at the start of a line).
///
/// Each document is parsed on its own, so a syntax error in one does not hide the problems of the
/// others. A `---` at column 0 can only be a document marker in YAML, so splitting there is exact.
func splitYAMLDocuments(_ text: String) -> [YAMLDocumentText] {
  var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
    line.hasSuffix("\r") ? line.dropLast() : line
  }
  if lines.last?.isEmpty == true { lines.removeLast() }
  func isMarker(_ line: Substring, _ marker: String) -> Bool {
    guard line.hasPrefix(marker) else { return false }
    let rest = line.dropFirst(marker.count)
    return rest.isEmpty || rest.first == " " || rest.first == "\t"
  }
  func isFiller(_ line: Substring) -> Bool {
    let trimmed = line.drop { $0 == " " || $0 == "\t" }
    return trimmed.isEmpty || trimmed.hasPrefix("#") || line.hasPrefix("%")
  }
  var ranges: [Range<Int>] = []
  var start = 0
  var hasContent = false
  for (index, line) in lines.enumerated() {
    if isMarker(line, "---") {
      if hasContent {
        ranges.append(start..<index)
        start = index
      }
      hasContent = true
    } else if isMarker(line, "...") {
      ranges.append(start..<(index + 1))
      start = index + 1
      hasContent = false
    } else if !isFiller(line) {
      hasContent = true
    }
  }
  if hasContent { ranges.append(start..<lines.count) }
  return ranges.map { range in
    let padding = String(repeating: "\n", count: range.lowerBound)
    return YAMLDocumentText(
      text: padding + lines[range].joined(separator: "\n") + "\n", firstLine: range.lowerBound + 1)
  }
}

/// Reads one document's nodes, collecting every problem as a ``ProfileIssue``.
struct DocumentReader {
  /// The file the document is in.
  let file: String
  /// Where problems about the document as a whole are reported.
  var start: (line: Int, column: Int)
  /// The problems found so far.
  var issues: [ProfileIssue] = []

  init(file: String, line: Int, column: Int) {
    self.file = file
    self.start = (line, column)
  }

  /// Records a problem at `node` (the document start when `node` has no position).
  mutating func report(_ node: Node?, _ path: String, _ message: String) {
    let mark = node?.mark
    issues.append(
      ProfileIssue(
        file: file, line: mark?.line ?? start.line, column: mark?.column ?? start.column, fieldPath: path,
        message: message))
  }

  /// The fields of a mapping node, reporting a node that is not a mapping and every key not in
  /// `known` (with the closest known key as a suggestion). Returns nil when `node` is not a mapping.
  mutating func mapping(_ node: Node, path: String, known: [String], noun: String = "field") -> Fields? {
    guard let mapping = node.mapping else {
      report(node, path, "expected a mapping (key: value lines), found \(describe(node))")
      return nil
    }
    var fields = Fields(path: path, node: node)
    for (keyNode, value) in mapping {
      guard let key = keyNode.scalar?.string else {
        report(keyNode, path, "keys must be plain text, found \(describe(keyNode))")
        continue
      }
      guard known.contains(key) else {
        let hint = closestMatch(to: key, in: known).map { "; did you mean \"\($0)\"?" } ?? ""
        report(keyNode, join(path, key), "unknown \(noun) \"\(key)\"\(hint)")
        continue
      }
      fields.entries.append(Fields.Entry(name: key, key: keyNode, value: value))
    }
    return fields
  }

  /// The text of a scalar node, reporting null values, lists and mappings.
  mutating func text(_ node: Node, path: String) -> String? {
    guard let scalar = node.scalar else {
      report(node, path, "expected a single value, found \(describe(node))")
      return nil
    }
    if node.null != nil {
      report(node, path, "has no value")
      return nil
    }
    return scalar.string
  }

  /// The text of field `name` if present (see ``text(_:path:)``).
  mutating func text(_ fields: Fields, _ name: String) -> String? {
    guard let node = fields[name] else { return nil }
    return text(node, path: fields.path(name))
  }

  /// The items of a sequence node, reporting anything else.
  mutating func sequence(_ node: Node, path: String) -> [Node]? {
    guard let sequence = node.sequence else {
      report(node, path, "expected a list, found \(describe(node))")
      return nil
    }
    return Array(sequence)
  }

  /// Composes one document, reporting a syntax error or a document beyond ``ProfileLimits`` (checked
  /// first, so a bomb costs milliseconds). Returns nil for an empty document or an error.
  mutating func compose(_ document: YAMLDocumentText) -> Node? {
    if let (line, column, message) = yamlBoundsViolation(document.text) {
      issues.append(ProfileIssue(file: file, line: line, column: column, fieldPath: "", message: message))
      return nil
    }
    do {
      let parser = try Parser(yaml: document.text)
      return try parser.nextRoot()
    } catch let error as YamlError {
      let (line, column, message) = yamlErrorPosition(error, in: document.text)
      issues.append(ProfileIssue(file: file, line: line, column: column, fieldPath: "", message: message))
    } catch {
      issues.append(
        ProfileIssue(
          file: file, line: document.firstLine, column: 1, fieldPath: "", message: "invalid YAML: \(error)"))
    }
    return nil
  }

  private func yamlErrorPosition(_ error: YamlError, in text: String) -> (Int, Int, String) {
    func contextText(_ context: YamlError.Context?) -> String {
      guard let context else { return "" }
      return " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
    }
    switch error {
    case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
      .composer(let context, let problem, let mark, _):
      return (mark.line, mark.column, "invalid YAML: \(problem)\(contextText(context))")
    case .duplicatedKeysInMapping(let duplicates, let context):
      let names = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
      return (
        context.mark.line, context.mark.column,
        "invalid YAML: duplicate key \(names) in one mapping; each key may appear only once"
      )
    case .reader(let problem, let offset, _, _):
      var line = 1
      var column = 1
      if let offset {
        for byte in text.utf8.prefix(offset) {
          if byte == UInt8(ascii: "\n") {
            line += 1
            column = 1
          } else if byte & 0xC0 != 0x80 {
            column += 1
          }
        }
      }
      return (line, column, "invalid YAML: \(problem)")
    default:
      return (start.line, start.column, "invalid YAML: \(error)")
    }
  }
}

/// The known fields of one mapping, in file order.
struct Fields {
  /// One key and its value.
  struct Entry {
    var name: String
    var key: Node
    var value: Node
  }

  /// The mapping's own field path.
  let path: String
  /// The mapping node.
  let node: Node
  /// The known fields, in file order.
  var entries: [Entry] = []

  /// The value of field `name`, if present.
  subscript(_ name: String) -> Node? { entries.first { $0.name == name }?.value }

  /// The key node of field `name`, if present.
  func key(_ name: String) -> Node? { entries.first { $0.name == name }?.key }

  /// The field path of `name` in this mapping.
  func path(_ name: String) -> String { join(path, name) }

  /// Whether field `name` is present with a value that is not null, an empty list or an empty mapping.
  func isSet(_ name: String) -> Bool {
    guard let value = self[name] else { return false }
    if value.null != nil { return false }
    if let sequence = value.sequence, sequence.isEmpty { return false }
    if let mapping = value.mapping, mapping.isEmpty { return false }
    return true
  }
}

/// `a.b`, or `b` when `a` is empty.
func join(_ path: String, _ name: String) -> String {
  path.isEmpty ? name : "\(path).\(name)"
}

/// `a list`, `a mapping`, `"text"`: how a node is named in messages.
func describe(_ node: Node) -> String {
  switch node {
  case .mapping: "a mapping"
  case .sequence: "a list"
  case .scalar(let scalar): node.null != nil ? "no value" : "\"\(scalar.string)\""
  case .alias: "an alias"
  }
}
