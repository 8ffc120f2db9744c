import AgentTestSupport
import Foundation
import Testing

/// One role of scripts/peers/traced_app.py, in a network namespace; it stops (flushing its spans)
/// when its stdin is closed.
private final class TracedApp {
  let process = Process()
  private let input = Pipe()
  private let output: String

  init(_ role: String, netns: String, _ arguments: [String], directory: String) throws {
    output = "\(directory)/\(role).out"
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      ["ip", "netns", "exec", netns, "python3", "\(repoRoot)/scripts/peers/traced_app.py", role] + arguments
    process.standardInput = input
    process.standardOutput = FileHandle(forWritingAtPath: output)
    process.standardError = FileHandle.standardError
    try process.run()
    // Python's OpenTelemetry imports take seconds under TCG.
    guard waitFor(120, { text.contains("\"ready\": true") }) != nil else {
      throw TestFailure("traced_app \(role) did not get ready: \(text)")
    }
  }

  var text: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

  /// Closes stdin and waits for the app to flush its spans and exit.
  func finish() {
    try? input.fileHandleForWriting.close()
    waitForExit(process, seconds: 60)
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
  }
}

/// `faultline analyze` on what a real fault did to a real traced application: the issue 15 proof.
extension RealKernel {
  @Suite struct RealKernelAnalyzeTests {
    private static let delayMs = 200.0

    private func profile(_ name: String, netns: String, netem: String) -> String {
      """
      name: \(name)
      duration: 20s
      target: {interface: va, netns: /run/netns/\(netns)}
      netem: {\(netem)}

      """
    }

    private func analyze(_ arguments: [String]) throws -> (status: Int32, json: [String: Any], stderr: String)
    {
      let result = try run([faultlineBinary, "analyze", "--output", "json"] + arguments)
      let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
      return (result.status, json, result.stderr)
    }

    private func operation(_ json: [String: Any], _ service: String, _ name: String, role: String) -> [String:
      Any]
    {
      let operations = json["operations"] as? [[String: Any]] ?? []
      return operations.first {
        $0["service"] as? String == service && $0["operation"] as? String == name
          && $0["role"] as? String == role
      } ?? [:]
    }

    private func number(_ object: [String: Any], _ path: String...) -> Double? {
      var current: Any? = object
      for key in path { current = (current as? [String: Any])?[key] }
      return (current as? NSNumber)?.doubleValue
    }

    /// gateway → frontend (in the faulted namespace, behind the middleware) → backend, through
    /// `va`; `faultline run` opens a 200 ms delay window, then a 30 % loss window; the spans reach
    /// the project's OTLP receiver, which writes the Collector's file format; `analyze` reads it.
    @Test func analyzeReportsTheDelayTheCallerTheMarkedRequestsAndAFailingVerdict() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let work = try makeDirectory("fl-analyze")
      let spansFile = work + "/otlp.json"
      // In the pod's namespace, listening on every address so that the backend in `b` reaches it.
      let receiver = try OTLPReceiver(arguments: ["--file", spansFile, "--host", "0.0.0.0"], netns: net.a)
      defer { receiver.stop() }
      let annotations = work + "/annotations"
      try "chaos.experiment/active=\"false\"\n".write(toFile: annotations, atomically: true, encoding: .utf8)
      let local = "http://127.0.0.1:\(receiver.grpcPort)"

      let backend = try TracedApp(
        "backend", netns: net.b,
        ["--endpoint", "http://192.0.2.1:\(receiver.grpcPort)", "--bind", "192.0.2.2", "--port", "8080"],
        directory: work)
      defer { backend.finish() }
      let frontend = try TracedApp(
        "frontend", netns: net.a,
        [
          "--endpoint", local, "--port", "8081", "--backend", "http://192.0.2.2:8080", "--annotations",
          annotations,
        ], directory: work)
      defer { frontend.finish() }
      let gateway = try TracedApp(
        "gateway", netns: net.a,
        ["--endpoint", local, "--target", "http://127.0.0.1:8081", "--interval", "0.1"],
        directory: work)
      defer { gateway.finish() }

      // A quiet stretch first: the no-fault comparison below reads it.
      let quietStart = Date()
      Thread.sleep(forTimeInterval: 24)
      let quietEnd = Date()

      let profiles = try makeDirectory("fl-analyze-profiles")
      let state = try makeDirectory("fl-analyze-state")
      try profile("slow", netns: net.a, netem: "delay: \(Int(Self.delayMs))ms")
        .write(toFile: profiles + "/slow.yaml", atomically: true, encoding: .utf8)
      let log = state + "/daemon.log"
      let daemon = try launchAgent(
        binary: "/usr/bin/env",
        arguments: [
          "ip", "netns", "exec", net.a, faultlineBinary, "run", "--profiles", profiles, "--state-dir", state,
          "--annotations", annotations,
        ], log: log,
        environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": local, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"])
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
      func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
      func windowsEnded() -> Int { logText().components(separatedBy: "window ended").count - 1 }
      #expect(waitFor(90) { windowsEnded() >= 1 } != nil, "\(logText())")

      // The loss window's own baseline must not overlap the delay window.
      Thread.sleep(forTimeInterval: 22)
      try profile("lossy", netns: net.a, netem: "loss: 30%")
        .write(toFile: profiles + "/lossy.yaml", atomically: true, encoding: .utf8)
      #expect(waitFor(90) { windowsEnded() >= 2 } != nil, "\(logText())")
      Thread.sleep(forTimeInterval: 3)

      gateway.finish()
      frontend.finish()
      backend.finish()
      kill(daemon.processIdentifier, SIGTERM)
      waitForExit(daemon, seconds: 60)
      #expect(daemon.terminationStatus == 0, "\(logText())")
      // Let the receiver write the last batches.
      Thread.sleep(forTimeInterval: 3)

      let slow = try analyze([spansFile, "--experiment", "slow", "--fail-if", "p99 > +50%"])
      let call = operation(slow.json, "frontend", "GET /data", role: "client")
      let shift = number(call, "change", "p50Ms")
      print(
        "measured: analyze, delay \(Int(Self.delayMs)) ms: frontend GET /data p50 "
          + "\(number(call, "baseline", "p50Ms").map { String(format: "%.1f", $0) } ?? "-") → "
          + "\(number(call, "window", "p50Ms").map { String(format: "%.1f", $0) } ?? "-") ms (shift "
          + "\(shift.map { String(format: "%+.1f", $0) } ?? "-") ms), "
          + "requests \(number(call, "baseline", "count") ?? 0) → \(number(call, "window", "count") ?? 0)")
      #expect(slow.status == 1, "a p99 +50% verdict must fail: \(slow.stderr)")
      let verdicts = slow.json["verdicts"] as? [[String: Any]] ?? []
      #expect(verdicts.first?["outcome"] as? String == "fail", "\(verdicts)")
      #expect(
        shift.map { abs($0 - Self.delayMs) <= Self.delayMs * 0.1 } == true,
        "the delayed call's p50 must move by the delay, within 10%: \(call)")

      // Marked against unmarked: the middleware marked the frontend's requests in the window.
      let attribution = slow.json["attribution"] as? [String: Any] ?? [:]
      let marked = number(attribution, "marked", "count") ?? 0
      let unmarked = number(attribution, "unmarked", "count") ?? 0
      print("measured: analyze attribution: \(Int(marked)) marked, \(Int(unmarked)) unmarked server requests")
      #expect(marked > 0 && unmarked > 0, "\(attribution)")

      // The caller of the faulted service is in the blast radius, degraded.
      let blast = slow.json["blastRadius"] as? [String: Any] ?? [:]
      let services = blast["services"] as? [[String: Any]] ?? []
      let gatewayEntry = services.first { $0["service"] as? String == "gateway" }
      print("measured: analyze blast radius: \(blast["chains"] ?? [])")
      #expect(gatewayEntry?["degraded"] as? Bool == true, "\(blast)")

      // A stretch with no fault, against the one before it: no shift.
      let middle = quietStart.addingTimeInterval(quietEnd.timeIntervalSince(quietStart) / 2)
      let quiet = try analyze([
        spansFile, "--window",
        "\(Int(middle.timeIntervalSince1970))/\(Int(quietEnd.timeIntervalSince1970) - 1)",
      ])
      let quietShift = number(
        operation(quiet.json, "frontend", "GET /data", role: "client"), "change", "p50Ms")
      print(
        "measured: analyze, no fault: frontend GET /data p50 shift \(quietShift.map { String(format: "%+.1f", $0) } ?? "-") ms"
      )
      #expect(quiet.status == 0, "\(quiet.stderr)")
      #expect(quietShift.map { abs($0) < Self.delayMs * 0.1 } == true, "\(quiet.json["operations"] ?? [])")

      // The loss window: printed (what TCP retransmissions did), not asserted beyond being found.
      let lossy = try analyze([spansFile, "--experiment", "lossy"])
      let lossyCall = operation(lossy.json, "frontend", "GET /data", role: "client")
      print(
        "measured: analyze, loss 30%: frontend GET /data p99 change "
          + "\(number(lossyCall, "change", "p99Ms").map { String(format: "%+.1f", $0) } ?? "-") ms; "
          + "gateway timeouts \(number(operation(lossy.json, "gateway", "GET /checkout", role: "client"), "window", "timeouts") ?? 0)"
      )
      #expect(lossy.status == 0, "\(lossy.stderr)")
      #expect((lossy.json["windows"] as? [Any])?.count == 1)
    }
  }
}
