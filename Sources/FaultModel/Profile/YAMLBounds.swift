import CYaml

// Bounds on what a profile may expand to, checked on libyaml's event stream before Yams composes the
// document. Yams's composer hashes every mapping key in full while composing (to find duplicate
// keys), so a few hundred bytes of nested aliases used as keys ("billion laughs") cost minutes of CPU
// before any of faultline's code sees a node. Yams does not expose its events, so this walks the same
// libyaml parser Yams bundles (its `CYaml` module): one pass, constant work per event, no nodes built.

/// The limits a profile document must stay within; each is far above what a real profile uses.
public enum ProfileLimits {
  /// The largest profile file, in bytes (1 MiB; a profile is a few hundred bytes).
  public static let maximumFileSize = 1 << 20
  /// The most aliases (`*name`) in one document.
  public static let maximumAliases = 256
  /// The most nodes one document may expand to, counting each alias as the nodes it stands for.
  public static let maximumExpandedNodes = 100_000
  /// The deepest nesting of lists and mappings.
  public static let maximumDepth = 64
}

/// Where a document breaks a ``ProfileLimits`` bound, or nil when it stays within them.
///
/// Aliases may be used as values (`interface: *iface`), never as a mapping key or inside one. A
/// syntax error ends the walk with nil: Yams then reports it, and composes no more than was walked.
func yamlBoundsViolation(_ text: String) -> (line: Int, column: Int, message: String)? {
  var bytes = Array(text.utf8)
  return bytes.withUnsafeMutableBufferPointer { buffer in
    let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
    defer { parser.deallocate() }
    guard yaml_parser_initialize(parser) == 1 else { return nil }
    defer { yaml_parser_delete(parser) }
    yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
    var walk = BoundsWalk()
    var event = yaml_event_t()
    while true {
      guard yaml_parser_parse(parser, &event) == 1 else { return nil }
      defer { yaml_event_delete(&event) }
      if event.type == YAML_STREAM_END_EVENT { return nil }
      if let message = walk.step(event) {
        return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1, message)
      }
    }
  }
}

/// The state of one walk over a document's events.
private struct BoundsWalk {
  /// An open list or mapping.
  struct Frame {
    var isMapping: Bool
    var anchor: String?
    /// The nodes it expands to so far (itself included).
    var size = 1
    /// For a mapping: whether the next node is a key.
    var expectsKey = true
    /// Whether this collection is a mapping key or inside one.
    var inKey: Bool
  }

  var stack: [Frame] = []
  var anchors: [String: Int] = [:]
  var aliases = 0
  var rootSize = 0

  /// Whether the node starting now is a key, or inside one.
  var nextIsInKey: Bool {
    guard let top = stack.last else { return false }
    return top.inKey || (top.isMapping && top.expectsKey)
  }

  mutating func step(_ event: yaml_event_t) -> String? {
    switch event.type {
    case YAML_SCALAR_EVENT:
      return finish(size: 1, anchor: string(event.data.scalar.anchor))
    case YAML_ALIAS_EVENT:
      let name = string(event.data.alias.anchor) ?? ""
      if nextIsInKey {
        return "the alias *\(name) is used as a mapping key (or inside one); aliases are allowed only "
          + "as values: write the key out"
      }
      aliases += 1
      if aliases > ProfileLimits.maximumAliases {
        return "more than \(ProfileLimits.maximumAliases) aliases in one document; write the values out"
      }
      return finish(size: anchors[name] ?? 1, anchor: nil)
    case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
      let isMapping = event.type == YAML_MAPPING_START_EVENT
      let anchor = string(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
      stack.append(Frame(isMapping: isMapping, anchor: anchor, inKey: nextIsInKey))
      if stack.count > ProfileLimits.maximumDepth {
        return "lists and mappings nested more than \(ProfileLimits.maximumDepth) deep"
      }
      return nil
    case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
      guard let frame = stack.popLast() else { return nil }
      return finish(size: frame.size, anchor: frame.anchor)
    case YAML_DOCUMENT_START_EVENT:
      stack = []
      anchors = [:]
      aliases = 0
      rootSize = 0
      return nil
    default:
      return nil
    }
  }

  /// Adds a finished node of `size` nodes to its parent, and remembers its anchor.
  mutating func finish(size: Int, anchor: String?) -> String? {
    if let anchor { anchors[anchor] = size }
    let total: Int
    if stack.isEmpty {
      rootSize = rootSize.addingReportingOverflow(size).partialValue
      total = rootSize
    } else {
      let (sum, overflow) = stack[stack.count - 1].size.addingReportingOverflow(size)
      stack[stack.count - 1].size = overflow ? .max : sum
      if stack[stack.count - 1].isMapping { stack[stack.count - 1].expectsKey.toggle() }
      total = stack[stack.count - 1].size
    }
    guard total <= ProfileLimits.maximumExpandedNodes else {
      guard aliases > 0 else {
        return "the document has more than \(ProfileLimits.maximumExpandedNodes) values; a profile has a "
          + "few dozen: split the file or remove what faultline does not read"
      }
      return "the document expands to more than \(ProfileLimits.maximumExpandedNodes) nodes through its "
        + "aliases; write the values out instead of nesting aliases"
    }
    return nil
  }

  func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
  }
}
