import ChaosAnnotations

/// Keeps, of the spans streaming past, only those that start inside a window or a baseline, so
/// memory follows the windows' traffic rather than the files' size.
public struct SpanCollector: Sendable {
  /// The windows compared.
  public let windows: [FaultWindow]
  /// Spans that started while a fault was on.
  public private(set) var during: [Span] = []
  /// Spans that started in a baseline (and not in a window).
  public private(set) var baseline: [Span] = []
  /// Services that emitted faultline's own spans: the agent, left out of the comparison.
  public private(set) var agentServices: Set<String> = []
  /// Every span seen, kept or not.
  public private(set) var seen = 0
  private var keys: Set<String> = []

  /// A collector for `windows`.
  public init(windows: [FaultWindow]) { self.windows = windows }

  /// Looks at one span; a span seen twice (same trace and span id) counts once.
  public mutating func add(_ span: Span) {
    seen += 1
    if span.name.hasPrefix(ChaosSpanVocabulary.spanNamePrefix) { agentServices.insert(span.service) }
    let inWindow = windows.contains { $0.during.contains(span.startNanos) }
    let inBaseline = !inWindow && windows.contains { $0.baseline.contains(span.startNanos) }
    guard inWindow || inBaseline, keys.insert(span.traceID + span.spanID).inserted else { return }
    if inWindow { during.append(span) } else { baseline.append(span) }
  }
}
