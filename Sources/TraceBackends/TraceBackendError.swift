/// A tracing backend that could not be queried: `faultline analyze` exits with status 2.
public struct TraceBackendError: Error, Hashable, Sendable, CustomStringConvertible {
  private enum Code: Hashable, Sendable {
    case unreachable(url: String, reason: String)
    case httpStatus(url: String, status: Int, message: String)
    case tooLarge(url: String, limit: Int)
    case invalidResponse(url: String, reason: String)
    case needsService(api: String)
    case badURL(url: String)
  }

  private let code: Code

  static func unreachable(_ url: String, _ reason: String) -> Self {
    Self(code: .unreachable(url: url, reason: reason))
  }

  static func httpStatus(_ url: String, status: Int, message: String) -> Self {
    Self(code: .httpStatus(url: url, status: status, message: message))
  }

  static func tooLarge(_ url: String, limit: Int) -> Self { Self(code: .tooLarge(url: url, limit: limit)) }

  static func invalidResponse(_ url: String, _ reason: String) -> Self {
    Self(code: .invalidResponse(url: url, reason: reason))
  }

  static func needsService(_ api: String) -> Self { Self(code: .needsService(api: api)) }

  static func badURL(_ url: String) -> Self { Self(code: .badURL(url: url)) }

  /// What failed and what to check.
  public var description: String {
    switch code {
    case .unreachable(let url, let reason):
      return "cannot reach \(url): \(reason); check the URL and that the query service listens there"
    case .httpStatus(let url, let status, let message):
      var text = "\(url): HTTP \(status)"
      if !message.isEmpty { text += ": \(message)" }
      if status == 404 && url.contains("/api/traces?") {
        text += " (recent Jaeger v2 releases removed the /api/traces search; use --jaeger for api_v3)"
      }
      return text
    case .tooLarge(let url, let limit):
      return
        "\(url): the response is larger than \(limit >> 20) MiB; narrow the range, lower --max-traces or raise "
        + "--max-response-mib"
    case .invalidResponse(let url, let reason):
      return "\(url): unexpected response (\(reason)); is this the right API for this backend?"
    case .needsService(let api):
      return "--\(api) searches traces per service: name the application's entry service with --service NAME"
    case .badURL(let url):
      return "\"\(url)\" is not an http:// or https:// URL"
    }
  }
}
