import Logging

/// Publishes every open window to the shared annotation file that app middleware reads
/// (`chaos.experiment/active="true"` while any is open).
public struct AnnotationFileObserver: WindowObserver {
  /// The file.
  public let writer: AnnotationWriter
  private let logger: Logger

  /// An observer writing through `writer`.
  public init(writer: AnnotationWriter, logger: Logger) {
    self.writer = writer
    self.logger = logger
  }

  /// Acts on the events this observer follows; ignores the rest.
  public func observe(_ event: WindowEvent) async {
    do {
      switch event {
      case .opened(let window), .reapplied(let window):
        try await writer.started(window.experiment, at: window.startedAt, traceparent: window.traceparent)
      case .closed(let window, _, _):
        try await writer.ended(id: window.experiment.id)
      case .agentStarted:
        try await writer.write()
      default:
        return
      }
    } catch {
      logger.warning(
        "cannot write the annotation file", metadata: ["path": "\(writer.url.path)", "error": "\(error)"])
    }
  }
}
