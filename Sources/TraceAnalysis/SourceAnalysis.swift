/// The analysis of one source, as `faultline analyze` runs it: find the windows, read the spans of
/// the windows and their baselines, analyse them. The CLI and the tests go through these two steps,
/// so that what the tests check is what the command does.
extension SpanSource {
  /// The windows of `experiment` (its id or name) that start in `limit`, each with `baseline` or
  /// the same length just before it. A source searched by time (a backend) is searched over
  /// `limit`, or the day before `now` (Unix nanoseconds) without one; a file is read whole.
  public func windows(of experiment: String, baseline: TimeRange?, within limit: TimeRange?, now: Int64)
    async throws -> [FaultWindow]
  {
    var finder = WindowFinder(selector: experiment)
    let searched = limit ?? TimeRange(startNanos: now - 86_400 * 1_000_000_000, endNanos: now)
    try await findWindows(&finder, within: searched)
    return try finder.windows(baseline: baseline, within: limit)
  }

  /// `analyzer`'s report on `windows` (not empty), from the spans this source holds for them and
  /// their baselines, with what each input held; and the source's warnings.
  public func report(on windows: [FaultWindow], by analyzer: Analyzer, experiment: String?) async throws
    -> (report: AnalysisReport, warnings: [String])
  {
    let range = TimeRange(
      startNanos: windows.map { min($0.baseline.startNanos, $0.during.startNanos) }.min()!,
      endNanos: windows.map { max($0.baseline.endNanos, $0.during.endNanos) }.max()!)
    var collector = SpanCollector(windows: windows)
    let reading = try await collect(into: &collector, within: range)
    var report = try analyzer.analyze(collector)
    report.inputs = reading.inputs
    report.malformed = reading.malformed
    report.experiment = experiment
    return (report, reading.warnings)
  }
}
