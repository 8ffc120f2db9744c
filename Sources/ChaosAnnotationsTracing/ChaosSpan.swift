import ChaosAnnotations
import Instrumentation
import Tracing

/// Marks request spans with the chaos experiment that faultline has active, for applications
/// instrumented with swift-distributed-tracing.
///
/// During an experiment the span gets `chaos.experiment.active=true`, `chaos.experiment.name` and
/// `chaos.experiment.id` (comma-joined when several are active), and one link per experiment to its
/// `chaos.experiment` span (from the annotation file's `traceparent`), so a trace backend can jump
/// from a slow request to the fault that slowed it. Outside an experiment nothing is added.
///
/// The check per request is the ``ExperimentReader``'s cached read: no file parse unless the file
/// changed, and (by default) no system call either while the last look is younger than 50 ms — the
/// time faultline allows itself to publish a change — so a check costs tens of nanoseconds.
///
/// ```swift
/// let chaos = ChaosSpanMarker()
/// try await withSpan("GET /pay") { span in
///   chaos.mark(span)
///   …
/// }
/// ```
public struct ChaosSpanMarker: Sendable {
  /// The annotation file reader.
  public let reader: ExperimentReader

  /// A marker reading `path` (default: `FAULTLINE_ANNOTATIONS`, else `/var/run/faultline/annotations`),
  /// seeing a change at most `maxStaleness` late (default 50 ms; zero looks at the file every time).
  public init(path: String = ExperimentReader.defaultPath, maxStaleness: Duration = .milliseconds(50)) {
    reader = ExperimentReader(path: path, maxStaleness: maxStaleness)
  }

  /// A marker over an existing reader.
  public init(reader: ExperimentReader) {
    self.reader = reader
  }

  /// Marks `span` when an experiment is active; returns what was active (nil: nothing, span untouched).
  ///
  /// Links are built with `tracer` (default: the bootstrapped one), which turns each `traceparent`
  /// into a span context through its propagator.
  @discardableResult
  public func mark(_ span: any Span, tracer: any Tracer = InstrumentationSystem.tracer) -> ActiveExperiments?
  {
    guard let active = reader.current() else { return nil }
    span.attributes[ChaosSpanVocabulary.active] = true
    span.attributes[ChaosSpanVocabulary.name] = active.names.joined(separator: ",")
    span.attributes[ChaosSpanVocabulary.id] = active.ids.joined(separator: ",")
    for (index, traceparent) in active.traceparents.enumerated() where !traceparent.isEmpty {
      var context = ServiceContext.topLevel
      tracer.extract(["traceparent": traceparent], into: &context, using: TraceparentExtractor())
      var attributes: SpanAttributes = [ChaosSpanVocabulary.link: true]
      if index < active.ids.count { attributes[ChaosSpanVocabulary.id] = active.ids[index] }
      if index < active.names.count { attributes[ChaosSpanVocabulary.name] = active.names[index] }
      span.addLink(SpanLink(context: context, attributes: attributes))
    }
    return active
  }
}

/// Reads a `[String: String]` carrier.
struct TraceparentExtractor: Extractor {
  func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
