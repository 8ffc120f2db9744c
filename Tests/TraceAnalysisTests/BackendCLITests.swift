import Foundation
import NIOCore
import NIOPosix
import Testing

/// `faultline analyze` against a backend, as a user runs it: the built binary and an in-process
/// server with the recorded bodies.
@Suite(
  .enabled(if: FileManager.default.isExecutableFile(atPath: faultlineBinary), "needs the built faultline"),
  .timeLimit(.minutes(1)))
struct BackendCLITests {
  /// `faultline analyze ARGUMENTS --output json` as a dictionary without `inputs` (which name the
  /// source), plus the exit status.
  func analysis(_ arguments: [String]) throws -> (Int32, [String: Any]) {
    let result = try AnalyzeCLITests().run(
      arguments + ["--experiment", "payment-delay", "--output", "json", "--fail-if", "payment p50 > +150ms"])
    var json = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
    json["inputs"] = nil
    return (result.status, json)
  }

  func canonical(_ object: [String: Any]) throws -> String {
    String(
      decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
  }

  @Test(arguments: ["jaeger", "jaeger-legacy", "tempo"])
  func eachBackendGivesTheAnalysisOfTheOTLPFile(backend: String) async throws {
    let route =
      switch backend {
      case "jaeger": BackendFixtures.jaegerV3
      case "jaeger-legacy": BackendFixtures.jaegerLegacy
      default: BackendFixtures.tempo
      }
    let (fileStatus, fromFile) = try analysis([BackendSourceTests.otlpFile])
    let (status, fromBackend) = try await withFixtureServer(route) { server in
      try analysis(["--\(backend)", server.url, "--service", "gateway", "--range", BackendFixtures.range])
    }
    #expect(fileStatus == 1)
    #expect(status == 1)
    #expect(try canonical(fromBackend) == canonical(fromFile))
    let windows = try #require(fromBackend["windows"] as? [[String: Any]])
    #expect(windows.first?["fault"] as? String == "delay_ms=200")
  }

  @Test func aSearchThatHitsMaxTracesIsAWarningOnStderr() async throws {
    // The gateway's search holds 24 traces: at --max-traces 24 more may exist.
    let (capped, roomy) = try await withFixtureServer(BackendFixtures.jaegerV3) { server in
      let arguments = ["--jaeger", server.url, "--service", "gateway", "--window", "1700000060/1700000120"]
      return (
        try AnalyzeCLITests().run(arguments + ["--max-traces", "24"]),
        try AnalyzeCLITests().run(arguments + ["--max-traces", "25"])
      )
    }
    #expect(capped.status == 0 && roomy.status == 0)
    #expect(capped.stderr.contains("faultline: warning: "))
    #expect(capped.stderr.contains("query.service_name=gateway"))
    #expect(capped.stderr.contains("the search returned 24 traces, the --max-traces limit"))
    #expect(!roomy.stderr.contains("warning"))
  }

  @Test func anUnreachableBackendExitsTwoNamingTheURL() async throws {
    // A port that was free a moment ago: nothing listens there.
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    let result = try AnalyzeCLITests().run([
      "--jaeger", "http://127.0.0.1:\(port)", "--service", "gateway", "--experiment", "payment-delay",
      "--range", BackendFixtures.range,
    ])
    #expect(result.status == 2)
    #expect(result.stderr.contains("cannot reach http://127.0.0.1:\(port)/api/v3/traces?"))
    #expect(result.stderr.contains("connection refused"))
  }

  @Test func anHTTP500ExitsTwoWithTheServersMessage() async throws {
    let route: FixtureServer.Route = { _, _ in
      .init(
        status: .internalServerError, body: Array("query frontend unavailable\n".utf8),
        contentType: "text/plain")
    }
    let result = try await withFixtureServer(route) { server in
      try AnalyzeCLITests().run(["--tempo", server.url, "--window", "1700000060/1700000120"])
    }
    #expect(result.status == 2)
    #expect(result.stderr.contains("HTTP 500: query frontend unavailable"))
  }

  @Test func aBackendSlowerThanBackendTimeoutExitsTwoNamingTheFlag() async throws {
    // A listener that accepts the connection and never answers.
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .bind(host: "127.0.0.1", port: 0).get()
    defer { channel.close(promise: nil) }
    let started = ContinuousClock.now
    let result = try AnalyzeCLITests().run([
      "--tempo", "http://127.0.0.1:\(channel.localAddress!.port!)", "--window", "1700000060/1700000120",
      "--backend-timeout", "300ms",
    ])
    #expect(result.status == 2)
    #expect(result.stderr.contains("timed out; a slow query service needs a longer --backend-timeout"))
    // The default would wait 30 s.
    #expect(ContinuousClock.now - started < .seconds(20))
    let refused = try AnalyzeCLITests().run([
      "--tempo", "http://127.0.0.1:1", "--window", "1700000060/1700000120", "--backend-timeout", "0s",
    ])
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("must be greater than 0"))
  }

  @Test func aResponseOverMaxResponseMiBExitsTwoNamingTheFlag() async throws {
    let route: FixtureServer.Route = { _, _ in
      .init(status: .ok, body: Array(repeating: UInt8(ascii: " "), count: 3 << 19))
    }
    let result = try await withFixtureServer(route) { server in
      try AnalyzeCLITests().run([
        "--tempo", server.url, "--window", "1700000060/1700000120", "--max-response-mib", "1",
      ])
    }
    #expect(result.status == 2)
    #expect(result.stderr.contains("larger than 1 MiB"))
    #expect(result.stderr.contains("raise --max-response-mib"))
  }

  @Test func filesAndABackendTogetherAreRefused() throws {
    let result = try AnalyzeCLITests().run([
      BackendSourceTests.otlpFile, "--tempo", "http://127.0.0.1:1", "--window", "1700000060/1700000120",
    ])
    #expect(result.status == 2)
    #expect(result.stderr.contains("not several"))
  }
}
