/// The span files of one analysis, read as streams: a first pass (only when the windows come from
/// an experiment) picks out faultline's own spans, the second keeps the spans in the windows.
public struct OTLPInput: Sendable {
  /// The files, in order.
  public var files: [OTLPFile]
  /// How many malformed lines are kept with their messages (all are counted).
  public var keepMalformed = 20

  /// An input of `paths`.
  public init(paths: [String]) { files = paths.map { OTLPFile(path: $0) } }

  /// Feeds the spans of lines that mention `chaos.experiment` to `finder`, without decoding the
  /// rest. Malformed lines are left for ``collect(into:)`` to report.
  public func findWindows(_ finder: inout WindowFinder) throws(TraceInputError) {
    let decoder = OTLPJSONDecoder()
    for file in files {
      try file.forEachLine { line, _ in
        guard let line, WindowFinder.mayContainExperiment(line),
          let spans = try? decoder.decode(line)
        else { return }
        for span in spans { finder.add(span) }
      }
    }
  }

  /// Feeds every span to `collector`; returns what each file held and the first malformed lines.
  public func collect(into collector: inout SpanCollector) throws(TraceInputError) -> (
    [InputSummary], [MalformedLine]
  ) {
    let decoder = OTLPJSONDecoder()
    var summaries: [InputSummary] = []
    var malformed: [MalformedLine] = []
    for file in files {
      var summary = InputSummary(file: file.path)
      try file.forEachLine { line, number in
        summary.lines = number
        do throws(OTLPDecodingError) {
          guard let line else {
            throw OTLPDecodingError("longer than \(file.maxLineBytes) bytes")
          }
          let spans = try decoder.decode(line)
          summary.spans += spans.count
          for span in spans { collector.add(span) }
        } catch {
          summary.malformedLines += 1
          if malformed.count < keepMalformed {
            malformed.append(MalformedLine(file: file.path, line: number, message: error.description))
          }
        }
      }
      summaries.append(summary)
    }
    return (summaries, malformed)
  }
}
