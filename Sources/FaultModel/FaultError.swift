/// A fault description that cannot be applied: the field, the value and what is allowed.
public struct FaultError: Error, Hashable, Sendable, CustomStringConvertible {
  private enum Code: Hashable, Sendable {
    case invalid
    case unknownKey
    case empty
  }

  private let code: Code
  /// The field (CLI flag name) at fault, if any.
  public let field: String?
  /// The message, without the field name.
  public let message: String
  /// Why the value was refused, without the field and the value (for a caller that names them
  /// itself, as argument-parser does); the whole message for other errors.
  public let reason: String

  /// A value that is out of range or malformed.
  public static func invalid(_ field: String, _ value: String, _ why: String) -> FaultError {
    FaultError(code: .invalid, field: field, message: "invalid \(field) \"\(value)\": \(why)", reason: why)
  }

  /// A key that is not a netem field.
  public static func unknownKey(_ key: String, suggestion: String?) -> FaultError {
    let hint = suggestion.map { "; did you mean \"\($0)\"?" } ?? ""
    let message = "unknown netem field \"\(key)\"\(hint)"
    return FaultError(code: .unknownKey, field: key, message: message, reason: message)
  }

  /// No fault at all was given.
  public static func empty() -> FaultError {
    let message =
      "no fault given: set at least one of delay, loss, loss-state, loss-gemodel, duplicate, corrupt, "
      + "reorder, rate or slot"
    return FaultError(code: .empty, field: nil, message: message, reason: message)
  }

  /// Whether this error is about a key that does not exist.
  public var isUnknownKey: Bool { code == .unknownKey }

  /// The message users see.
  public var description: String { message }
}
