import AsyncHTTPClient
import Logging
import TraceAnalysis

/// Opens the span source a ``BackendConfiguration`` names, with an HTTP client of its own that is
/// shut down when `body` returns.
public enum BackendSource {
  /// Runs `body` with the source.
  ///
  /// - Throws: ``TraceBackendError`` for a bad URL or a Jaeger source without `--service`, and
  ///   what `body` throws.
  public static func with<Result: Sendable>(
    _ configuration: BackendConfiguration, isolation: isolated (any Actor)? = #isolation,
    _ body: (any SpanSource) async throws -> Result
  ) async throws -> Result {
    guard configuration.baseURL.hasPrefix("http://") || configuration.baseURL.hasPrefix("https://") else {
      throw TraceBackendError.badURL(configuration.baseURL)
    }
    if configuration.api != .tempo && configuration.services.isEmpty {
      throw TraceBackendError.needsService(configuration.api.rawValue)
    }
    let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
    let http = BackendHTTP(client: client, configuration: configuration)
    let source: any SpanSource =
      switch configuration.api {
      case .jaegerV3: JaegerV3Source(http: http)
      case .jaegerLegacy: JaegerLegacySource(http: http)
      case .tempo: TempoSource(http: http)
      }
    let result: Result
    do {
      result = try await body(source)
    } catch {
      try? await client.shutdown()
      throw error
    }
    try await client.shutdown()
    return result
  }
}
