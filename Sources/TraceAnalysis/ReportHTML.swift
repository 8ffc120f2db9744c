import Foundation

/// The report as one self-contained HTML page (`--report FILE.html`): inline CSS and inline SVG, no
/// script and no external asset, so it opens anywhere (a CI artifact, an air-gapped laptop) and
/// looks the same. Every span-derived string goes through ``HTMLText`` escaping.
public enum ReportHTML {
  /// The page.
  public static func render(_ report: AnalysisReport) -> String {
    var page = HTMLText()
    let title =
      "faultline analyze: " + (report.experiment.map { "experiment \($0)" } ?? "window given by hand")
    page.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    page.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    page.element("title", [], title)
    page.raw("<style>\(style)</style></head><body>")
    page.element("h1", [], title)
    let verdict =
      report.verdicts.isEmpty
      ? ("none", "no --fail-if conditions")
      : report.passed ? ("pass", "all conditions pass") : ("fail", "a condition fails")
    page.element("p", [("class", "status \(verdict.0)"), ("id", "status")], verdict.1)

    windows(report, into: &page)
    verdicts(report, into: &page)
    plots(report, into: &page)
    blastRadius(report, into: &page)
    operations(report, into: &page)
    inputs(report, into: &page)
    page.raw("</body></html>\n")
    return page.markup
  }

  private static func windows(_ report: AnalysisReport, into page: inout HTMLText) {
    page.raw("<section id=\"windows\">")
    page.element("h2", [], "Windows and the fault applied")
    table(
      ["window", "baseline", "experiment", "fault"],
      report.windows.map { window in
        [
          "\(window.start) → \(window.end)", "\(window.baselineStart) → \(window.baselineEnd)",
          [window.experimentName, window.experimentId.map { "(\($0))" }].compactMap { $0 }.joined(
            separator: " "),
          window.fault ?? "-",
        ]
      }, into: &page)
    if !report.excludedServices.isEmpty {
      page.element(
        "p", [("class", "note")],
        "Left out (faultline's own spans): " + report.excludedServices.joined(separator: ", "))
    }
    page.raw("</section>")
  }

  private static func verdicts(_ report: AnalysisReport, into page: inout HTMLText) {
    page.raw("<section id=\"verdicts\">")
    page.element("h2", [], "Verdicts")
    if report.verdicts.isEmpty {
      page.element("p", [("class", "note")], "No --fail-if conditions were given.")
    } else {
      page.raw("<table><thead><tr><th>outcome</th><th>condition</th><th>observed</th></tr></thead><tbody>")
      for verdict in report.verdicts {
        page.open("tr", [("class", verdict.outcome.rawValue)])
        page.element(
          "td", [("class", "outcome")], verdict.outcome == .noData ? "no data" : verdict.outcome.rawValue)
        page.element("td", [], verdict.condition)
        page.element("td", [], verdict.detail)
        page.close("tr")
      }
      page.raw("</tbody></table>")
    }
    page.raw("</section>")
  }

  private static func plots(_ report: AnalysisReport, into page: inout HTMLText) {
    page.raw("<section id=\"latency\">")
    page.element("h2", [], "Latency before and during")
    if report.distributions.isEmpty {
      page.element("p", [("class", "note")], "No operation has requests in both the baseline and the window.")
    }
    page.raw("<div class=\"plots\">")
    for distribution in report.distributions {
      page.raw("<figure>")
      page.raw(LatencyPlot.svg(distribution))
      page.open("figcaption")
      page.element("strong", [], "\(distribution.service) · \(distribution.operation)")
      let p50 =
        (distribution.baselineMs.count == 101 && distribution.windowMs.count == 101)
        ? " — p50 \(ReportTable.ms(distribution.baselineMs[50])) → \(ReportTable.ms(distribution.windowMs[50]))"
        : ""
      page.text(" (\(distribution.role.rawValue))\(p50)")
      page.close("figcaption")
      page.raw("</figure>")
    }
    page.raw("</div></section>")
  }

  private static func blastRadius(_ report: AnalysisReport, into page: inout HTMLText) {
    let blast = report.blastRadius
    page.raw("<section id=\"blast-radius\">")
    page.element("h2", [], "Blast radius")
    if blast.faultedServices.isEmpty {
      page.element(
        "p", [("class", "note")],
        "No faulted service known (no marked requests; name it with --faulted-service).")
      page.raw("</section>")
      return
    }
    page.element(
      "p", [], "From " + blast.faultedServices.joined(separator: ", ") + ", up through the callers:")
    page.raw("<ol class=\"chains\">")
    for chain in blast.chains {
      page.raw("<li class=\"chain\">")
      for (index, hop) in chain.components(separatedBy: " → ").enumerated() {
        if index > 0 { page.raw("<span class=\"arrow\">→</span>") }
        page.element("span", [("class", "hop")], hop)
      }
      page.raw("</li>")
    }
    page.raw("</ol>")
    table(
      ["service", "distance", "faulted", "degraded", "p99 change", "timeouts", "retries", "callers"],
      blast.services.map { impact in
        [
          impact.service, String(impact.distance), impact.faulted ? "yes" : "no",
          impact.degraded ? "yes" : "no",
          impact.change.p99Ms.map(BlastRadiusTracer.signedMs) ?? "-",
          String(impact.timeouts),
          String(impact.retries), impact.callers.joined(separator: ", "),
        ]
      }, into: &page)
    let attribution = report.attribution
    page.element(
      "p", [("class", "note")],
      "Attribution (server spans in the windows): marked \(attribution.marked.count) requests, p50 "
        + "\(ReportTable.ms(attribution.marked.p50Ms)); unmarked \(attribution.unmarked.count), p50 "
        + "\(ReportTable.ms(attribution.unmarked.p50Ms)).")
    page.raw("</section>")
  }

  private static func operations(_ report: AnalysisReport, into page: inout HTMLText) {
    page.raw("<section id=\"operations\">")
    page.element("h2", [], "Operations (baseline → window)")
    table(
      [
        "service", "operation", "role", "requests", "p50 ms", "p95 ms", "p99 ms", "errors", "timeouts",
        "retries", "marked",
      ],
      report.operations.map { op in
        [
          op.service, op.operation, op.role.rawValue, "\(op.baseline.count) → \(op.window.count)",
          ReportTable.latency(op.baseline.p50Ms, op.window.p50Ms, op.change.p50Percent),
          ReportTable.latency(op.baseline.p95Ms, op.window.p95Ms, op.change.p95Percent),
          ReportTable.latency(op.baseline.p99Ms, op.window.p99Ms, op.change.p99Percent),
          "\(ReportTable.rate(op.baseline.errorRate)) → \(ReportTable.rate(op.window.errorRate))",
          "\(op.baseline.timeouts) → \(op.window.timeouts)", "\(op.baseline.retries) → \(op.window.retries)",
          "\(op.marked)/\(op.window.count)",
        ]
      }, into: &page)
    page.raw("</section>")
  }

  private static func inputs(_ report: AnalysisReport, into page: inout HTMLText) {
    page.raw("<section id=\"inputs\">")
    page.element("h2", [], "Inputs")
    table(
      ["input", "records", "spans", "malformed"],
      report.inputs.map { [$0.file, String($0.lines), String($0.spans), String($0.malformedLines)] },
      into: &page)
    for line in report.malformed { page.element("p", [("class", "note")], "skipped: \(line)") }
    page.raw("</section>")
  }

  private static func table(_ header: [String], _ rows: [[String]], into page: inout HTMLText) {
    page.raw("<table><thead><tr>")
    for cell in header { page.element("th", [], cell) }
    page.raw("</tr></thead><tbody>")
    for row in rows {
      page.raw("<tr>")
      for cell in row { page.element("td", [], cell) }
      page.raw("</tr>")
    }
    page.raw("</tbody></table>")
  }

  private static let style = """
    body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;\
    padding:0 16px;color:#222}
    h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
    table{border-collapse:collapse;width:100%;font-size:13px}
    th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
    th{background:#f6f6f6}
    .status{display:inline-block;padding:4px 10px;border-radius:4px;font-weight:600}
    .status.pass,tr.pass .outcome{color:#1b5e20}.status.pass{background:#e8f5e9}
    .status.fail,tr.fail .outcome{color:#b71c1c}.status.fail{background:#ffebee}
    .status.none{background:#eee}
    .note{color:#666}
    .plots{display:flex;flex-wrap:wrap;gap:16px}
    figure{margin:0;border:1px solid #eee;padding:8px}
    figcaption{font-size:13px;max-width:560px;overflow-wrap:anywhere}
    svg.plot .grid{stroke:#e6e6e6}svg.plot .tick,svg.plot .legend,svg.plot .axis{font-size:11px;fill:#444}
    .chains{padding-left:20px}.chain{margin:6px 0}
    .hop{display:inline-block;border:1px solid #ccc;border-radius:4px;padding:2px 8px;background:#fafafa}
    .arrow{margin:0 8px;color:#888}
    """
}
