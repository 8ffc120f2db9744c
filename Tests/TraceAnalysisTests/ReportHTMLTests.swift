import Foundation
import Testing

@testable import TraceAnalysis

/// The HTML report's content and its escaping, read as text.
@Suite struct ReportHTMLTests {
  func checkoutReport(conditions: [String] = ["p99 > +50%"]) async throws -> AnalysisReport {
    try await Fixture.analyze([try Fixture.write(Fixture.checkoutScenario())], conditions: conditions)
  }

  @Test func thePageHoldsTheWindowsVerdictsPlotsAndBlastRadius() async throws {
    let report = try await checkoutReport()
    let html = ReportHTML.render(report)
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    #expect(html.contains("<section id=\"windows\">") && html.contains("delay_ms=500"))
    #expect(html.contains("<p class=\"status fail\" id=\"status\">a condition fails</p>"))
    #expect(html.contains("<td>p99 &gt; +50%</td>"))
    // One plot per operation with requests before and during (all five here, under the cap of
    // six), each with a baseline and a window curve.
    let plots = html.components(separatedBy: "<svg ").count - 1
    #expect(report.distributions.count == 5 && plots == 5)
    #expect(html.components(separatedBy: "class=\"cdf baseline\"").count - 1 == plots)
    #expect(html.components(separatedBy: "class=\"cdf window\"").count - 1 == plots)
    #expect(html.contains("<span class=\"hop\">payment p50 +500 ms</span><span class=\"arrow\">→</span>"))
  }

  @Test func thePageNeedsNothingFromOutside() async throws {
    let html = ReportHTML.render(try await checkoutReport())
    #expect(!html.contains("<script"))
    #expect(!html.contains("<link"))
    #expect(!html.contains("src="))
    #expect(!html.contains("url("))
    // The only URL is the SVG namespace, which names and does not load.
    #expect(
      html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "").contains("http")
        == false)
  }

  @Test func spanDerivedTextIsEscaped() async throws {
    var report = try await checkoutReport()
    let hostile = "<script>alert(\"x\")</script>&'"
    report.operations[0].operation = hostile
    report.distributions[0].service = hostile
    report.blastRadius.chains = [hostile + " → order"]
    report.windows[0].fault = hostile
    let html = ReportHTML.render(report)
    #expect(!html.contains("<script>"))
    #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"))
  }

  @Test func theDistributionsArePercentilesOfBothPhases() async throws {
    let report = try await checkoutReport()
    let payment = try #require(
      report.distributions.first { $0.service == "payment" && $0.operation == "payment.Charge" })
    #expect(payment.baselineMs.count == 101 && payment.windowMs.count == 101)
    #expect(payment.baselineMs[50] == 10 && payment.windowMs[50] == 510)
    #expect(payment.windowMs == payment.windowMs.sorted())
  }

  @Test func aReportWithoutBaselineRequestsSaysSoInsteadOfPlotting() {
    let empty = PhaseStats([], retried: [])
    let report = AnalysisReport(
      attribution: Attribution(marked: empty, unmarked: empty),
      blastRadius: BlastRadius(faultedServices: [], services: [], chains: []))
    let html = ReportHTML.render(report)
    #expect(html.contains("No operation has requests in both the baseline and the window."))
    #expect(!html.contains("<svg"))
  }
}
