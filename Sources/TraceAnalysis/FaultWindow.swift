import ChaosAnnotations

/// One fault window to compare with its baseline.
public struct FaultWindow: Sendable, Hashable {
  /// When the fault was on.
  public var during: TimeRange
  /// What it is compared with.
  public var baseline: TimeRange
  /// `chaos.experiment.id` of the window's span; nil for a `--window` given by hand.
  public var experimentID: String?
  /// `chaos.experiment.name`; nil for a `--window` given by hand.
  public var experimentName: String?
  /// The `chaos.experiment` span's id, which the middleware's links point at.
  public var spanID: String?
  /// The requested fault as `delay_ms=500 loss_pct=1` (from `chaos.experiment.netem.*`).
  public var fault: String?

  /// A window.
  public init(
    during: TimeRange, baseline: TimeRange, experimentID: String? = nil, experimentName: String? = nil,
    spanID: String? = nil, fault: String? = nil
  ) {
    self.during = during
    self.baseline = baseline
    self.experimentID = experimentID
    self.experimentName = experimentName
    self.spanID = spanID
    self.fault = fault
  }
}

/// Finds an experiment's windows among faultline's own `chaos.experiment` spans, fed one at a time
/// so that the spans can stream past.
public struct WindowFinder: Sendable {
  /// The experiment's id or name.
  public let selector: String
  private var found: [String: Span] = [:]
  private var seen: Set<String> = []

  /// A finder of the windows whose `chaos.experiment.id` or `chaos.experiment.name` is `selector`.
  public init(selector: String) { self.selector = selector }

  /// Whether a line can hold an experiment span at all: lets a first pass skip parsing the rest.
  /// The name is looked for with its quotes, so request spans the middleware marked (whose keys
  /// `"chaos.experiment.id"` only start the same) do not have to be parsed.
  public static func mayContainExperiment(_ line: [UInt8]) -> Bool {
    let needle = experimentNeedle
    guard line.count >= needle.count else { return false }
    var index = 0
    while index <= line.count - needle.count {
      if line[index] == needle[0], line[index..<(index + needle.count)].elementsEqual(needle) { return true }
      index += 1
    }
    return false
  }

  /// `"chaos.experiment"`, quotes included, as bytes: built once, not per line.
  private static let experimentNeedle = Array("\"\(ChaosSpanVocabulary.experimentSpan)\"".utf8)

  /// Looks at one span.
  public mutating func add(_ span: Span) {
    guard span.name == ChaosSpanVocabulary.experimentSpan else { return }
    let id = span.attributes[ChaosSpanVocabulary.id]?.text
    let name = span.attributes[ChaosSpanVocabulary.name]?.text
    if let name { seen.insert(name) }
    guard id == selector || name == selector else { return }
    // The same span may arrive twice (a file written by two collectors); the window is one.
    found[span.traceID + span.spanID] = span
  }

  /// The windows in start order, each with the baseline of the same length just before it
  /// (cut short where it would overlap the previous window), or `baseline` when given.
  ///
  /// Throws when the experiment has no span, or none starts inside `range`.
  public func windows(baseline explicit: TimeRange? = nil, within range: TimeRange? = nil)
    throws(AnalysisInputError) -> [FaultWindow]
  {
    guard !found.isEmpty else { throw .experimentNotFound(selector, seen: seen.sorted()) }
    let spans = found.values.sorted { ($0.startNanos, $0.spanID) < ($1.startNanos, $1.spanID) }
    let inRange = spans.filter { range?.contains($0.startNanos) ?? true }
    guard !inRange.isEmpty else { throw .noWindowsInRange(selector, windows: spans.count) }
    let during = inRange.map {
      TimeRange(startNanos: $0.startNanos, endNanos: max($0.endNanos, $0.startNanos + 1))
    }
    let baselines =
      explicit.map { Array(repeating: $0, count: during.count) } ?? Self.baselines(before: during)
    return inRange.indices.map { index in
      let span = inRange[index]
      return FaultWindow(
        during: during[index], baseline: baselines[index],
        experimentID: span.attributes[ChaosSpanVocabulary.id]?.text,
        experimentName: span.attributes[ChaosSpanVocabulary.name]?.text, spanID: span.spanID,
        fault: Self.faultSummary(span.attributes))
    }
  }

  /// The same length just before each window, never reaching back into the previous window.
  public static func baselines(before windows: [TimeRange]) -> [TimeRange] {
    windows.indices.map { index in
      let window = windows[index]
      var start = window.startNanos - window.lengthNanos
      if index > 0 { start = max(start, windows[index - 1].endNanos) }
      return TimeRange(startNanos: min(start, window.startNanos), endNanos: window.startNanos)
    }
  }

  /// `delay_ms=500 loss_pct=1` from the `chaos.experiment.netem.*` attributes.
  static func faultSummary(_ attributes: [String: AttributeValue]) -> String? {
    let prefix = ChaosSpanVocabulary.netemPrefix
    let fields = attributes.keys.filter { $0.hasPrefix(prefix) }.sorted()
    guard !fields.isEmpty else { return nil }
    return fields.map { "\($0.dropFirst(prefix.count))=\(attributes[$0]!.text)" }.joined(separator: " ")
  }
}
