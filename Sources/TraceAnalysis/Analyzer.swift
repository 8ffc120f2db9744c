/// Turns the collected spans into a report: statistics per operation, attribution, blast radius,
/// verdicts. Pure: everything comes in through the collector.
public struct Analyzer: Sendable {
  /// `--fail-if` conditions.
  public var conditions: [FailCondition]
  /// `--faulted-service`; empty: the services with requests the middleware marked.
  public var faultedServices: [String]

  /// An analyzer.
  public init(conditions: [FailCondition] = [], faultedServices: [String] = []) {
    self.conditions = conditions
    self.faultedServices = faultedServices
  }

  /// The report; throws when a condition names a service or operation with no spans at all.
  public func analyze(_ collector: SpanCollector) throws(AnalysisInputError) -> AnalysisReport {
    let agent = collector.agentServices
    let phases = Phases(
      during: collector.during.filter { !agent.contains($0.service) && SpanRole($0.kind) != nil },
      baseline: collector.baseline.filter { !agent.contains($0.service) && SpanRole($0.kind) != nil })
    let marks = ExperimentMarks(windows: collector.windows)

    var operations: [OperationReport] = []
    let duringGroups = Dictionary(grouping: phases.during, by: OperationKey.init)
    let baselineGroups = Dictionary(grouping: phases.baseline, by: OperationKey.init)
    for key in Set(duringGroups.keys).union(baselineGroups.keys).sorted() {
      let during = duringGroups[key] ?? []
      let window = PhaseStats(during, retried: phases.duringRetries)
      let baseline = PhaseStats(baselineGroups[key] ?? [], retried: phases.baselineRetries)
      operations.append(
        OperationReport(
          service: key.service, operation: key.operation, role: key.role, window: window, baseline: baseline,
          change: PhaseChange(from: baseline, to: window), marked: during.count(where: marks.isMarked)))
    }

    let servers = phases.during.filter { SpanRole($0.kind) == .server }
    let attribution = Attribution(
      marked: PhaseStats(servers.filter(marks.isMarked), retried: phases.duringRetries),
      unmarked: PhaseStats(servers.filter { !marks.isMarked($0) }, retried: phases.duringRetries))

    let faulted =
      faultedServices.isEmpty
      ? Set(phases.during.filter(marks.isMarked).map(\.service)).sorted() : faultedServices
    let blastRadius = BlastRadiusTracer(phases: phases, faulted: faulted).trace()

    var verdicts: [VerdictResult] = []
    for condition in conditions { verdicts.append(try VerdictEvaluator(phases: phases).evaluate(condition)) }

    return AnalysisReport(
      windows: collector.windows.map(WindowReport.init), excludedServices: agent.sorted(),
      operations: operations,
      attribution: attribution, blastRadius: blastRadius, verdicts: verdicts)
  }
}

/// The request spans of the windows and of the baselines, with their retries worked out once.
struct Phases {
  let during: [Span]
  let baseline: [Span]
  let duringRetries: Set<String>
  let baselineRetries: Set<String>

  init(during: [Span], baseline: [Span]) {
    self.during = during
    self.baseline = baseline
    duringRetries = SpanOutcome.retries(among: during)
    baselineRetries = SpanOutcome.retries(among: baseline)
  }
}

/// A row of the table.
struct OperationKey: Hashable, Comparable {
  let service: String
  let operation: String
  let role: SpanRole

  init(_ span: Span) {
    service = span.service
    operation = span.name
    role = SpanRole(span.kind) ?? .server
  }

  static func < (lhs: OperationKey, rhs: OperationKey) -> Bool {
    if (lhs.service, lhs.operation) != (rhs.service, rhs.operation) {
      return (lhs.service, lhs.operation) < (rhs.service, rhs.operation)
    }
    return lhs.role < rhs.role
  }
}
