import ArgumentParser
import Foundation
import TraceAnalysis
import TraceBackends

/// `faultline analyze`: what a fault did to the application, from its traces.
struct Analyze: AsyncParsableCommand {
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

      Instead of files, a tracing backend's query API: --jaeger URL (api_v3, OTLP) or \
      --jaeger-legacy URL (the internal /api/traces JSON), each with --service NAME for the \
      application's entry service (its traces hold its callees' spans); or --tempo URL, with \
      --traceql QUERY or --service NAME (default: every trace). faultline's own spans are looked \
      up under --agent-service (default faultline) in --range (default: the last 24 hours).

      --report FILE.html also writes a self-contained HTML page: latency distributions before and \
      during for the most changed operations, the blast radius, the verdicts and the windows.

      Exit status: 0 when every condition passes, 1 when one fails, 2 for bad input (an unreadable \
      file, an unreachable backend or its error, an unknown experiment, no window in --range, a \
      bad condition).

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
    help: ArgumentHelp(
      "Only the experiment's windows that start in this range (with a backend, also where they are searched; "
        + "default: the last 24 hours).", valueName: "START/END"))
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

  @Option(help: ArgumentHelp("Also write the report as a self-contained HTML page.", valueName: "FILE.html"))
  var report: String?

  @Option(help: ArgumentHelp("Read spans from Jaeger's api_v3 at this base URL.", valueName: "URL"))
  var jaeger: String?

  @Option(
    name: .customLong("jaeger-legacy"),
    help: ArgumentHelp(
      "Read spans from Jaeger's internal /api/traces JSON at this base URL.", valueName: "URL"))
  var jaegerLegacy: String?

  @Option(help: ArgumentHelp("Read spans from Tempo's HTTP API at this base URL.", valueName: "URL"))
  var tempo: String?

  @Option(
    name: .customLong("service"),
    help: ArgumentHelp("With a backend: the application's services whose traces to read.", valueName: "NAME"))
  var services: [String] = []

  @Option(
    help: ArgumentHelp("With --tempo: the TraceQL selecting the application's traces.", valueName: "QUERY"))
  var traceql: String?

  @Option(
    name: .customLong("agent-service"),
    help: ArgumentHelp("With a backend: the service.name of faultline's own spans.", valueName: "NAME"))
  var agentService = "faultline"

  @Option(
    name: .customLong("max-traces"),
    help: ArgumentHelp("With a backend: the most traces one search returns.", valueName: "N"))
  var maxTraces = 1000

  @Option(
    name: .customLong("backend-timeout"),
    help: ArgumentHelp("With a backend: how long one request may take.", valueName: "DURATION"),
    transform: ArgumentValues.positiveDuration)
  var backendTimeout: Duration = .seconds(30)

  @Option(
    name: .customLong("max-response-mib"),
    help: ArgumentHelp("With a backend: the largest response read, in MiB.", valueName: "N"))
  var maxResponseMiB = 64

  mutating func run() async throws {
    do {
      let (report, warnings) = try await analyze()
      switch output {
      case .text: print(ReportTable.render(report), terminator: "")
      case .json:
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
          positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
      }
      if let path = self.report {
        do {
          try Data(ReportHTML.render(report).utf8).write(to: URL(fileURLWithPath: path))
        } catch {
          throw CLIError(
            message: "cannot write the report to \(path): \(error.localizedDescription)", code: 2)
        }
      }
      for warning in warnings {
        FileHandle.standardError.write(Data("faultline: warning: \(warning)\n".utf8))
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
    } catch let error as TraceBackendError {
      throw CLIError(message: error.description, code: 2)
    }
  }

  /// The backend the flags name, if any (at most one, and not with files).
  private func backend() throws -> BackendConfiguration? {
    let given = [
      jaeger.map { (BackendConfiguration.API.jaegerV3, $0) }, jaegerLegacy.map { (.jaegerLegacy, $0) },
      tempo.map { (.tempo, $0) },
    ].compactMap { $0 }
    guard let (api, url) = given.first else { return nil }
    guard given.count == 1, files.isEmpty else {
      throw CLIError(
        message: "give span files or one of --jaeger, --jaeger-legacy, --tempo, not several", code: 2)
    }
    guard maxTraces > 0 else { throw CLIError(message: "--max-traces must be at least 1", code: 2) }
    guard (1...4096).contains(maxResponseMiB) else {
      throw CLIError(message: "--max-response-mib must be from 1 to 4096", code: 2)
    }
    return BackendConfiguration(
      api: api, baseURL: url, services: services, traceQL: traceql, agentService: agentService,
      maxTraces: maxTraces, requestTimeout: backendTimeout, maxResponseBytes: maxResponseMiB << 20)
  }

  private func analyze() async throws -> (AnalysisReport, [String]) {
    guard let backend = try backend() else {
      guard !files.isEmpty else {
        throw CLIError(
          message: "give span files (faultline analyze spans.json --experiment NAME) or a backend "
            + "(--jaeger URL, --jaeger-legacy URL, --tempo URL)", code: 2)
      }
      return try await analyze(OTLPInput(paths: files))
    }
    return try await BackendSource.with(backend) { source in try await analyze(source) }
  }

  private func analyze(_ source: any SpanSource) async throws -> (AnalysisReport, [String]) {
    guard (experiment == nil) != (window == nil) else {
      throw CLIError(message: "give exactly one of --experiment ID|NAME and --window START/END", code: 2)
    }
    let parsedConditions = try conditions.map { text throws(AnalysisInputError) in
      try FailCondition(parsing: text)
    }
    let explicitBaseline = try baseline.map { text throws(AnalysisInputError) in try TimeRange.parse(text) }
    let windows: [FaultWindow]
    if let experiment {
      let limit = try range.map { text throws(AnalysisInputError) in try TimeRange.parse(text) }
      windows = try await source.windows(
        of: experiment, baseline: explicitBaseline, within: limit,
        now: Int64(Date().timeIntervalSince1970 * 1e9))
    } else {
      let during = try TimeRange.parse(window!)
      windows = [
        FaultWindow(during: during, baseline: explicitBaseline ?? WindowFinder.baselines(before: [during])[0])
      ]
    }
    return try await source.report(
      on: windows, by: Analyzer(conditions: parsedConditions, faultedServices: faultedServices),
      experiment: experiment)
  }
}
