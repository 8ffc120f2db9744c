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

  /// A value that is out of range or malformed.
  public static func invalid(_ field: String, _ value: String, _ why: String) -> FaultError {
    FaultError(code: .invalid, field: field, message: "invalid \(field) \"\(value)\": \(why)")
  }

  /// A key that is not a netem field.
  public static func unknownKey(_ key: String, suggestion: String?) -> FaultError {
    let hint = suggestion.map { "; did you mean \"\($0)\"?" } ?? ""
    return FaultError(code: .unknownKey, field: key, message: "unknown netem field \"\(key)\"\(hint)")
  }

  /// No fault at all was given.
  public static func empty() -> FaultError {
    FaultError(
      code: .empty, field: nil,
      message:
        "no fault given: set at least one of delay, loss, loss-state, loss-gemodel, duplicate, corrupt, "
        + "reorder, rate or slot")
  }

  /// Whether this error is about a key that does not exist.
  public var isUnknownKey: Bool { code == .unknownKey }

  /// The message users see.
  public var description: String { message }
}
