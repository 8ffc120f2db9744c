/// A problem in a profile file, pointing at the node that causes it.
///
/// The ``description`` is `FILE:LINE:COLUMN: field.path: message`, the form compilers use, so editors
/// and CI annotate the line. Issues about a whole file that has no position (it cannot be read) have
/// line and column 0 and read `FILE: message`.
public struct ProfileIssue: Error, Sendable, Hashable, CustomStringConvertible {
  /// The file path as given to the loader.
  public var file: String
  /// 1-based line of the offending node; 0 when the issue is about the whole file.
  public var line: Int
  /// 1-based column of the offending node, in Unicode scalars; 0 when the issue is about the whole file.
  public var column: Int
  /// The dotted path of the offending field, e.g. `netem.delay` or `spec.delay.latency`; empty for a
  /// YAML syntax error or a file-level problem.
  public var fieldPath: String
  /// What is wrong and what is allowed.
  public var message: String

  /// An issue at `file`:`line`:`column`.
  public init(file: String, line: Int, column: Int, fieldPath: String, message: String) {
    self.file = file
    self.line = line
    self.column = column
    self.fieldPath = fieldPath
    self.message = message
  }

  /// `FILE:LINE:COLUMN: field.path: message` (parts that are not known are left out).
  public var description: String {
    var text = file
    if line > 0 { text += ":\(line):\(column)" }
    if !fieldPath.isEmpty { text += ": \(fieldPath)" }
    return text + ": " + message
  }
}
