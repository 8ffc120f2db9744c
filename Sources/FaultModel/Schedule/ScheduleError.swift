/// A schedule that cannot be parsed: says which field and why, with what is allowed.
///
/// The ``description`` is one line meant for people, for example
/// `minute field "61": value out of range 0-59` or `@every: "10" has no unit; use e.g. 10s, 10m, 1h`.
public struct ScheduleError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The part that is wrong: `"minute"`, `"hour"`, `"day-of-month"`, `"month"`, `"day-of-week"` or
  /// `"@every"`; `nil` when the expression as a whole is malformed (empty, wrong number of fields,
  /// unknown macro).
  public let field: String?
  /// The offending text: the list element of a cron field, the `@every` duration, or the whole
  /// expression when ``field`` is `nil`.
  public let text: String
  /// What was wrong and what is allowed, without the field prefix, e.g. `value out of range 0-59`.
  public let reason: String
  /// The complete one-line message: field, offending text and reason.
  public let description: String

  init(field: String, text: String, reason: String) {
    self.field = field
    self.text = text
    self.reason = reason
    self.description = "\(field) field \"\(text)\": \(reason)"
  }

  init(expression text: String, reason: String) {
    self.field = nil
    self.text = text
    self.reason = reason
    self.description = reason
  }

  init(every text: String, _ error: DurationParseError) {
    self.field = "@every"
    self.text = text
    self.reason = error.message
    self.description = "@every: \(error.message)"
  }

  init(every text: String, reason: String) {
    self.field = "@every"
    self.text = text
    self.reason = reason
    self.description = "@every: \(reason)"
  }
}
