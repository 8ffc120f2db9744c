import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A small HTTP/1.1 server on 127.0.0.1 (a kernel-chosen port) that answers each GET with what
/// `route` returns for its path and query: it stands in for Jaeger's and Tempo's query services,
/// which cannot be installed here, serving recorded bodies from Fixtures/.
final class FixtureServer: Sendable {
  struct Answer: Sendable {
    var status: HTTPResponseStatus
    var body: [UInt8]
    var contentType = "application/json"
  }

  typealias Route = @Sendable (_ path: String, _ query: [String: String]) -> Answer

  private let channel: any Channel
  private let log: RequestLog

  /// `http://127.0.0.1:PORT`.
  let url: String

  /// The request targets received so far, in order.
  var requests: [String] { log.all }

  init(_ route: @escaping Route) async throws {
    let log = RequestLog()
    self.log = log
    channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline()
          try channel.pipeline.syncOperations.addHandler(Handler(route: route, log: log))
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    url = "http://127.0.0.1:\(channel.localAddress!.port!)"
  }

  func shutdown() async throws { try await channel.close() }

  /// Splits `a=1&b=x%20y` into a dictionary (the last value of a repeated key wins).
  static func parameters(_ query: Substring) -> [String: String] {
    var result: [String: String] = [:]
    for pair in query.split(separator: "&") {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      let key = String(parts[0]).removingPercentEncoding ?? String(parts[0])
      let value = parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? String(parts[1]) : ""
      result[key] = value
    }
    return result
  }

  private final class RequestLog: Sendable {
    private let entries = Mutex<[String]>([])
    func append(_ uri: String) { entries.withLock { $0.append(uri) } }
    var all: [String] { entries.withLock { $0 } }
  }

  /// One connection's requests, answered in order (it lives on the connection's event loop).
  private final class Handler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let route: Route
    let log: RequestLog
    var head: HTTPRequestHead?

    init(route: @escaping Route, log: RequestLog) {
      self.route = route
      self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      switch Self.unwrapInboundIn(data) {
      case .head(let request): head = request
      case .body: break
      case .end:
        guard let request = head else { return }
        log.append(request.uri)
        let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let answer = route(String(parts[0]), FixtureServer.parameters(parts.count > 1 ? parts[1] : ""))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        let responseHead = HTTPResponseHead(version: request.version, status: answer.status, headers: headers)
        context.write(Self.wrapOutboundOut(.head(responseHead)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
      }
    }
  }
}

/// Runs `body` with a ``FixtureServer`` serving `route`, and closes the server afterwards.
@discardableResult
func withFixtureServer<T>(
  _ route: @escaping FixtureServer.Route, isolation: isolated (any Actor)? = #isolation,
  _ body: (FixtureServer) async throws -> T
) async throws -> T {
  let server = try await FixtureServer(route)
  do {
    let result = try await body(server)
    try await server.shutdown()
    return result
  } catch {
    try? await server.shutdown()
    throw error
  }
}

/// The recorded bodies under Fixtures/ and the routes that serve them as each backend would.
enum BackendFixtures {
  static let directory: String = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent()
    return url.path + "/Fixtures"
  }()

  /// 2023-11-14T22:13:20Z, the scenario's start (make_fixtures.py's T0).
  static let t0: Int64 = 1_700_000_000
  static let experimentID = "5e1f0c2d9a8b47c6b3e2d1f0a9b8c7d6"
  /// The scenario and a margin on both sides, as `--range` takes it.
  static let range = "1699999990/1700000130"

  static func file(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: directory + "/" + path).map { Array($0) }
  }

  static func json(_ status: HTTPResponseStatus, _ text: String) -> FixtureServer.Answer {
    FixtureServer.Answer(status: status, body: Array(text.utf8))
  }

  /// Jaeger's api_v3 gateway: a search per service; a service with no traces gets its 404.
  static let jaegerV3: FixtureServer.Route = { path, query in
    guard path == "/api/v3/traces", let service = query["query.service_name"] else {
      return json(.notFound, "404 page not found\n")
    }
    guard let body = file("jaeger-v3/\(service).json") else {
      return json(.notFound, #"{"error":{"httpCode":404,"message":"No traces found"}}"# + "\n")
    }
    return FixtureServer.Answer(status: .ok, body: body)
  }

  /// Jaeger's internal API search: an empty `data` for a service with no traces.
  static let jaegerLegacy: FixtureServer.Route = { path, query in
    guard path == "/api/traces", let service = query["service"] else {
      return json(.notFound, "404 page not found\n")
    }
    return FixtureServer.Answer(
      status: .ok,
      body: file("jaeger-legacy/\(service).json")
        ?? Array(#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#.utf8))
  }

  /// Tempo: the search answer by the service the TraceQL names, then each trace by id.
  static let tempo: FixtureServer.Route = { path, query in
    if path == "/api/search", let q = query["q"] {
      let service = q.contains("\"faultline\"") ? "faultline" : "gateway"
      return FixtureServer.Answer(status: .ok, body: file("tempo/search-\(service).json")!)
    }
    if path.hasPrefix("/api/traces/"),
      let body = file("tempo/traces/\(path.dropFirst("/api/traces/".count)).json")
    {
      return FixtureServer.Answer(status: .ok, body: body)
    }
    return FixtureServer.Answer(
      status: .notFound, body: Array("trace not found".utf8), contentType: "text/plain")
  }
}
