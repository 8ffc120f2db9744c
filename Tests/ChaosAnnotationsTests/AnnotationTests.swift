import ChaosAnnotations
import FaultModel
import Foundation
import Testing

@testable import FaultAgent

@Suite struct AnnotationTests {
  private func tempPath() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-ann-\(UUID().uuidString)")
    return dir.appendingPathComponent("annotations").path
  }

  private func experiment(_ name: String, duration: Duration? = .seconds(300)) throws -> Experiment {
    var fault = NetemFault()
    try fault.set("delay", to: "500ms")
    try fault.set("loss", to: "1%")
    return Experiment(name: name, target: FaultTarget(interface: "eth0"), fault: fault, duration: duration)
  }

  @Test func quotingMatchesGosStrconvQuote() {
    #expect(AnnotationFormat.quote("plain") == "\"plain\"")
    #expect(AnnotationFormat.quote("a\"b\\c\nd\te\u{01}") == "\"a\\\"b\\\\c\\nd\\te\\x01\"")
    #expect(AnnotationFormat.quote("ünï") == "\"ünï\"")
  }

  @Test func renderedFilesParseBackIncludingEscapesAndForeignKeys() {
    let values = ["chaos.experiment/name": "a \"quoted\" name\nwith newline", "app": "checkout", "x": "\\"]
    let text =
      AnnotationFormat.render(values) + "kubernetes.io/config.seen=\"2026-11-22T05:00:00Z\"\nnot a line\n"
    var expected = values
    expected["kubernetes.io/config.seen"] = "2026-11-22T05:00:00Z"
    #expect(AnnotationFormat.parse(text) == expected)
    #expect(AnnotationFormat.unquote("\"\\u00e9\\101\"") == "éA")
    #expect(AnnotationFormat.unquote("\"unterminated") == nil)
  }

  @Test func writerPublishesActiveThenInactiveAndTheReaderFollows() async throws {
    let path = tempPath()
    let writer = AnnotationWriter(path: path, compatKey: "chaos-mesh.org/experiment")
    let reader = ExperimentReader(path: path)
    #expect(reader.current() == nil)
    let first = try experiment("payment-latency")
    let start = Date(timeIntervalSince1970: 1_795_323_600)  // 2026-11-22T05:00:00Z
    try await writer.started(first, at: start)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains("chaos.experiment/active=\"true\"\n"))
    #expect(text.contains("chaos.experiment/started-at=\"2026-11-22T05:00:00Z\""))
    #expect(text.contains("chaos.experiment/ends-at=\"2026-11-22T05:05:00Z\""))
    #expect(text.contains("chaos.experiment/fault=\"delay=500ms loss=1%\""))
    #expect(text.contains("chaos-mesh.org/experiment=\"payment-latency\""))
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    #expect((attributes[.posixPermissions] as? Int) == 0o644)
    #expect(reader.current()?.names == ["payment-latency"])
    #expect(reader.current()?.ids == [first.id])

    let second = try experiment("open-ended", duration: nil)
    try await writer.started(second, at: start)
    #expect(reader.current()?.names == ["payment-latency", "open-ended"])
    #expect(reader.current()?.interfaces == ["eth0", "eth0"])
    #expect(try !String(contentsOfFile: path, encoding: .utf8).contains("ends-at"))

    try await writer.ended(id: first.id)
    try await writer.ended(id: second.id)
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "chaos.experiment/active=\"false\"\n")
    #expect(reader.current() == nil)
  }

  @Test func theReaderParsesOnlyWhenTheFileChanges() async throws {
    let path = tempPath()
    let writer = AnnotationWriter(path: path)
    try await writer.started(try experiment("a"), at: Date())
    let reader = ExperimentReader(path: path)
    for _ in 0..<1000 { _ = reader.current() }
    #expect(reader.parseCount == 1)
    try await writer.started(try experiment("b"), at: Date())
    #expect(reader.current()?.names == ["a", "b"])
    #expect(reader.parseCount == 2)
  }

  @Test func aBoundedReaderAnswersFromItsCacheUntilTheStalenessHasPassed() async throws {
    let path = tempPath()
    let writer = AnnotationWriter(path: path)
    try await writer.started(try experiment("a"), at: Date())
    let reader = ExperimentReader(path: path, maxStaleness: .seconds(2))
    #expect(reader.current()?.names == ["a"])
    try await writer.started(try experiment("b"), at: Date())
    // Within the bound the cached answer stands (no look at the file); after it, the change shows.
    #expect(reader.current()?.names == ["a"])
    #expect(reader.parseCount == 1)
    try await Task.sleep(for: .milliseconds(2100))
    #expect(reader.current()?.names == ["a", "b"])
    #expect(reader.parseCount == 2)
  }

  @Test func aReaderHammeringTheFileWhileItFlipsNeverSeesATornFile() async throws {
    let path = tempPath()
    let writer = AnnotationWriter(path: path)
    try await writer.write()
    let stop = Date().addingTimeInterval(1.5)
    // A real thread, reading in parallel with the writer (not a task sharing the cooperative pool).
    let counts = ReadCounts()
    let reader = Thread { counts.hammer(path: path, until: stop) }
    reader.start()
    var flips = 0
    while Date() < stop {
      let e = try experiment("flip-\(flips)")
      try await writer.started(e, at: Date())
      try await writer.ended(id: e.id)
      flips += 1
    }
    while !counts.finished { try await Task.sleep(for: .milliseconds(10)) }
    #expect(flips > 10)
    #expect(counts.total > 100)
    #expect(counts.torn == 0)
  }

  @Test func thePythonMiddlewareReadsTheSwiftWrittenFile() async throws {
    let path = tempPath()
    let writer = AnnotationWriter(path: path)
    // Quotes, and characters Go's %q escapes: \u200b, \ufeff, \x00, \U000e0001 (the emoji stays raw).
    let name = "cross \"language\"\u{200b}\u{feff}\u{0}\u{1f600}\u{e0001}"
    let e = try experiment(name)
    try await writer.started(e, at: Date())
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", "-c",
      "import sys, json; from faultline_middleware import read_annotations; "
        + "print(json.dumps(read_annotations(sys.argv[1])))", path,
    ]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(
      process.terminationStatus == 0,
      "install the middleware: pip install -e middleware/python (make test does)")
    let parsed = try JSONSerialization.jsonObject(with: data) as? [String: String]
    #expect(parsed?["chaos.experiment/name"] == name)
    #expect(parsed?["chaos.experiment/id"] == e.id)
  }
}

/// Reads the file as fast as possible and counts reads and torn (unparseable) contents.
final class ReadCounts: @unchecked Sendable {
  private let lock = NSLock()
  private var state = (total: 0, torn: 0, finished: false)

  var total: Int { lock.withLock { state.total } }
  var torn: Int { lock.withLock { state.torn } }
  var finished: Bool { lock.withLock { state.finished } }

  func hammer(path: String, until: Date) {
    while Date() < until {
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
      let parsed = AnnotationFormat.parse(text)
      let lines = text.split(separator: "\n").count
      let isTorn = parsed["chaos.experiment/active"] == nil || parsed.count != lines || !text.hasSuffix("\n")
      lock.withLock {
        state.total += 1
        if isTorn { state.torn += 1 }
      }
    }
    lock.withLock { state.finished = true }
  }
}
