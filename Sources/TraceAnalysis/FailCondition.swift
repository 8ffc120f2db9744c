import Foundation

/// A `--fail-if` condition: the run fails when it holds.
///
/// Grammar (spaces around the operator optional):
/// ```
/// condition := [scope] metric op value
/// scope     := SERVICE | SERVICE ':' OPERATION     (no scope: all services together)
/// metric    := p50 | p95 | p99 | error_rate | errors | timeouts | retries | count
/// op        := '>' | '>=' | '<' | '<='
/// value     := NUMBER unit                          the window's value
///            | ('+' | '-') NUMBER (unit | '%' | 'pp')  the change from the baseline
/// unit      := 'us' | 'ms' | 's'   latencies (required for them)
///            | '%'                 error_rate (absolute), or any metric with a sign (relative change)
///            | ''                  counts (errors, timeouts, retries, count)
/// ```
/// `pp` is percentage points, for `error_rate` only (`error_rate > +2pp`). The scope is split at its
/// first colon, so an operation may hold spaces and colons (`order:GET /pay`). A scope reads the
/// scope's server and consumer spans (its client spans when it has none; `retries` always reads
/// client spans). A condition that needs a baseline which has no requests does not fail; the
/// report says "no data".
public struct FailCondition: Sendable, Hashable {
  /// What is measured.
  public enum Metric: String, Sendable, Hashable, CaseIterable {
    case p50, p95, p99
    case errorRate = "error_rate"
    case errors, timeouts, retries, count

    var isLatency: Bool { self == .p50 || self == .p95 || self == .p99 }
    var isCount: Bool { self == .errors || self == .timeouts || self == .retries || self == .count }
  }

  /// The comparison.
  public enum Comparison: String, Sendable, Hashable {
    case greater = ">"
    case greaterOrEqual = ">="
    case less = "<"
    case lessOrEqual = "<="

    func holds(_ lhs: Double, _ rhs: Double) -> Bool {
      switch self {
      case .greater: lhs > rhs
      case .greaterOrEqual: lhs >= rhs
      case .less: lhs < rhs
      case .lessOrEqual: lhs <= rhs
      }
    }
  }

  /// What the metric is compared as.
  public enum Threshold: Sendable, Hashable {
    /// The window's own value: milliseconds for latencies, a fraction for error_rate, a count.
    case absolute(Double)
    /// Window minus baseline, in the same units as `absolute` (error_rate in percentage points).
    case change(Double)
    /// Relative change from the baseline, in percent.
    case relative(Double)
  }

  /// The text as given.
  public var text: String
  /// The service; nil for all services together.
  public var service: String?
  /// The operation (span name); nil for the whole service.
  public var operation: String?
  /// The metric.
  public var metric: Metric
  /// The comparison.
  public var comparison: Comparison
  /// The value compared with.
  public var threshold: Threshold

  /// Parses `text` by the grammar above.
  public init(parsing text: String) throws(AnalysisInputError) {
    self.text = text
    guard let (position, comparison) = Self.lastOperator(in: text) else {
      throw .badCondition(text, reason: "no comparison (>, >=, <, <=)")
    }
    self.comparison = comparison
    let left = text[..<position].trimmingCharacters(in: .whitespaces)
    let right = text[text.index(position, offsetBy: comparison.rawValue.count)...].trimmingCharacters(
      in: .whitespaces)
    let words = left.split(whereSeparator: { $0 == " " || $0 == "\t" })
    guard let metricWord = words.last else {
      throw .badCondition(text, reason: "no metric before \"\(comparison.rawValue)\"")
    }
    guard let metric = Metric(rawValue: String(metricWord)) else {
      throw .badCondition(
        text,
        reason:
          "unknown metric \"\(metricWord)\" (one of \(Metric.allCases.map(\.rawValue).joined(separator: ", ")))"
      )
    }
    self.metric = metric
    let scope = left.dropLast(metricWord.count).trimmingCharacters(in: .whitespaces)
    if !scope.isEmpty {
      if let colon = scope.firstIndex(of: ":") {
        service = String(scope[..<colon])
        let operation = scope[scope.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        guard !operation.isEmpty else {
          throw .badCondition(text, reason: "empty operation after \"\(service!):\"")
        }
        self.operation = operation
      } else {
        service = scope
      }
      guard !service!.isEmpty else { throw .badCondition(text, reason: "empty service before \":\"") }
    }
    threshold = try Self.threshold(right, metric: metric, text: text)
  }

  private static func lastOperator(in text: String) -> (String.Index, Comparison)? {
    var index = text.endIndex
    while index > text.startIndex {
      index = text.index(before: index)
      guard text[index] == ">" || text[index] == "<" else { continue }
      let symbol = text[index]
      // ">=" is one operator: step back onto its first character when at "=".
      let next = text.index(after: index)
      if next < text.endIndex, text[next] == "=" {
        return (index, symbol == ">" ? .greaterOrEqual : .lessOrEqual)
      }
      return (index, symbol == ">" ? .greater : .less)
    }
    return nil
  }

  private static func threshold(_ value: String, metric: Metric, text: String) throws(AnalysisInputError)
    -> Threshold
  {
    guard !value.isEmpty else { throw .badCondition(text, reason: "no value after the comparison") }
    let signed = value.first == "+" || value.first == "-"
    let number = value.prefix { $0.isNumber || $0 == "." || $0 == "+" || $0 == "-" }
    let unit = value.dropFirst(number.count).trimmingCharacters(in: .whitespaces)
    guard let amount = Double(number), amount.isFinite else {
      throw .badCondition(text, reason: "\"\(value)\" does not start with a number")
    }
    if unit == "%" && signed { return .relative(amount) }
    if unit == "pp" {
      guard metric == .errorRate, signed else {
        throw .badCondition(text, reason: "pp (percentage points) is for a change of error_rate, as in +2pp")
      }
      return .change(amount)
    }
    let scaled: Double
    switch metric {
    case _ where metric.isLatency:
      let factors: [String: Double] = ["us": 0.001, "µs": 0.001, "ms": 1, "s": 1000]
      guard let factor = factors[unit] else {
        throw .badCondition(text, reason: "a latency needs a unit (us, ms, s) or a relative change (+50%)")
      }
      scaled = amount * factor
    case .errorRate:
      guard unit == "%" else {
        throw .badCondition(
          text, reason: "error_rate is a percentage: write 1% (or +50% relative, +2pp change)")
      }
      scaled = amount / 100
    default:
      guard unit.isEmpty else {
        throw .badCondition(text, reason: "\(metric.rawValue) is a count: write a number, +N, or +N%")
      }
      scaled = amount
    }
    return signed ? .change(scaled) : .absolute(scaled)
  }
}
