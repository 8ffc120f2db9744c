/// Turns the collected spans into a report: statistics per operation, attribution, blast radius,
/// verdicts. Pure: everything comes in through the collector.
public struct Analyzer: Sendable {
  /// `--fail-if` conditions.
  public var conditions: [FailCondition]
  /// `--faulted-service`; empty: the services with requests the middleware marked.
  public var faultedServices: [String]
  /// How many operations' distributions the report keeps (the most changed first).
  public static let plottedOperations = 6

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
      baseline: collector.baseline.filter { !agent.contains($0.service) && SpanRole($0.kind) != nil },
      windows: collector.windows)
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

    // The operations whose median moved most, in either direction; ties: the busier first.
    let plotted = operations.filter { $0.window.count > 0 && $0.baseline.count > 0 }.sorted {
      let (left, right) = (abs($0.change.p50Ms ?? 0), abs($1.change.p50Ms ?? 0))
      return left != right ? left > right : $0.window.count > $1.window.count
    }.prefix(Self.plottedOperations)
    let distributions = plotted.map { op in
      let key = OperationKey(service: op.service, operation: op.operation, role: op.role)
      return LatencyDistribution(
        service: op.service, operation: op.operation, role: op.role,
        baselineMs: LatencyDistribution.percentiles(
          (baselineGroups[key] ?? []).map(\.durationNanos).sorted()),
        windowMs: LatencyDistribution.percentiles((duringGroups[key] ?? []).map(\.durationNanos).sorted()))
    }

    return AnalysisReport(
      windows: collector.windows.map(WindowReport.init), baselineScale: phases.baselineScale,
      excludedServices: agent.sorted(),
      operations: operations,
      attribution: attribution, blastRadius: blastRadius, verdicts: verdicts, distributions: distributions)
  }
}

/// The request spans of the windows and of the baselines, with their retries worked out once.
struct Phases {
  let during: [Span]
  let baseline: [Span]
  let duringRetries: Set<String>
  let baselineRetries: Set<String>
  /// The windows' total length over the baselines': what a baseline count (requests, errors,
  /// timeouts, retries) is multiplied by before it is compared with a window's. A baseline cut short
  /// by the previous window, or a `--baseline` of another length, sees fewer or more requests at the
  /// same rate. 1 when either has no length.
  let baselineScale: Double

  init(during: [Span], baseline: [Span], windows: [FaultWindow] = []) {
    self.during = during
    self.baseline = baseline
    duringRetries = SpanOutcome.retries(among: during)
    baselineRetries = SpanOutcome.retries(among: baseline)
    // An explicit baseline is every window's: count its length once.
    let windowNanos = Set(windows.map(\.during)).reduce(0.0) { $0 + Double($1.lengthNanos) }
    let baselineNanos = Set(windows.map(\.baseline)).reduce(0.0) { $0 + Double($1.lengthNanos) }
    baselineScale = windowNanos > 0 && baselineNanos > 0 ? windowNanos / baselineNanos : 1
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

  init(service: String, operation: String, role: SpanRole) {
    self.service = service
    self.operation = operation
    self.role = role
  }

  static func < (lhs: OperationKey, rhs: OperationKey) -> Bool {
    if (lhs.service, lhs.operation) != (rhs.service, rhs.operation) {
      return (lhs.service, lhs.operation) < (rhs.service, rhs.operation)
    }
    return lhs.role < rhs.role
  }
}
