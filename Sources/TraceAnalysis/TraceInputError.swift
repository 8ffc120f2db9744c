/// A span file that cannot be read at all (a malformed line is not this: it is skipped and counted).
public struct TraceInputError: Error, Hashable, Sendable, CustomStringConvertible {
  private enum Code: Hashable, Sendable {
    case unreadable(path: String, reason: String)
    case gzip(reason: String)
    case gzipIn(path: String, reason: String)
  }

  private let code: Code

  /// `path` cannot be opened or read.
  public static func unreadable(_ path: String, reason: String) -> Self {
    Self(code: .unreadable(path: path, reason: reason))
  }

  static func gzip(_ reason: String) -> Self { Self(code: .gzip(reason: reason)) }

  /// The same gzip error, naming the file.
  func naming(_ path: String) -> Self {
    if case .gzip(let reason) = code { return Self(code: .gzipIn(path: path, reason: reason)) }
    return self
  }

  /// What went wrong and what to check.
  public var description: String {
    switch code {
    case .unreadable(let path, let reason):
      "\(path): cannot read (\(reason)); give an OTLP JSON file as the Collector's file exporter writes it"
    case .gzip(let reason): "gzip: \(reason)"
    case .gzipIn(let path, let reason):
      "\(path): corrupt gzip data (\(reason)); check the file with `gzip -t \(path)`"
    }
  }
}
