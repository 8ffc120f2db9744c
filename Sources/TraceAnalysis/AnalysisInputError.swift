/// Input `faultline analyze` cannot work with: exit status 2.
public struct AnalysisInputError: Error, Hashable, Sendable, CustomStringConvertible {
  private enum Code: Hashable, Sendable {
    case badRange(text: String, reason: String)
    case badCondition(text: String, reason: String)
    case experimentNotFound(selector: String, seen: [String])
    case noWindows
    case noWindowsInRange(selector: String, windows: Int)
    case unknownScope(condition: String, scope: String, known: [String])
  }

  private let code: Code

  static func badRange(_ text: String, reason: String) -> Self {
    Self(code: .badRange(text: text, reason: reason))
  }

  static func badCondition(_ text: String, reason: String) -> Self {
    Self(code: .badCondition(text: text, reason: reason))
  }

  static func experimentNotFound(_ selector: String, seen: [String]) -> Self {
    Self(code: .experimentNotFound(selector: selector, seen: seen))
  }

  static let noWindows = Self(code: .noWindows)

  static func noWindowsInRange(_ selector: String, windows: Int) -> Self {
    Self(code: .noWindowsInRange(selector: selector, windows: windows))
  }

  static func unknownScope(_ condition: String, scope: String, known: [String]) -> Self {
    Self(code: .unknownScope(condition: condition, scope: scope, known: known))
  }

  /// What is wrong and what to give instead.
  public var description: String {
    switch code {
    case .badRange(let text, let reason):
      return "bad time range \"\(text)\": \(reason); write START/END as RFC 3339 "
        + "(2025-03-01T10:00:00Z/2025-03-01T10:05:00Z) or Unix seconds (1740823200/1740823500)"
    case .badCondition(let text, let reason):
      return "bad --fail-if \"\(text)\": \(reason); write [SERVICE[:OPERATION]] METRIC OP VALUE, "
        + "e.g. 'p99 > +50%', 'error_rate > 1%', 'order:GET /pay p99 > 200ms' (see faultline analyze --help)"
    case .experimentNotFound(let selector, let seen):
      let list =
        seen.isEmpty ? "none (is faultline exporting its spans to this file?)" : seen.joined(separator: ", ")
      return
        "no chaos.experiment span with id or name \"\(selector)\" in the input; experiments there: \(list)"
    case .noWindows:
      return "nothing to compare: give --experiment ID|NAME or --window START/END"
    case .noWindowsInRange(let selector, let windows):
      return "experiment \"\(selector)\" has \(windows) window\(windows == 1 ? "" : "s") in the input, "
        + "but none inside --range; widen the range or drop it"
    case .unknownScope(let condition, let scope, let known):
      let list = known.prefix(12).joined(separator: ", ") + (known.count > 12 ? ", …" : "")
      return "--fail-if \"\(condition)\": no spans of \"\(scope)\" in the window or baseline; seen: \(list)"
    }
  }
}
