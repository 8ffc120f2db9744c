import Foundation

/// The terminal rendering of a report: the windows, one row per operation, attribution, the blast
/// radius and the verdicts.
public enum ReportTable {
  /// The report as text for a terminal (plain columns, no colour: it is also read in CI logs).
  public static func render(_ report: AnalysisReport) -> String {
    var out: [String] = []
    let title = report.experiment.map { "experiment \($0)" } ?? "window given by hand"
    out.append("\(title): \(report.windows.count) window\(report.windows.count == 1 ? "" : "s")")
    for window in report.windows {
      var line = "  \(window.start) → \(window.end)  baseline \(window.baselineStart) → \(window.baselineEnd)"
      if let fault = window.fault { line += "  \(fault)" }
      out.append(line)
    }
    if report.baselineScale != 1 {
      out.append(
        String(
          format:
            "  (the baselines are %.2f× as long as the windows: their counts are scaled by %.2f in verdicts)",
          1 / report.baselineScale, report.baselineScale))
    }
    if !report.excludedServices.isEmpty {
      out.append("  (left out, faultline's own spans: \(report.excludedServices.joined(separator: ", ")))")
    }
    out.append("")
    if report.operations.isEmpty {
      out.append("no request spans (server, consumer, client, producer) in the windows or baselines")
    } else {
      var rows = [
        [
          "SERVICE", "OPERATION", "ROLE", "REQUESTS", "P50 MS", "P95 MS", "P99 MS", "ERRORS", "TIMEOUTS",
          "RETRIES", "MARKED",
        ]
      ]
      for op in report.operations {
        rows.append([
          op.service, op.operation, op.role.rawValue, "\(op.baseline.count) → \(op.window.count)",
          latency(op.baseline.p50Ms, op.window.p50Ms, op.change.p50Percent),
          latency(op.baseline.p95Ms, op.window.p95Ms, op.change.p95Percent),
          latency(op.baseline.p99Ms, op.window.p99Ms, op.change.p99Percent),
          "\(rate(op.baseline.errorRate)) → \(rate(op.window.errorRate))",
          "\(op.baseline.timeouts) → \(op.window.timeouts)", "\(op.baseline.retries) → \(op.window.retries)",
          "\(op.marked)/\(op.window.count)",
        ])
      }
      out.append(contentsOf: columns(rows))
      out.append("(each column: baseline → window)")
    }
    out.append("")
    let marked = report.attribution.marked
    let unmarked = report.attribution.unmarked
    out.append(
      "attribution (server spans in the windows): marked \(marked.count) requests, p50 \(ms(marked.p50Ms)), "
        + "errors \(rate(marked.errorRate)); unmarked \(unmarked.count), p50 \(ms(unmarked.p50Ms)), "
        + "errors \(rate(unmarked.errorRate))")
    if report.blastRadius.faultedServices.isEmpty {
      out.append(
        "blast radius: no faulted service known (no marked requests; name it with --faulted-service)")
    } else {
      out.append("blast radius from \(report.blastRadius.faultedServices.joined(separator: ", ")):")
      for chain in report.blastRadius.chains { out.append("  \(chain)") }
      let degraded = report.blastRadius.services.filter(\.degraded).map(\.service)
      if !degraded.isEmpty {
        out.append("  degraded though not faulted: \(degraded.joined(separator: ", "))")
      }
    }
    if !report.verdicts.isEmpty {
      out.append("")
      for verdict in report.verdicts {
        let label = verdict.outcome == .fail ? "FAIL" : verdict.outcome == .pass ? "pass" : "n/a "
        out.append("\(label)  \(verdict.condition)  (\(verdict.detail))")
      }
    }
    let skipped = report.inputs.reduce(0) { $0 + $1.malformedLines }
    if skipped > 0 {
      out.append("")
      out.append("skipped \(skipped) malformed line\(skipped == 1 ? "" : "s"):")
      for line in report.malformed { out.append("  \(line)") }
      if skipped > report.malformed.count { out.append("  …") }
    }
    return out.joined(separator: "\n") + "\n"
  }

  /// Milliseconds as every report writes them: whole from 100 ms up, else one decimal.
  static func number(_ value: Double?) -> String {
    guard let value else { return "-" }
    return abs(value) >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
  }

  static func ms(_ value: Double?) -> String {
    value == nil ? "-" : number(value) + " ms"
  }

  static func latency(_ before: Double?, _ after: Double?, _ percent: Double?) -> String {
    var text = "\(number(before)) → \(number(after))"
    if let percent {
      text +=
        percent.isInfinite ? " (+∞)" : " (" + (percent >= 0 ? "+" : "") + String(format: "%.0f%%)", percent)
    }
    return text
  }

  static func rate(_ fraction: Double?) -> String {
    guard let fraction else { return "-" }
    return String(format: "%.1f%%", fraction * 100)
  }

  /// Left-aligned columns two spaces apart.
  static func columns(_ rows: [[String]]) -> [String] {
    var widths = [Int](repeating: 0, count: rows[0].count)
    for row in rows {
      for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
    }
    return rows.map { row in
      row.enumerated().map { index, cell in
        index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
      }.joined(separator: "  ")
    }
  }
}
