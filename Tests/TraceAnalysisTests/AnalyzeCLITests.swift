import AgentTestSupport
import Foundation
import Testing

/// The checkout this file is in.
let repoRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()

/// The `faultline` binary: `FAULTLINE_BIN`, else the debug build in this checkout.
let faultlineBinary =
  ProcessInfo.processInfo.environment["FAULTLINE_BIN"] ?? repoRoot + "/.build/debug/faultline"

/// `faultline analyze` as a user runs it: the built binary, its output and exit status.
@Suite(
  .enabled(if: FileManager.default.isExecutableFile(atPath: faultlineBinary), "needs the built faultline"))
struct AnalyzeCLITests {
  func run(_ arguments: [String]) throws -> ProcessResult {
    try runProcess([faultlineBinary, "analyze"] + arguments)
  }

  @Test func passingVerdictsExitZeroAndPrintTheTable() throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let result = try run([path, "--experiment", "payment-latency", "--fail-if", "payment timeouts > 0"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("experiment payment-latency: 1 window"))
    #expect(result.stdout.contains("payment  payment.Charge  server  60 → 60"))
    #expect(result.stdout.contains("payment p50 +500 ms → order"))
    #expect(result.stdout.contains("pass  payment timeouts > 0"))
  }

  @Test func aFailingVerdictExitsOne() throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let result = try run([path, "--experiment", Fixture.experimentID, "--fail-if", "p99 > +50%"])
    #expect(result.status == 1)
    #expect(result.stdout.contains("FAIL  p99 > +50%  (p99 +1250%)"))
  }

  @Test func jsonOutputHasTheReportShape() throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let result = try run([
      path, "--experiment", "payment-latency", "--output", "json", "--fail-if", "order timeouts > +5",
    ])
    #expect(result.status == 1)
    let json = try #require(
      try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    #expect(
      Set(json.keys) == [
        "inputs", "malformed", "experiment", "windows", "baselineScale", "excludedServices", "operations",
        "attribution",
        "blastRadius", "verdicts", "distributions", "passed",
      ])
    #expect(json["passed"] as? Bool == false)
    let operations = try #require(json["operations"] as? [[String: Any]])
    let payment = try #require(operations.first { $0["service"] as? String == "payment" })
    #expect((payment["window"] as? [String: Any])?["p50Ms"] as? Double == 510)
    #expect((payment["change"] as? [String: Any])?["p50Ms"] as? Double == 500)
    #expect(payment["marked"] as? Int == 60)
    let verdicts = try #require(json["verdicts"] as? [[String: Any]])
    #expect(verdicts.first?["outcome"] as? String == "fail")
  }

  @Test func anExplicitWindowWorksWithoutExperimentSpans() throws {
    let lines = Fixture.checkoutScenario()
    let path = try Fixture.write(Array(lines.dropFirst()))
    let result = try run([
      path, "--window", "1700000060/1700000120", "--fail-if", "payment:payment.Charge p50 > +400ms",
    ])
    #expect(result.status == 1)
    #expect(result.stdout.contains("window given by hand: 1 window"))
  }

  @Test(arguments: [
    (["/nonexistent.json", "--experiment", "x"], "/nonexistent.json: cannot read (no such file)"),
    (["FIXTURE", "--experiment", "nope"], "no chaos.experiment span with id or name \"nope\""),
    (
      ["FIXTURE", "--experiment", "payment-latency", "--range", "1800000000/1800000100"],
      "none inside --range"
    ),
    (["FIXTURE", "--experiment", "payment-latency", "--fail-if", "p99 > 5"], "bad --fail-if \"p99 > 5\""),
    (["FIXTURE"], "give exactly one of --experiment"),
  ])
  func badInputExitsTwoWithAClearMessage(arguments: [String], message: String) throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let result = try run(arguments.map { $0 == "FIXTURE" ? path : $0 })
    #expect(result.status == 2)
    #expect(result.stderr.contains(message))
  }

  @Test func theReportFlagWritesTheHTMLPageBesideTheTable() throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let page = (path as NSString).deletingLastPathComponent + "/report.html"
    let result = try run([path, "--experiment", "payment-latency", "--report", page])
    #expect(result.status == 0)
    #expect(result.stdout.contains("experiment payment-latency: 1 window"))
    let html = try String(contentsOfFile: page, encoding: .utf8)
    #expect(html.contains("<title>faultline analyze: experiment payment-latency</title>"))
    #expect(html.contains("class=\"cdf window\""))
  }

  @Test func anUnwritableReportPathExitsTwo() throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let result = try run([
      path, "--experiment", "payment-latency", "--report", "/nonexistent/dir/report.html",
    ])
    #expect(result.status == 2)
    #expect(result.stderr.contains("cannot write the report to /nonexistent/dir/report.html"))
  }

  @Test func malformedLinesAreReportedOnStderrAndTheRunGoesOn() throws {
    var lines = Fixture.checkoutScenario()
    lines.insert("garbage", at: 5)
    let path = try Fixture.write(lines)
    let result = try run([path, "--experiment", "payment-latency"])
    #expect(result.status == 0)
    #expect(result.stderr.contains("skipped malformed line \(path):6: not JSON"))
    #expect(result.stdout.contains("skipped 1 malformed line"))
  }
}
