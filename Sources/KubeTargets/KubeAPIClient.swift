import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Lists and watches pods on the Kubernetes API server (async-http-client, JSON).
///
/// Create one with ``withClient(configuration:logger:isolation:_:)``, which shuts the HTTP client
/// down when the body returns, or around an `HTTPClient` the caller owns with
/// ``init(configuration:httpClient:logger:)`` (build it from
/// ``KubeAPIConfiguration/httpClientConfiguration()``).
public final class KubeAPIClient: Sendable {
  /// The server and its credentials.
  public let configuration: KubeAPIConfiguration
  private let http: HTTPClient
  let logger: Logger

  /// A client that sends its requests through `httpClient` (which the caller shuts down).
  public init(configuration: KubeAPIConfiguration, httpClient: HTTPClient, logger: Logger) {
    self.configuration = configuration
    self.http = httpClient
    self.logger = logger
  }

  /// Runs `body` with a client of its own HTTP connection pool, shut down when `body` returns.
  ///
  /// - Throws: ``KubeTargetsError`` when the CA file is unusable, or what `body` throws.
  public static func withClient<Result>(
    configuration: KubeAPIConfiguration, logger: Logger, isolation: isolated (any Actor)? = #isolation,
    _ body: (KubeAPIClient) async throws -> Result
  ) async throws -> Result {
    let httpConfiguration = try configuration.httpClientConfiguration()
    let http = HTTPClient(
      eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration,
      backgroundActivityLogger: logger)
    let result: Result
    do {
      result = try await body(KubeAPIClient(configuration: configuration, httpClient: http, logger: logger))
    } catch {
      try? await http.shutdown()
      throw error
    }
    try await http.shutdown()
    return result
  }

  /// One list of the pods `query` selects (`GET /api/v1/[namespaces/NS/]pods?fieldSelector=…`).
  ///
  /// - Throws: ``KubeTargetsError`` (unreachable, an error status, or an unexpected body).
  public func listPods(_ query: PodQuery) async throws -> PodList {
    let target = query.requestTarget()
    let response = try await send(target)
    let url = configuration.baseURL + target
    let body = try await collect(response.body, url: url)
    guard response.status.code == 200 else {
      throw KubeTargetsError.httpStatus(url, status: Int(response.status.code), message: statusMessage(body))
    }
    do {
      var list = try JSONDecoder().decode(PodList.self, from: body)
      list.items = list.items.filter { query.matches($0) }
      return list
    } catch {
      throw KubeTargetsError.invalidResponse(url, "not a PodList: \(error)")
    }
  }

  /// Watches the pods `query` selects: an initial list, then `watch=1` streams from its resource
  /// version, each change yielded with the whole set. Reconnects when the server ends a stream,
  /// relists after `410 Gone`, retries failures with backoff; see ``PodWatch``.
  public func watchPods(_ query: PodQuery) -> PodWatch {
    PodWatch(client: self, query: query)
  }

  /// Opens a watch stream from `resourceVersion`; the body streams one JSON event per line.
  func openWatch(_ query: PodQuery, resourceVersion: String) async throws -> HTTPClientResponse.Body {
    let seconds = max(1, Int(KubeAPIConfiguration.nanoseconds(configuration.watchTimeout) / 1_000_000_000))
    let target = query.requestTarget(watch: true, resourceVersion: resourceVersion, timeoutSeconds: seconds)
    let response = try await send(target)
    guard response.status.code == 200 else {
      let url = configuration.baseURL + target
      let body = try await collect(response.body, url: url)
      throw KubeTargetsError.httpStatus(url, status: Int(response.status.code), message: statusMessage(body))
    }
    return response.body
  }

  /// Sets (or, for nil values, removes) annotations on a pod with a JSON merge patch
  /// (`PATCH /api/v1/namespaces/NS/pods/NAME`, `application/merge-patch+json`); needs `patch` on pods.
  public func patchPodAnnotations(namespace: String, name: String, annotations: [String: String?])
    async throws
  {
    let target = "/api/v1/namespaces/\(namespace)/pods/\(name)"
    var values: [String: Any] = [:]
    for (key, value) in annotations { values[key] = value.map { $0 as Any } ?? NSNull() }
    let body = try JSONSerialization.data(
      withJSONObject: ["metadata": ["annotations": values]], options: [.sortedKeys, .withoutEscapingSlashes])
    let response = try await send(
      target, method: .PATCH, body: body, contentType: "application/merge-patch+json")
    let data = try await collect(response.body, url: configuration.baseURL + target)
    guard response.status.code / 100 == 2 else {
      throw KubeTargetsError.httpStatus(
        configuration.baseURL + target, status: Int(response.status.code), message: statusMessage(data))
    }
  }

  /// Sends `GET target` (or `method` with `body`) with the bearer token (read now: projected tokens
  /// rotate).
  private func send(
    _ target: String, method: HTTPMethod = .GET, body: Data? = nil, contentType: String? = nil
  ) async throws -> HTTPClientResponse {
    let url = configuration.baseURL + target
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
      request.body = .bytes(ByteBuffer(bytes: body))
      if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
    }
    request.headers.add(name: "Accept", value: "application/json")
    request.headers.add(name: "User-Agent", value: "faultline")
    if let tokenFile = configuration.tokenFile {
      let token: String
      do { token = try readSmallFile(tokenFile).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
        throw KubeTargetsError.unreadable(tokenFile, errno: error)
      }
      request.headers.add(name: "Authorization", value: "Bearer \(token)")
    }
    logger.trace("kube api request", metadata: ["url": "\(url)"])
    do {
      return try await http.execute(
        request, timeout: .nanoseconds(KubeAPIConfiguration.nanoseconds(configuration.requestTimeout)),
        logger: logger)
    } catch is CancellationError {
      throw CancellationError()
    } catch {
      throw KubeTargetsError.unreachable(configuration.baseURL, describeTransportError(error))
    }
  }

  /// The whole body (at most 256 MiB).
  private func collect(_ body: HTTPClientResponse.Body, url: String) async throws -> Data {
    do {
      var buffer = try await body.collect(upTo: 256 << 20)
      return Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
    } catch is CancellationError {
      throw CancellationError()
    } catch {
      throw KubeTargetsError.unreachable(
        configuration.baseURL, "reading \(url): \(describeTransportError(error))")
    }
  }

  /// The `message` of a `v1.Status` body, else the body's first line.
  private func statusMessage(_ body: Data) -> String {
    struct Status: Decodable { var message: String? }
    if let message = (try? JSONDecoder().decode(Status.self, from: body))?.message { return message }
    let text = String(decoding: body.prefix(300), as: UTF8.self)
    return text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
  }
}

/// A short description of an async-http-client / NIO error ("connection refused", "timed out").
func describeTransportError(_ error: any Error) -> String {
  let text = String(describing: error)
  let lowered = text.lowercased()
  if lowered.contains("connection refused") { return "connection refused" }
  if lowered.contains("connecttimeout") || lowered.contains("connect timeout") {
    return "connection timed out"
  }
  if lowered.contains("deadlineexceeded") || lowered.contains("readtimeout") { return "timed out" }
  if lowered.contains("no such host") || lowered.contains("dnsaerror") || lowered.contains("dnsaaaaerror") {
    return "cannot resolve the host name"
  }
  if lowered.contains("certificate") || lowered.contains("handshake") { return "TLS failure: \(text)" }
  return text
}
