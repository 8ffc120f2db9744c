import FaultAgent
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Testing

@testable import AgentEndpoints

/// The endpoint on a real socket (127.0.0.1, a kernel-chosen port), spoken to over real HTTP.
@Suite(.timeLimit(.minutes(1))) struct HTTPEndpointTests {
  @Test func healthzAnswersOK() async throws {
    let response = try await withRunningEndpoint(AgentMetrics.unrecorded()) { port in
      try await request(port: port, "/healthz")
    }
    #expect(response.status == .ok)
    #expect(response.body == "ok\n")
    #expect(response.headers["Content-Length"] == ["3"])
    #expect(response.headers["Connection"] == ["close"])
  }

  @Test func readyzIs503UntilTheAgentIsReady() async throws {
    let metrics = AgentMetrics.unrecorded()
    let (before, after, again) = try await withRunningEndpoint(metrics) { port in
      let before = try await request(port: port, "/readyz")
      metrics.markReady()
      let after = try await request(port: port, "/readyz")
      metrics.markNotReady()
      let again = try await request(port: port, "/readyz")
      return (before.status, after.status, again.status)
    }
    #expect(before == .serviceUnavailable)
    #expect(after == .ok)
    #expect(again == .serviceUnavailable)
  }

  @Test func metricsServesTheRegistryWithThePrometheusContentType() async throws {
    let registry = PrometheusCollectorRegistry()
    let metrics = AgentMetrics.prometheus(registry: registry)
    metrics.recordInjection(ok: true, seconds: 0.0012)
    metrics.recordInjection(ok: true, seconds: 0.0031)
    metrics.recordInjection(ok: false, seconds: 0.0001)
    metrics.recordRevert(reason: "duration_elapsed")
    metrics.addActive(1)
    let response = try await withRunningEndpoint(metrics, registry: registry) { port in
      try await request(port: port, "/metrics")
    }
    #expect(response.status == .ok)
    #expect(response.headers["Content-Type"] == ["text/plain; version=0.0.4"])
    #expect(response.headers["Content-Length"] == ["\(response.body.utf8.count)"])
    // The format itself is checked by a real Prometheus parser (scripts/peers/test_metrics_scrape.py);
    // here, that the endpoint serves what was recorded, with the agent's buckets.
    #expect(response.body == registry.emitToString())
    let lines = Set(response.body.split(separator: "\n").map(String.init))
    #expect(lines.contains(#"faultline_injections_total{outcome="ok"} 2"#))
    #expect(lines.contains(#"faultline_reverts_total{reason="duration_elapsed"} 1"#))
    #expect(lines.contains(#"faultline_apply_duration_seconds_bucket{le="0.00025"} 1"#))
    #expect(lines.contains(#"faultline_apply_duration_seconds_bucket{le="0.0025"} 2"#))
    #expect(lines.contains(#"faultline_apply_duration_seconds_count 3"#))
  }

  @Test func everyMetricHasOneHelpLineWithItsMeaningAndOneTypeLine() {
    let registry = PrometheusCollectorRegistry()
    let metrics = AgentMetrics.prometheus(registry: registry)
    metrics.recordRevert(reason: "a_reason_not_known_up_front")
    metrics.recordDrift(kind: "changed")
    let lines = registry.emitToString().split(separator: "\n").map(String.init)
    let names = Set(lines.filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != "{" && $0 != " " }) })
    #expect(AgentMetrics.help.count == 10)
    for (name, help) in AgentMetrics.help {
      #expect(lines.filter { $0 == "# HELP \(name) \(help)" }.count == 1, "\(name)")
      #expect(lines.filter { $0.hasPrefix("# TYPE \(name) ") }.count == 1, "\(name)")
      #expect(names.contains { $0.hasPrefix(name) }, "\(name) has no samples")
    }
  }

  @Test func metricsReflectsRecordsMadeWhileServing() async throws {
    let registry = PrometheusCollectorRegistry()
    let metrics = AgentMetrics.prometheus(registry: registry)
    let seen = try await withRunningEndpoint(metrics, registry: registry) { port in
      var seen: [Bool] = []
      for count in 1...3 {
        metrics.recordInjection(ok: true, seconds: 0.001)
        let body = try await request(port: port, "/metrics").body
        seen.append(body.contains("faultline_injections_total{outcome=\"ok\"} \(count)\n"))
      }
      return seen
    }
    #expect(seen == [true, true, true])
  }

  @Test func anUnknownPathIs404AndTheQueryStringIsIgnored() async throws {
    let (missing, root, withQuery) = try await withRunningEndpoint(AgentMetrics.unrecorded()) { port in
      (
        try await request(port: port, "/nope").status, try await request(port: port, "/").status,
        try await request(port: port, "/healthz?verbose=1").status
      )
    }
    #expect(missing == .notFound)
    #expect(root == .notFound)
    #expect(withQuery == .ok)
  }

  @Test(arguments: [HTTPMethod.POST, .PUT, .DELETE, .HEAD, .PATCH])
  func otherMethodsThanGETAre405(method: HTTPMethod) async throws {
    let response = try await withRunningEndpoint(AgentMetrics.unrecorded()) { port in
      try await request(port: port, "/metrics", method: method)
    }
    #expect(response.status == .methodNotAllowed)
    #expect(response.headers["Allow"] == ["GET"])
  }

  @Test func aKeptAliveConnectionServesSeveralRequests() async throws {
    let statuses = try await withRunningEndpoint(AgentMetrics.unrecorded()) { port in
      try await withConnection(port: port) { send in
        var statuses: [HTTPResponseStatus] = []
        for uri in ["/healthz", "/metrics", "/readyz", "/missing", "/healthz"] {
          let response = try await send(.GET, uri, [:])
          #expect(response.headers["Connection"].isEmpty)
          statuses.append(response.status)
        }
        return statuses
      }
    }
    #expect(statuses == [.ok, .ok, .serviceUnavailable, .notFound, .ok])
  }

  @Test func aMalformedRequestGets400AndTheConnectionCloses() async throws {
    let reply = try await withRunningEndpoint(AgentMetrics.unrecorded()) { port in
      try await rawExchange(port: port, "NOT AN HTTP REQUEST\r\n\r\n")
    }
    #expect(reply.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
  }

  @Test func anIdleConnectionIsClosedByTheServer() async throws {
    let metrics = AgentMetrics.unrecorded()
    let (addresses, continuation) = AsyncStream.makeStream(of: ListenAddress.self)
    let endpoint = HTTPEndpoint(
      configuration: HTTPEndpointConfiguration(
        address: ListenAddress(host: "127.0.0.1", port: 0), idleTimeout: .milliseconds(200)),
      metrics: metrics, registry: PrometheusCollectorRegistry(), logger: quietLogger,
      onListening: { continuation.yield($0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await endpoint.run() }
      var iterator = addresses.makeAsyncIterator()
      let port = try #require(await iterator.next()).port
      // Sends nothing: only the idle timeout can end this exchange.
      let reply = try await rawExchange(port: port, "")
      #expect(reply == "")
      group.cancelAll()
    }
  }

  @Test func aPortInUseIsReportedAsCannotListen() async throws {
    let error = try await withRunningEndpoint(AgentMetrics.unrecorded()) { port in
      let second = HTTPEndpoint(
        configuration: HTTPEndpointConfiguration(address: ListenAddress(host: "127.0.0.1", port: port)),
        metrics: AgentMetrics.unrecorded(), registry: PrometheusCollectorRegistry(), logger: quietLogger)
      return await #expect(throws: HTTPEndpointError.self) { try await second.run() }
    }
    let description = try #require(error).description
    #expect(description.hasPrefix("cannot listen on 127.0.0.1:"))
    #expect(description.contains("address already in use"))
    #expect(description.contains("--http-address"))
  }

  @Test func anAddressNoInterfaceHasIsReportedAsCannotListen() async throws {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned, so bind fails with EADDRNOTAVAIL.
    let endpoint = HTTPEndpoint(
      configuration: HTTPEndpointConfiguration(address: ListenAddress(host: "192.0.2.1", port: 0)),
      metrics: AgentMetrics.unrecorded(), registry: PrometheusCollectorRegistry(), logger: quietLogger)
    let error = await #expect(throws: HTTPEndpointError.self) { try await endpoint.run() }
    #expect(
      error?.description.hasPrefix("cannot listen on 192.0.2.1:0: no local interface has the address") == true
    )
    #expect(error?.isInvalidAddress == false)
  }

  @Test func gracefulShutdownStopsServingAndReturns() async throws {
    let metrics = AgentMetrics.unrecorded()
    let (addresses, continuation) = AsyncStream.makeStream(of: ListenAddress.self)
    let endpoint = HTTPEndpoint(
      configuration: HTTPEndpointConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0)),
      metrics: metrics, registry: PrometheusCollectorRegistry(), logger: quietLogger,
      onListening: { continuation.yield($0) })
    let group = ServiceGroup(
      configuration: ServiceGroupConfiguration(
        services: [.init(service: endpoint)], gracefulShutdownSignals: [], logger: quietLogger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      var iterator = addresses.makeAsyncIterator()
      let port = try #require(await iterator.next()).port
      // A kept-alive connection stays open across the shutdown: it must not hold the service up.
      try await withConnection(port: port) { send in
        #expect(try await send(.GET, "/healthz", [:]).status == .ok)
        await group.triggerGracefulShutdown()
        _ = try await tasks.next()  // group.run() returned, without an error
      }
      #expect(await connectionIsRefused(port: port))
    }
  }

  @Test func cancellationStopsServingWithoutAnError() async throws {
    let (addresses, continuation) = AsyncStream.makeStream(of: ListenAddress.self)
    let endpoint = HTTPEndpoint(
      configuration: HTTPEndpointConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0)),
      metrics: AgentMetrics.unrecorded(), registry: PrometheusCollectorRegistry(), logger: quietLogger,
      onListening: { continuation.yield($0) })
    let task = Task { try await endpoint.run() }
    var iterator = addresses.makeAsyncIterator()
    let port = try #require(await iterator.next()).port
    #expect(try await request(port: port, "/healthz").status == .ok)
    task.cancel()
    try await task.value
    #expect(await connectionIsRefused(port: port))
  }
}

/// The routing on its own, without a socket.
@Suite struct EndpointRoutingTests {
  @Test func routesEveryPathAndMethod() {
    let metrics = AgentMetrics.unrecorded()
    let registry = PrometheusCollectorRegistry()
    let route = { (method: HTTPMethod, uri: String) in
      HTTPEndpoint.response(method: method, uri: uri, metrics: metrics, registry: registry)
    }
    #expect(route(.GET, "/healthz").status == .ok)
    #expect(route(.GET, "/readyz").status == .serviceUnavailable)
    metrics.markReady()
    #expect(route(.GET, "/readyz").status == .ok)
    #expect(route(.GET, "/metrics").contentType == "text/plain; version=0.0.4")
    #expect(route(.GET, "/metrics/").status == .notFound)
    #expect(route(.POST, "/readyz").status == .methodNotAllowed)
    #expect(route(.POST, "/elsewhere").status == .notFound)
    #expect(route(.GET, "/metrics?x=1#y").status == .ok)
  }

  @Test func readyzSaysWhichFaultsArePending() {
    let metrics = AgentMetrics.unrecorded()
    metrics.markReady()
    metrics.setPending(applies: ["web-latency on eth0: interface eth0 not found"], reverts: [])
    let response = HTTPEndpoint.response(
      method: .GET, uri: "/readyz", metrics: metrics, registry: PrometheusCollectorRegistry())
    #expect(response.status == .serviceUnavailable)
    #expect(response.body == "not ready\n- not applied: web-latency on eth0: interface eth0 not found\n")
    metrics.setPending(applies: [], reverts: [])
    #expect(
      HTTPEndpoint.response(
        method: .GET, uri: "/readyz", metrics: metrics, registry: PrometheusCollectorRegistry()
      ).status == .ok)
  }

  @Test func httpOneZeroKeepAliveIsAnsweredExplicitly() {
    let response = EndpointResponse(status: .ok, body: "ok\n")
    guard case .head(let head) = response.parts(version: .http1_0, keepAlive: true).first else {
      Issue.record("no head")
      return
    }
    #expect(head.headers["Connection"] == ["keep-alive"])
    #expect(head.version == .http1_0)
  }
}
