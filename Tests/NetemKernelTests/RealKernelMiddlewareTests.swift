import AgentTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A long-lived `scripts/peers/wsgi_probe_app.py`: a WSGI app wrapped in
/// `faultline_middleware.WSGIMiddleware` and OpenTelemetry's WSGI instrumentation, exporting over
/// OTLP. It is started ahead of time (Python imports take seconds under TCG) and makes one in-process
/// request per ``get(_:)``, at the moment the test chooses.
private final class WSGIProbe {
  let process: Process
  private let input = Pipe()
  private let output = Pipe()
  private var buffer: [UInt8] = []

  init(annotations: String, endpoint: String) throws {
    process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", "\(repoRoot)/scripts/peers/wsgi_probe_app.py", "--annotations", annotations, "--endpoint",
      endpoint, "--protocol", "grpc", "--service-name", "wsgi-probe",
    ]
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.standardError
    try process.run()
    let ready = try readLine(timeout: 120)
    guard ready["ready"] as? Bool == true else { throw TestFailure("wsgi probe did not get ready: \(ready)") }
  }

  /// Makes `GET path` in the app; returns the probe's result line (span ids, `chaos.*` attributes,
  /// links, and whether the span was exported).
  func get(_ path: String) throws -> [String: Any] {
    input.fileHandleForWriting.write(Data("\(path)\n".utf8))
    return try readLine(timeout: 60)
  }

  /// Closes the probe's stdin (it flushes and exits) and waits for it; returns its exit status.
  func finish() -> Int32 {
    try? input.fileHandleForWriting.close()
    waitForExit(process, seconds: 30)
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      waitForExit(process, seconds: 5)
      return -1
    }
    return process.terminationStatus
  }

  func stop() {
    // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      waitForExit(process, seconds: 5)
    }
  }

  /// One JSON line from the probe's stdout, waiting at most `timeout` seconds.
  private func readLine(timeout: Double) throws -> [String: Any] {
    let fd = output.fileHandleForReading.fileDescriptor
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
        let line = Data(buffer[..<newline])
        buffer.removeSubrange(...newline)
        guard let json = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
          throw TestFailure("wsgi probe printed \(String(decoding: line, as: UTF8.self))")
        }
        return json
      }
      let left = deadline.timeIntervalSinceNow
      guard left > 0 else { throw TestFailure("wsgi probe: no answer within \(timeout) s") }
      var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&poller, 1, Int32(min(left, 1) * 1000)) > 0 else { continue }
      var chunk = [UInt8](repeating: 0, count: 4096)
      let count = read(fd, &chunk, chunk.count)
      if count == 0 { throw TestFailure("wsgi probe exited (status \(finish()))") }
      if count > 0 { buffer += chunk[..<count] }
    }
  }
}

extension [String: Any] {
  fileprivate var name: String { self["name"] as? String ?? "" }
  fileprivate var attributes: [String: Any] { self["attributes"] as? [String: Any] ?? [:] }
  fileprivate var spanID: String { self["span_id"] as? String ?? "" }
  fileprivate var traceID: String { self["trace_id"] as? String ?? "" }
  fileprivate var links: [[String: Any]] { self["links"] as? [[String: Any]] ?? [] }
  fileprivate var serviceName: String {
    (self["resource"] as? [String: Any])?["service.name"] as? String ?? ""
  }
}

/// The Python middleware (middleware/python) in a real fault window: faultline applies a netem delay
/// in the kernel, publishes the annotation file and exports its `chaos.experiment` span; a WSGI app
/// instrumented with OpenTelemetry and `faultline_middleware.WSGIMiddleware` exports its request
/// spans to the same OTLP receiver.
extension RealKernel {
  @Suite struct RealKernelMiddlewareTests {
    @Test func pythonRequestSpansAreMarkedAndLinkedDuringAFaultWindowAndPlainAfterIt() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let receiver = try OTLPReceiver()
      defer { receiver.stop() }
      let state = NSTemporaryDirectory() + "fl-mw-\(UUID().uuidString)"
      let annotations = state + "/annotations"
      try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
      let probe = try WSGIProbe(annotations: annotations, endpoint: "http://127.0.0.1:\(receiver.grpcPort)")
      defer { probe.stop() }

      let inject = Process()
      inject.executableURL = URL(fileURLWithPath: faultlineBinary)
      inject.arguments = [
        "inject", "--netns", net.a, "--interface", "va", "--delay", "50ms", "--duration", "4s", "--name",
        "mw-test", "--annotations", annotations, "--state-dir", state,
      ]
      inject.environment = ProcessInfo.processInfo.environment.merging(receiver.environment(protocol: "grpc"))
      {
        $1
      }
      let injectLog = state + "/inject.out"
      FileManager.default.createFile(atPath: injectLog, contents: nil)
      inject.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: injectLog))
      inject.standardError = FileHandle.standardError
      try inject.run()
      defer { if inject.isRunning { kill(inject.processIdentifier, SIGKILL) } }

      // A request while the window is open.
      var duringFile = ""
      let deadline = Date().addingTimeInterval(30)
      while inject.isRunning && Date() < deadline {
        if let text = try? String(contentsOfFile: annotations, encoding: .utf8),
          text.contains("active=\"true\"")
        {
          duringFile = text
          break
        }
        Thread.sleep(forTimeInterval: 0.02)
      }
      try #require(duringFile.contains("chaos.experiment/active=\"true\""), "the window never opened")
      #expect(try net.tcShow().contains("delay 50ms"), "no netem delay on va during the window")
      let during = try probe.get("/during")
      let stillActive = (try? String(contentsOfFile: annotations, encoding: .utf8))?.contains(
        "active=\"true\"")
      print("GET /during:", during)
      #expect(stillActive == true, "the window closed before /during was answered: make it longer")

      // A request after faultline reverted and exited.
      waitForExit(inject, seconds: 30)
      #expect(!inject.isRunning)
      #expect(inject.terminationStatus == 0)
      print("faultline:", (try? String(contentsOfFile: injectLog, encoding: .utf8)) ?? "")
      #expect(
        try String(contentsOfFile: annotations, encoding: .utf8) == "chaos.experiment/active=\"false\"\n")
      #expect(try !net.tcShow().contains("netem"))
      let after = try probe.get("/after")
      print("GET /after:", after)
      #expect(probe.finish() == 0, "the probe failed to export its spans")
      #expect(during["exported"] as? Bool == true)
      #expect(after["exported"] as? Bool == true)

      // What the receiver got: faultline's experiment span and the two request spans.
      let spans = receiver.waitForSpans(3) {
        ($0.name == "chaos.experiment" && $0.attributes["chaos.experiment.name"] as? String == "mw-test")
          || $0.name == "GET /during" || $0.name == "GET /after"
      }
      print("received:", spans.map { "\($0.serviceName): \($0.name)" })
      let experiment = try #require(spans.first { $0.name == "chaos.experiment" }, "no chaos.experiment span")
      let duringSpan = try #require(spans.first { $0.name == "GET /during" }, "no GET /during span")
      let afterSpan = try #require(spans.first { $0.name == "GET /after" }, "no GET /after span")
      #expect(experiment.serviceName == "faultline")
      #expect(duringSpan.serviceName == "wsgi-probe")
      #expect(duringSpan["kind"] as? String == "SPAN_KIND_SERVER")
      let id = try #require(experiment.attributes["chaos.experiment.id"] as? String)
      #expect(id.count == 32)
      #expect(duringFile.contains("chaos.experiment/id=\"\(id)\""), "\(duringFile)")
      #expect(
        duringFile.contains(
          "chaos.experiment/traceparent=\"00-\(experiment.traceID)-\(experiment.spanID)-01\""),
        "\(duringFile)")

      // During: the contract's three attributes and one link to the experiment span.
      #expect(duringSpan.attributes["chaos.experiment.active"] as? Bool == true)
      #expect(duringSpan.attributes["chaos.experiment.name"] as? String == "mw-test")
      #expect(duringSpan.attributes["chaos.experiment.id"] as? String == id)
      #expect(duringSpan.links.count == 1, "\(duringSpan.links)")
      if let link = duringSpan.links.first {
        #expect(link.traceID == experiment.traceID)
        #expect(link.spanID == experiment.spanID)
        #expect(link.attributes["chaos.experiment.id"] as? String == id)
      }
      // The request span is the request's own trace, not a child of the experiment.
      #expect(duringSpan.traceID != experiment.traceID)

      // After: nothing.
      let chaosKeys = afterSpan.attributes.keys.filter { $0.hasPrefix("chaos.") }
      #expect(chaosKeys.isEmpty, "\(chaosKeys)")
      #expect(afterSpan.links.isEmpty, "\(afterSpan.links)")
    }
  }
}
