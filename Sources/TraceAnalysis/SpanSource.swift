/// Where `faultline analyze` reads spans from: OTLP JSON files, or a tracing backend's query API.
///
/// Reading comes in two passes so that a source can stream: the first finds faultline's own
/// `chaos.experiment` spans (only when the windows come from an experiment), the second feeds the
/// spans around the windows to a collector, which keeps only what it needs.
public protocol SpanSource: Sendable {
  /// Feeds at least every `chaos.experiment` span that starts in `range` to `finder` (feeding more
  /// is harmless: the finder picks its experiment's spans out).
  func findWindows(_ finder: inout WindowFinder, within range: TimeRange) async throws

  /// Feeds every span that starts in `range` (more is harmless) to `collector`; returns what each
  /// input held and the first malformed records.
  func collect(into collector: inout SpanCollector, within range: TimeRange) async throws -> SourceReading
}

/// What a source read: one summary per input (file, or backend query) and the first malformed
/// records (all are counted in the summaries).
public struct SourceReading: Sendable {
  /// One per file or query.
  public var inputs: [InputSummary]
  /// The first malformed lines or responses.
  public var malformed: [MalformedLine]
  /// What may make the analysis incomplete without being an error, e.g. a search that returned as
  /// many traces as it was allowed to (the CLI prints them on stderr).
  public var warnings: [String]

  /// A reading.
  public init(inputs: [InputSummary] = [], malformed: [MalformedLine] = [], warnings: [String] = []) {
    self.inputs = inputs
    self.malformed = malformed
    self.warnings = warnings
  }
}

extension OTLPInput: SpanSource {
  /// Files hold what they hold: the range is not needed to read them (the finder and the
  /// collector filter by time).
  public func findWindows(_ finder: inout WindowFinder, within range: TimeRange) async throws {
    try findWindows(&finder)
  }

  /// See ``collect(into:)``.
  public func collect(into collector: inout SpanCollector, within range: TimeRange) async throws
    -> SourceReading
  {
    let (inputs, malformed) = try collect(into: &collector)
    return SourceReading(inputs: inputs, malformed: malformed)
  }
}
