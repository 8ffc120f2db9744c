import ChaosAnnotationsTracing
import Hummingbird
import Tracing

/// Marks each request's span with the faultline experiment active while it runs.
///
/// Put it after Hummingbird's `TracingMiddleware`, which starts the request span and makes its
/// context current for the rest of the chain:
///
/// ```swift
/// router.add(middleware: TracingMiddleware())
/// router.add(middleware: ChaosMiddleware())
/// ```
///
/// During an experiment the span gets `chaos.experiment.active`, `chaos.experiment.name`,
/// `chaos.experiment.id` and a link to the experiment's `chaos.experiment` span; otherwise it is left
/// alone. The per-request check is `ChaosSpanMarker`'s cached read of the annotation file (see its
/// `maxStaleness`): a change to the file shows up within that bound.
struct ChaosMiddleware<Context: RequestContext>: RouterMiddleware {
  /// Reads the annotation file and marks spans.
  let marker: ChaosSpanMarker

  /// A middleware marking with `marker` (default: one reading `FAULTLINE_ANNOTATIONS`, else
  /// `/var/run/faultline/annotations`; `ChaosSpanMarker(path:)` for another file).
  init(marker: ChaosSpanMarker = ChaosSpanMarker()) {
    self.marker = marker
  }

  /// Marks the current span, then passes the request on.
  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    let tracer = InstrumentationSystem.tracer
    if let current = ServiceContext.current, let span = tracer.activeSpan(identifiedBy: current) {
      marker.mark(span, tracer: tracer)
    }
    return try await next(request, context)
  }
}
