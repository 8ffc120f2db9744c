import FaultAgent
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// How the agent's HTTP endpoint listens.
public struct HTTPEndpointConfiguration: Sendable, Hashable {
  /// Where to listen. Flag `--http-address HOST:PORT` (parsed by ``ListenAddress/init(parsing:)``);
  /// default ``ListenAddress/default`` (`0.0.0.0:9464`).
  public var address: ListenAddress
  /// How long a connection may send nothing before it is closed, so idle keep-alive connections
  /// do not pile up. No flag; default 60 seconds (Prometheus scrapes every 15–60 s).
  public var idleTimeout: Duration
  /// The most connections served at once. At the limit a new connection takes the place of the
  /// oldest one that is not between a request head and its end (an idle, kept-alive or slow
  /// client), so probes and scrapes still get in during a flood; when every connection is
  /// mid-request, the new one is closed at once. No flag; default 32 (a scrape and two probes need
  /// three).
  public var maximumConnections: Int
  /// How long a client has to send a whole request (head and body), counted from the accept (and, on
  /// a kept-alive connection, from the first byte of the next request); not extended by each byte,
  /// so a client trickling its headers (slow-loris) is cut. No flag; default 10 seconds.
  public var headerTimeout: Duration
  /// The most bytes one request (head and body) may have; a larger one closes the connection.
  /// No flag; default 16 KiB (the endpoint's requests are a few hundred bytes).
  public var maximumRequestSize: Int

  /// A configuration; every field has its default.
  public init(
    address: ListenAddress = .default, idleTimeout: Duration = .seconds(60), maximumConnections: Int = 32,
    headerTimeout: Duration = .seconds(10), maximumRequestSize: Int = 16 << 10
  ) {
    self.address = address
    self.idleTimeout = idleTimeout
    self.maximumConnections = maximumConnections
    self.headerTimeout = headerTimeout
    self.maximumRequestSize = maximumRequestSize
  }
}

/// The agent's small HTTP/1.1 server, a swift-service-lifecycle `Service`:
///
/// | request | response |
/// | --- | --- |
/// | `GET /healthz` | 200 `ok` while the process serves requests (liveness) |
/// | `GET /readyz` | 200 `ready` once the agent reconciled and loaded its profiles and while no fault is pending; else 503 `not ready` and one line per reason (``AgentMetrics/readiness``) |
/// | `GET /metrics` | 200, `Content-Type: text/plain; version=0.0.4`, the registry's samples (swift-prometheus renders them) |
/// | another method on one of these paths | 405, `Allow: GET` |
/// | any other path | 404 |
///
/// ``run()`` binds (a failure throws ``HTTPEndpointError`` "cannot listen on ADDR: …"), serves until
/// the service group shuts down gracefully or the task is cancelled, then closes the listening socket
/// and every connection and returns. Query strings are ignored; request bodies are read and dropped.
///
/// Clients are not trusted: connections, the time to send a request head and the size of a request
/// are bounded (``HTTPEndpointConfiguration``), so a flood or a slow-loris holds a fixed number of
/// file descriptors and tasks and cannot grow memory.
public struct HTTPEndpoint: Service {
  private let configuration: HTTPEndpointConfiguration
  private let metrics: AgentMetrics
  private let registry: PrometheusCollectorRegistry
  private let logger: Logger
  private let eventLoopGroup: any EventLoopGroup
  private let onListening: (@Sendable (ListenAddress) -> Void)?

  /// An endpoint serving `metrics`' readiness and `registry`'s samples.
  ///
  /// - Parameters:
  ///   - configuration: where to listen.
  ///   - metrics: what `/readyz` reports.
  ///   - registry: what `/metrics` serves: the registry the agent's metrics are recorded into (see
  ///     ``AgentMetrics/prometheus(registry:also:)``).
  ///   - logger: receives "listening" (info) and connection errors (debug).
  ///   - eventLoopGroup: the NIO threads; default NIO's shared singleton group.
  ///   - onListening: called once the socket listens, with the bound address (the real port when
  ///     the configuration says port 0).
  public init(
    configuration: HTTPEndpointConfiguration = HTTPEndpointConfiguration(), metrics: AgentMetrics,
    registry: PrometheusCollectorRegistry, logger: Logger,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    onListening: (@Sendable (ListenAddress) -> Void)? = nil
  ) {
    self.configuration = configuration
    self.metrics = metrics
    self.registry = registry
    self.logger = logger
    self.eventLoopGroup = eventLoopGroup
    self.onListening = onListening
  }

  /// Listens and serves until graceful shutdown or cancellation, then returns.
  ///
  /// - Throws: ``HTTPEndpointError`` when the address cannot be bound.
  public func run() async throws {
    try await cancelWhenGracefulShutdown { try await self.serve() }
  }

  // MARK: - Serving

  private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

  private func serve() async throws {
    let address = configuration.address
    let idle = TimeAmount(configuration.idleTimeout)
    let server: NIOAsyncChannel<Connection?, Never>
    let limits = configuration
    let admitted = AdmittedConnections(limit: max(configuration.maximumConnections, 1))
    let logger = logger
    do {
      server = try await ServerBootstrap(group: eventLoopGroup)
        .serverChannelOption(.backlog, value: 64)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .bind(host: address.host, port: address.port) { channel in
          channel.eventLoop.makeCompletedFuture {
            guard admitted.admit(channel) else {
              logger.debug("HTTP connection refused: every connection is mid-request")
              channel.close(promise: nil)
              return nil
            }
            let state = RequestState(channel: channel, admitted: admitted, limits: limits, logger: logger)
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
            try pipeline.addHandler(CloseWhenIdleHandler())
            try pipeline.addHandler(RequestBytesHandler(state: state))
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandler(RequestPartsHandler(state: state))
            return try Connection(wrappingChannelSynchronously: channel)
          }
        }
    } catch is CancellationError {
      return
    } catch {
      throw Self.listenError(error, address)
    }

    let bound = ListenAddress(
      host: server.channel.localAddress?.ipAddress ?? address.host,
      port: server.channel.localAddress?.port ?? address.port)
    logger.info("HTTP endpoint listening", metadata: ["address": "\(bound)"])
    onListening?(bound)

    do {
      try await server.executeThenClose { connections in
        try await withThrowingDiscardingTaskGroup { group in
          for try await connection in connections {
            guard let connection else { continue }
            group.addTask { await self.handle(connection) }
          }
        }
      }
    } catch is CancellationError {
      // Graceful shutdown or cancellation: the listening socket and all connections are closed.
    }
    logger.debug("HTTP endpoint stopped", metadata: ["address": "\(bound)"])
  }

  private func handle(_ connection: Connection) async {
    do {
      try await connection.executeThenClose { requests, responses in
        var head: HTTPRequestHead?
        for try await part in requests {
          switch part {
          case .head(let requestHead):
            head = requestHead
          case .body:
            continue
          case .end:
            guard let request = head else { continue }
            head = nil
            let response = Self.response(
              method: request.method, uri: request.uri, metrics: metrics, registry: registry)
            try await responses.write(
              contentsOf: response.parts(
                version: request.version, keepAlive: request.isKeepAlive, withBody: request.method != .HEAD))
            if !request.isKeepAlive { return }
          }
        }
      }
    } catch is CancellationError {
    } catch {
      logger.debug("HTTP connection closed on error", metadata: ["error": "\(error)"])
    }
  }

  // MARK: - Routing (pure, tested directly)

  /// What the endpoint answers to `method` on `uri`.
  static func response(
    method: HTTPMethod, uri: String, metrics: AgentMetrics, registry: PrometheusCollectorRegistry
  ) -> EndpointResponse {
    let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    guard ["/healthz", "/readyz", "/metrics"].contains(path) else {
      return EndpointResponse(
        status: .notFound, body: "not found: \(path); try /healthz, /readyz or /metrics\n")
    }
    guard method == .GET else {
      return EndpointResponse(
        status: .methodNotAllowed, body: "method not allowed: use GET\n", headers: [("Allow", "GET")])
    }
    switch path {
    case "/healthz":
      return EndpointResponse(status: .ok, body: "ok\n")
    case "/readyz":
      let (ready, detail) = metrics.readiness
      return ready
        ? EndpointResponse(status: .ok, body: "ready\n")
        : EndpointResponse(
          status: .serviceUnavailable, body: "not ready\n" + detail.map { "- \($0)\n" }.joined())
    default:
      return EndpointResponse(
        status: .ok, body: registry.emitToString(), contentType: EndpointResponse.prometheusContentType)
    }
  }

  /// The ``HTTPEndpointError`` for a failed bind.
  static func listenError(_ error: any Error, _ address: ListenAddress) -> HTTPEndpointError {
    if let error = error as? IOError {
      return .cannotListen(address, errno: error.errnoCode, detail: "\(error)")
    }
    if let error = error as? SocketAddressError.UnknownHost {
      return .cannotListen(
        address, "cannot resolve host \"\(error.host)\"; use an IP address such as 0.0.0.0")
    }
    return .cannotListen(address, "\(error)")
  }
}

/// One response of the endpoint, before encoding.
struct EndpointResponse: Sendable {
  /// The `Content-Type` of `/metrics`: the Prometheus text exposition format.
  static let prometheusContentType = "text/plain; version=0.0.4"

  var status: HTTPResponseStatus
  var body: String
  var contentType = "text/plain; charset=utf-8"
  var headers: [(String, String)] = []

  /// Head, body and end, with `Content-Length` and, when the connection is not kept alive,
  /// `Connection: close` (`keep-alive` for an HTTP/1.0 client that asked for it). Without
  /// `withBody` (the answer to `HEAD`) the body is left out and `Content-Length` still gives its size.
  func parts(version: HTTPVersion, keepAlive: Bool, withBody: Bool = true) -> [HTTPServerResponsePart] {
    let body = ByteBuffer(string: body)
    var fields = HTTPHeaders()
    fields.add(name: "Content-Type", value: contentType)
    fields.add(name: "Content-Length", value: String(body.readableBytes))
    if !keepAlive {
      fields.add(name: "Connection", value: "close")
    } else if version == .http1_0 {
      fields.add(name: "Connection", value: "keep-alive")
    }
    for (name, value) in headers { fields.add(name: name, value: value) }
    let head = HTTPServerResponsePart.head(
      HTTPResponseHead(version: version, status: status, headers: fields))
    return withBody ? [head, .body(.byteBuffer(body)), .end(nil)] : [head, .end(nil)]
  }
}

/// Closes a connection when `IdleStateHandler` reports that nothing was read for a while.
private final class CloseWhenIdleHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
      context.close(promise: nil)
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }
}

/// The connections being served, and which of them may give their place to a new one.
final class AdmittedConnections: Sendable {
  private struct Entry {
    var channel: any Channel
    var acceptedAt: NIODeadline
    var evictable: Bool
  }

  private let limit: Int
  private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

  init(limit: Int) { self.limit = limit }

  /// How many connections are being served.
  var count: Int { entries.withLock { $0.count } }

  /// Admits `channel`: below the limit at once; at the limit in place of the oldest connection that
  /// is not between a request head and its end (closed now); false when every one is mid-request.
  func admit(_ channel: any Channel) -> Bool {
    let key = ObjectIdentifier(channel)
    let evicted: (any Channel)? = entries.withLock { entries in
      var evicted: (any Channel)?
      if entries.count >= limit {
        guard
          let oldest = entries.filter({ $0.value.evictable }).min(by: {
            $0.value.acceptedAt < $1.value.acceptedAt
          })
        else { return nil }
        entries[oldest.key] = nil
        evicted = oldest.value.channel
      }
      entries[key] = Entry(channel: channel, acceptedAt: .now(), evictable: true)
      return evicted ?? channel
    }
    guard let evicted else { return false }
    if evicted !== channel { evicted.close(promise: nil) }
    channel.closeFuture.whenComplete { _ in self.remove(key) }
    return true
  }

  /// Marks whether the connection may give its place to a new one (not between a head and its end).
  func setEvictable(_ channel: any Channel, _ evictable: Bool) {
    entries.withLock { $0[ObjectIdentifier(channel)]?.evictable = evictable }
  }

  private func remove(_ key: ObjectIdentifier) {
    entries.withLock { _ = $0.removeValue(forKey: key) }
  }
}

/// One connection's request in progress: its header deadline and its size so far. Used only on the
/// connection's event loop, by the two handlers around the HTTP decoder.
final class RequestState {
  let channel: any Channel
  let admitted: AdmittedConnections
  let limits: HTTPEndpointConfiguration
  let logger: Logger
  /// Bytes of the current request so far.
  var bytes = 0
  /// Whether the last request ended, so the next byte starts a new one (and its header deadline).
  var betweenRequests = false
  /// Closes the connection when the head is not complete in time.
  var deadline: Scheduled<Void>?

  init(channel: any Channel, admitted: AdmittedConnections, limits: HTTPEndpointConfiguration, logger: Logger)
  {
    self.channel = channel
    self.admitted = admitted
    self.limits = limits
    self.logger = logger
  }

  func armDeadline() {
    deadline?.cancel()
    let channel = channel
    let logger = logger
    deadline = channel.eventLoop.scheduleTask(in: TimeAmount(limits.headerTimeout)) {
      logger.debug("HTTP connection closed: request head not complete in time")
      channel.close(promise: nil)
    }
  }

  func cancelDeadline() {
    deadline?.cancel()
    deadline = nil
  }
}

/// Before the HTTP decoder: arms the request deadline at the accept and at the first byte of each
/// later request, and closes a connection whose request grows past the size limit.
private final class RequestBytesHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer

  private let state: RequestState

  init(state: RequestState) { self.state = state }

  func handlerAdded(context: ChannelHandlerContext) {
    state.armDeadline()
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    state.cancelDeadline()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    if state.betweenRequests {
      state.betweenRequests = false
      state.armDeadline()
    }
    state.bytes += buffer.readableBytes
    guard state.bytes <= state.limits.maximumRequestSize else {
      state.logger.debug(
        "HTTP connection closed: request over the size limit",
        metadata: ["limit": "\(state.limits.maximumRequestSize)"])
      context.close(promise: nil)
      return
    }
    context.fireChannelRead(data)
  }
}

/// After the HTTP decoder: the end of a request stops its deadline and starts the count for the next
/// one; between a head and its end the connection is not evicted.
private final class RequestPartsHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias InboundOut = HTTPServerRequestPart

  private let state: RequestState

  init(state: RequestState) { self.state = state }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head:
      state.admitted.setEvictable(context.channel, false)
    case .body:
      break
    case .end:
      state.cancelDeadline()
      state.bytes = 0
      state.betweenRequests = true
      state.admitted.setEvictable(context.channel, true)
    }
    context.fireChannelRead(data)
  }
}
