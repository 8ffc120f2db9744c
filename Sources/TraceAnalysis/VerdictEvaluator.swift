import Foundation

/// Evaluates `--fail-if` conditions against the windows and baselines.
struct VerdictEvaluator {
  let phases: Phases

  func evaluate(_ condition: FailCondition) throws(AnalysisInputError) -> VerdictResult {
    func inScope(_ span: Span) -> Bool {
      (condition.service == nil || span.service == condition.service)
        && (condition.operation == nil || span.name == condition.operation)
    }
    let during = phases.during.filter(inScope)
    let baseline = phases.baseline.filter(inScope)
    if let service = condition.service, during.isEmpty && baseline.isEmpty {
      let scope = condition.operation.map { "\(service):\($0)" } ?? service
      let known =
        condition.operation == nil || !phases.during.contains(where: { $0.service == service })
        ? Set((phases.during + phases.baseline).map(\.service)).sorted()
        : Set(
          (phases.during + phases.baseline).filter { $0.service == service }.map { "\(service):\($0.name)" }
        )
        .sorted()
      throw .unknownScope(condition.text, scope: scope, known: known)
    }
    // Retries are made by clients; everything else reads what the servers saw, unless the scope
    // has only client spans (an operation that is a call out).
    let role: SpanRole =
      condition.metric == .retries || !(during + baseline).contains { SpanRole($0.kind) == .server }
      ? .client : .server
    let window = PhaseStats(during.filter { SpanRole($0.kind) == role }, retried: phases.duringRetries)
    let before = PhaseStats(baseline.filter { SpanRole($0.kind) == role }, retried: phases.baselineRetries)
    let after = Self.value(condition.metric, window)
    // A count is compared at the window's length (``Phases/baselineScale``); an absolute threshold
    // reads only the window.
    let earlier = Self.value(condition.metric, before).map {
      condition.metric.isCount ? $0 * phases.baselineScale : $0
    }

    let observed: Double?
    let limit: Double
    let unit: String
    switch condition.threshold {
    case .absolute(let value):
      observed = after
      limit = value
      unit = Self.unit(condition.metric)
    case .change(let value):
      if let after, let earlier {
        observed = condition.metric == .errorRate ? (after - earlier) * 100 : after - earlier
      } else {
        observed = nil
      }
      limit = value
      unit = condition.metric == .errorRate ? " pp" : Self.unit(condition.metric)
    case .relative(let value):
      observed = after.flatMap { a in earlier.map { relativePercent(before: $0, after: a) } }
      limit = value
      unit = "%"
    }
    guard let observed else {
      return VerdictResult(
        condition: condition.text, outcome: .noData, observed: nil,
        detail: "no data: \(window.count) requests in the window, \(before.count) in the baseline")
    }
    let fails = condition.comparison.holds(observed, limit)
    let shown = condition.metric == .errorRate && condition.threshold.isAbsolute ? observed * 100 : observed
    let signed: Bool = {
      if case .absolute = condition.threshold { return false }
      return true
    }()
    return VerdictResult(
      condition: condition.text, outcome: fails ? .fail : .pass, observed: shown,
      detail: "\(condition.metric.rawValue) \(Self.format(shown, signed: signed))\(unit)")
  }

  /// The metric's value in the condition's units (ms, a fraction, a count); nil with no requests.
  static func value(_ metric: FailCondition.Metric, _ stats: PhaseStats) -> Double? {
    switch metric {
    case .p50: stats.p50Ms
    case .p95: stats.p95Ms
    case .p99: stats.p99Ms
    case .errorRate: stats.errorRate
    case .errors: Double(stats.errors)
    case .timeouts: Double(stats.timeouts)
    case .retries: Double(stats.retries)
    case .count: Double(stats.count)
    }
  }

  static func unit(_ metric: FailCondition.Metric) -> String {
    metric.isLatency ? " ms" : metric == .errorRate ? "%" : ""
  }

  static func format(_ value: Double, signed: Bool) -> String {
    if value.isInfinite { return value > 0 ? "+∞" : "-∞" }
    let text =
      value == value.rounded() && abs(value) < 1e12 ? String(Int64(value)) : String(format: "%.1f", value)
    return signed && value >= 0 ? "+" + text : text
  }
}

extension FailCondition.Threshold {
  var isAbsolute: Bool {
    if case .absolute = self { return true }
    return false
  }
}
