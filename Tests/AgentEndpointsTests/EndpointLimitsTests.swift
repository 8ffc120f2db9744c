import AgentEndpoints
import FaultAgent
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Hostile clients on loopback: a connection flood and a slow-loris hold a bounded number of
/// connections, and the probes still get answers.
@Suite(.timeLimit(.minutes(1))) struct EndpointLimitsTests {
  static func configuration(
    maximumConnections: Int = 32, headerTimeout: Duration = .seconds(10), maximumRequestSize: Int = 16 << 10
  ) -> HTTPEndpointConfiguration {
    HTTPEndpointConfiguration(
      address: ListenAddress(host: "127.0.0.1", port: 0), idleTimeout: .seconds(60),
      maximumConnections: maximumConnections, headerTimeout: headerTimeout,
      maximumRequestSize: maximumRequestSize)
  }

  @Test func aConnectionFloodStaysBoundedAndHealthzIsStillAnswered() async throws {
    let config = Self.configuration(maximumConnections: 4)
    let (open, status) = try await withRunningEndpoint(AgentMetrics.unrecorded(), configuration: config) {
      port in
      let sockets = try (0..<24).map { _ in try RawSocket(port: port) }
      defer { sockets.forEach { $0.close() } }
      // Idle connections: the server must have closed all but its limit of them.
      try await Task.sleep(for: .milliseconds(300))
      let response = try await withConnection(port: port) { send in try await send(.GET, "/healthz", [:]) }
      try await Task.sleep(for: .milliseconds(100))
      return (sockets.filter { !$0.isClosedByPeer() }.count, response.status)
    }
    #expect(status == .ok, "a probe gets in during the flood")
    #expect(open <= 4, "\(open) of 24 idle connections still open; the limit is 4")
  }

  @Test func aSlowLorisIsCutAtTheHeaderDeadline() async throws {
    let config = Self.configuration(headerTimeout: .seconds(1))
    let seconds = try await withRunningEndpoint(AgentMetrics.unrecorded(), configuration: config) { port in
      let socket = try RawSocket(port: port)
      defer { socket.close() }
      let start = ContinuousClock.now
      try socket.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
      // One byte every 100 ms: the idle timeout (60 s) never fires; only the deadline can end it.
      while ContinuousClock.now - start < .seconds(5) {
        try await Task.sleep(for: .milliseconds(100))
        if (try? socket.send("a")) == nil || socket.isClosedByPeer() { break }
      }
      let elapsed = ContinuousClock.now - start
      return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    #expect(seconds >= 0.9 && seconds < 2.5, "the slow client was cut after \(seconds) s; deadline 1 s")
  }

  @Test func anOversizedRequestClosesTheConnection() async throws {
    // Without the limit this request is answered 200 (checked by raising the limit to 1 GiB).
    let config = Self.configuration(maximumRequestSize: 4096)
    let reply = try await withRunningEndpoint(AgentMetrics.unrecorded(), configuration: config) { port in
      // The server closes with our bytes unread, which the client may see as a reset.
      (try? await rawExchange(
        port: port,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Big: \(String(repeating: "b", count: 32 << 10))\r\n\r\n"
      ))
        ?? ""
    }
    #expect(!reply.contains("200 OK"), "a 32 KiB request was served: \(reply.prefix(80))")
  }

  @Test func aKeptAliveConnectionStillServesRequestsWithinTheLimits() async throws {
    let config = Self.configuration(maximumConnections: 2, headerTimeout: .milliseconds(500))
    let statuses = try await withRunningEndpoint(AgentMetrics.unrecorded(), configuration: config) { port in
      try await withConnection(port: port) { send in
        var statuses: [Int] = []
        for _ in 0..<3 {
          statuses.append(Int(try await send(.GET, "/healthz", [:]).status.code))
          // Idle between requests for longer than the header deadline: only a request's own bytes count.
          try await Task.sleep(for: .milliseconds(700))
        }
        return statuses
      }
    }
    #expect(statuses == [200, 200, 200])
  }
}

/// A blocking TCP client socket to 127.0.0.1, for clients that misbehave below HTTP.
final class RawSocket: Sendable {
  let fd: Int32

  init(port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure(description: "socket: \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard result == 0 else {
      Glibc.close(fd)
      throw TestFailure(description: "connect: \(errno)")
    }
  }

  func send(_ text: String) throws {
    let sent = text.utf8CString.withUnsafeBufferPointer {
      Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL))
    }
    guard sent >= 0 else { throw TestFailure(description: "send: \(errno)") }
  }

  /// Whether the server closed the connection (end of stream or reset), without blocking.
  func isClosedByPeer() -> Bool {
    var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&pollfd, 1, 0) > 0 else { return false }
    var byte: UInt8 = 0
    let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
  }

  func close() { Glibc.close(fd) }
}
