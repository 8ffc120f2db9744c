import ArgumentParser
import Foundation
import TraceAnalysis

/// `faultline analyze`: what a fault did to the application, from its traces.
struct Analyze: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare the application's spans during fault windows with a baseline.",
    discussion: """
      Reads OTLP JSON files as the OpenTelemetry Collector's file exporter writes them (one \
      ExportTraceServiceRequest per line, plain or gzip), finds the windows of an experiment from \
      faultline's own chaos.experiment spans (or takes --window), and compares each service's \
      operations during the windows with the same length just before each (or --baseline): request \
      count, p50/p95/p99 latency, error rate, timeouts, retries, the requests the middleware marked, \
      and the chain of callers the fault reached. faultline's own spans are left out.

      --fail-if CONDITION (repeatable): [SERVICE[:OPERATION]] METRIC OP VALUE, where METRIC is p50, \
      p95, p99, error_rate, errors, timeouts, retries or count; OP is >, >=, <, <=; VALUE is the \
      window's value (200ms, 1s, 1%, 3) or, with a sign, the change from the baseline (+50% relative, \
      +100ms, +2pp for error_rate, +5). Without a scope it reads all services together.

      Exit status: 0 when every condition passes, 1 when one fails, 2 for bad input (an unreadable \
      file, an unknown experiment, no window in --range, a bad condition).

      Example: faultline analyze spans.json.gz --experiment payment-latency --fail-if 'p99 > +50%' \
      --fail-if 'order:GET /pay error_rate > 1%'
      """)

  @Argument(help: ArgumentHelp("OTLP JSON span files (gzip recognised by content).", valueName: "FILE"))
  var files: [String] = []

  @Option(
    help: ArgumentHelp(
      "The experiment whose windows to analyse, by chaos.experiment.id or name.", valueName: "ID|NAME"))
  var experiment: String?

  @Option(
    help: ArgumentHelp(
      "The window, instead of an experiment's (RFC 3339 or Unix seconds).", valueName: "START/END"))
  var window: String?

  @Option(
    help: ArgumentHelp(
      "The baseline for every window (default: the same length just before each).", valueName: "START/END"))
  var baseline: String?

  @Option(
    help: ArgumentHelp("Only the experiment's windows that start in this range.", valueName: "START/END"))
  var range: String?

  @Option(
    name: .customLong("faulted-service"),
    help: ArgumentHelp(
      "Where the fault was (default: the services with requests the middleware marked).", valueName: "SERVICE"
    ))
  var faultedServices: [String] = []

  @Option(
    name: .customLong("fail-if"),
    help: ArgumentHelp("Fail (exit 1) when CONDITION holds; repeatable.", valueName: "CONDITION"))
  var conditions: [String] = []

  @Option(help: "Output format: text (a table) or json.")
  var output: OutputFormat = .text

  mutating func run() throws {
    do {
      let report = try analyze()
      switch output {
      case .text: print(ReportTable.render(report), terminator: "")
      case .json:
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
          positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
      }
      for line in report.malformed {
        FileHandle.standardError.write(Data("faultline: skipped malformed line \(line)\n".utf8))
      }
      fflush(nil)
      if !report.passed { throw ExitCode(1) }
    } catch let error as AnalysisInputError {
      throw CLIError(message: error.description, code: 2)
    } catch let error as TraceInputError {
      throw CLIError(message: error.description, code: 2)
    }
  }

  private func analyze() throws -> AnalysisReport {
    guard !files.isEmpty else {
      throw CLIError(
        message: "give at least one span file, e.g. faultline analyze spans.json --experiment NAME", code: 2)
    }
    guard (experiment == nil) != (window == nil) else {
      throw CLIError(message: "give exactly one of --experiment ID|NAME and --window START/END", code: 2)
    }
    let parsedConditions = try conditions.map { text throws(AnalysisInputError) in
      try FailCondition(parsing: text)
    }
    let explicitBaseline = try baseline.map { text throws(AnalysisInputError) in try TimeRange.parse(text) }
    let input = OTLPInput(paths: files)
    let windows: [FaultWindow]
    if let experiment {
      var finder = WindowFinder(selector: experiment)
      try input.findWindows(&finder)
      let limit = try range.map { text throws(AnalysisInputError) in try TimeRange.parse(text) }
      windows = try finder.windows(baseline: explicitBaseline, within: limit)
    } else {
      let during = try TimeRange.parse(window!)
      windows = [
        FaultWindow(during: during, baseline: explicitBaseline ?? WindowFinder.baselines(before: [during])[0])
      ]
    }
    var collector = SpanCollector(windows: windows)
    let (inputs, malformed) = try input.collect(into: &collector)
    var report = try Analyzer(conditions: parsedConditions, faultedServices: faultedServices).analyze(
      collector)
    report.inputs = inputs
    report.malformed = malformed
    report.experiment = experiment
    return report
  }
}
