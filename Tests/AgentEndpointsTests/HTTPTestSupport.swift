import AgentEndpoints
import CoreMetrics
import FaultAgent
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

extension AgentMetrics {
  /// Metrics recorded nowhere, for tests that look at readiness or routing only.
  static func unrecorded() -> AgentMetrics { AgentMetrics(factory: NOOPMetricsHandler.instance) }
}

/// A response as a client saw it.
struct ReceivedResponse {
  var status: HTTPResponseStatus
  var headers: HTTPHeaders
  var body: String
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
}

let quietLogger = Logger(label: "faultline.test") { _ in SwiftLogNoOpLogHandler() }

/// Runs an `HTTPEndpoint` on 127.0.0.1 with a kernel-chosen port, calls `body` with that port once
/// it listens, then cancels the endpoint and waits for `run()` to return (which must not throw).
func withRunningEndpoint<T: Sendable>(
  _ metrics: AgentMetrics, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
  configuration: HTTPEndpointConfiguration = HTTPEndpointConfiguration(
    address: ListenAddress(host: "127.0.0.1", port: 0)),
  _ body: @Sendable (Int) async throws -> T
) async throws -> T {
  let (addresses, continuation) = AsyncStream.makeStream(of: ListenAddress.self)
  let endpoint = HTTPEndpoint(
    configuration: configuration,
    metrics: metrics, registry: registry, logger: quietLogger,
    onListening: { address in
      continuation.yield(address)
      continuation.finish()
    })
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      defer { continuation.finish() }
      try await endpoint.run()
    }
    var iterator = addresses.makeAsyncIterator()
    guard let bound = await iterator.next() else {
      _ = try await group.next()
      throw TestFailure(description: "the endpoint returned without listening")
    }
    let result = try await body(bound.port)
    group.cancelAll()
    try await group.waitForAll()
    return result
  }
}

/// One HTTP/1.1 client connection to 127.0.0.1:`port`; `body` sends requests over it in turn.
func withConnection<T: Sendable>(
  port: Int,
  _ body: (_ send: (HTTPMethod, String, HTTPHeaders) async throws -> ReceivedResponse) async throws -> T
) async throws -> T {
  let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .connect(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
          wrappingChannelSynchronously: channel)
      }
    }
  return try await channel.executeThenClose { inbound, outbound in
    var responses = inbound.makeAsyncIterator()
    return try await body { method, uri, extraHeaders in
      var headers = extraHeaders
      headers.replaceOrAdd(name: "Host", value: "127.0.0.1:\(port)")
      try await outbound.write(
        contentsOf: [
          .head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)), .end(nil),
        ])
      var head: HTTPResponseHead?
      var bytes = ByteBuffer()
      while let part = try await responses.next() {
        switch part {
        case .head(let responseHead): head = responseHead
        case .body(var chunk): bytes.writeBuffer(&chunk)
        case .end:
          guard let head else { throw TestFailure(description: "response end without a head") }
          return ReceivedResponse(status: head.status, headers: head.headers, body: String(buffer: bytes))
        }
      }
      throw TestFailure(description: "the server closed the connection before responding")
    }
  }
}

/// One request on a fresh connection.
func request(port: Int, _ uri: String, method: HTTPMethod = .GET) async throws -> ReceivedResponse {
  try await withConnection(port: port) { send in try await send(method, uri, ["Connection": "close"]) }
}

/// Sends `bytes` as they are on a fresh connection and returns everything the server sends back
/// until it closes the connection.
func rawExchange(port: Int, _ bytes: String) async throws -> String {
  let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .connect(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
      }
    }
  return try await channel.executeThenClose { inbound, outbound in
    // Nothing to send: write nothing (the server may already have closed an idle connection).
    if !bytes.isEmpty { try await outbound.write(ByteBuffer(string: bytes)) }
    var received = ByteBuffer()
    for try await var chunk in inbound { received.writeBuffer(&chunk) }
    return String(buffer: received)
  }
}

/// Whether a TCP connection to 127.0.0.1:`port` is refused.
func connectionIsRefused(port: Int) async -> Bool {
  do {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(host: "127.0.0.1", port: port)
      .get()
    try? await channel.close().get()
    return false
  } catch {
    return true
  }
}
