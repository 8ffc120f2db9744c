import AgentTestSupport
import Foundation
import Testing

@testable import TraceAnalysis

/// Headless Chromium (Debian's `chromium`), when installed.
let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
  FileManager.default.isExecutableFile(atPath: $0)
}

/// Where browser artifacts go: `FAULTLINE_TEST_OUT`, else `.build/test-output` in this checkout.
let testOutputDirectory: String = {
  ProcessInfo.processInfo.environment["FAULTLINE_TEST_OUT"] ?? repoRoot + "/.build/test-output"
}()

/// Whether to run the browser: only when asked (`FAULTLINE_BROWSER_TEST=1`, as `make report-test`
/// and `make unit-test` set it in a run of its own). Chromium takes both cores of a small machine
/// for seconds, long enough to starve the timing-sensitive tests of a parallel full run.
let browserTestRequested = ProcessInfo.processInfo.environment["FAULTLINE_BROWSER_TEST"] == "1"

/// The HTML report opened in a real browser: it must render with no console errors, with its SVG
/// plots in the DOM, and leave a screenshot to look at.
@Suite(
  .enabled(if: browserTestRequested, "runs alone: make report-test (or FAULTLINE_BROWSER_TEST=1)"),
  .enabled(if: chromium != nil, "needs Debian's chromium (apt-get install chromium)"),
  .timeLimit(.minutes(2)))
struct ReportBrowserTests {
  func chrome(_ arguments: [String]) throws -> ProcessResult {
    // A profile of its own, so a browser of the user's or another test run is not joined.
    let profile = NSTemporaryDirectory() + "fl-chromium-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: profile) }
    return try runProcess(
      [
        chromium!, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
        "--user-data-dir=\(profile)",
        "--enable-logging=stderr", "--v=0",
      ] + arguments)
  }

  /// Every console message Chromium logged (`CONSOLE` lines of `--enable-logging`; it tags
  /// `console.error` as INFO too, so the level cannot tell them apart), and failed loads. The page
  /// has no script, so its console must stay silent.
  static func consoleErrors(_ log: String) -> [String] {
    log.split(separator: "\n").map(String.init).filter { line in
      line.contains(":CONSOLE") || line.contains("net::ERR_") || line.contains("Uncaught")
    }
  }

  @Test func theReportRendersWithItsPlotsAndNoConsoleErrors() async throws {
    try FileManager.default.createDirectory(atPath: testOutputDirectory, withIntermediateDirectories: true)
    var report = try await Fixture.analyze(
      [try Fixture.write(Fixture.checkoutScenario())], conditions: ["p99 > +50%", "payment timeouts > 0"])
    report.experiment = "payment-latency"
    let page = testOutputDirectory + "/analyze-report.html"
    let screenshot = testOutputDirectory + "/analyze-report.png"
    try Data(ReportHTML.render(report).utf8).write(to: URL(fileURLWithPath: page))
    try? FileManager.default.removeItem(atPath: screenshot)

    let dom = try chrome(["--dump-dom", "file://\(page)"])
    #expect(dom.status == 0, "\(dom.stderr.suffix(2000))")
    #expect(Self.consoleErrors(dom.stderr).isEmpty, "\(Self.consoleErrors(dom.stderr))")
    // The parsed DOM, not the file: what the browser built from it.
    #expect(dom.stdout.components(separatedBy: "<svg ").count - 1 == report.distributions.count)
    #expect(report.distributions.count == 5)
    #expect(dom.stdout.contains("class=\"cdf window\""))
    #expect(dom.stdout.contains("<section id=\"blast-radius\">"))
    #expect(dom.stdout.contains("id=\"status\">a condition fails</p>"))

    let shot = try chrome(["--screenshot=\(screenshot)", "--window-size=1280,2000", "file://\(page)"])
    #expect(shot.status == 0, "\(shot.stderr.suffix(2000))")
    #expect(Self.consoleErrors(shot.stderr).isEmpty, "\(Self.consoleErrors(shot.stderr))")
    let size = (try? FileManager.default.attributesOfItem(atPath: screenshot)[.size] as? Int) ?? 0
    #expect(size > 10_000, "the screenshot is missing or blank")
    print("analyze report screenshot: \(screenshot)")
  }
}
