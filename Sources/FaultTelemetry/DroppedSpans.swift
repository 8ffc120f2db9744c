// Counting the spans the exporter gives up on.
//
// swift-otel 1.6.0 drops spans in two places and says so only in its diagnostic log: its batch span
// processor logs a warning when an export fails for good (the exporter's own retries used up, or the
// export timeout or the exit-flush bound cut it short) and when its queue was full. It has no public
// exporter or processor protocol to wrap and no counter to read, so faultline counts the spans those
// two warnings name. The host tests run the real pipeline against a dead and an unanswering collector,
// so a swift-otel that words the warnings differently fails a test instead of silently counting 0.

import Logging
import Synchronization

/// The spans the exporter gave up on since bootstrap: a running total, and a callback for each loss
/// (the daemon counts them in `faultline_spans_dropped_total`).
public final class DroppedSpanCounter: Sendable {
  private let total: Mutex<Int>
  private let onDrop: @Sendable (Int) -> Void

  /// A counter at 0 that calls `onDrop` with the number of spans of each loss.
  public init(onDrop: @escaping @Sendable (Int) -> Void = { _ in }) {
    self.total = Mutex(0)
    self.onDrop = onDrop
  }

  /// The spans dropped so far.
  public var count: Int { total.withLock { $0 } }

  /// Counts `spans` more and returns the new total.
  @discardableResult
  public func add(_ spans: Int) -> Int {
    let now = total.withLock {
      $0 += spans
      return $0
    }
    onDrop(spans)
    return now
  }
}

/// The handler behind swift-otel's diagnostic logger: forwards everything to faultline's handler,
/// and turns each of swift-otel's "spans dropped" warnings into a faultline warning that says how
/// many spans were lost (`spans_dropped`, and `spans_dropped_total` since start), counting them.
struct DroppedSpanLogHandler: LogHandler {
  /// What swift-otel 1.6.0's `OTelBatchSpanProcessor` logs when it drops spans.
  enum SwiftOTel {
    static let component = "OTelBatchSpanProcessor"
    /// A whole batch is lost; its size is in the logger's `batch_size` metadata.
    static let exportFailed = "Failed to export batch."
    /// Spans that found the queue full since the last export; the count is in `dropped_count`.
    static let queueFull = "Spans were dropped this iteration because queue was full"
  }

  private var inner: any LogHandler
  private let counter: DroppedSpanCounter

  init(wrapping inner: any LogHandler, counter: DroppedSpanCounter) {
    self.inner = inner
    self.counter = counter
  }

  var metadata: Logger.Metadata {
    get { inner.metadata }
    set { inner.metadata = newValue }
  }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { inner[metadataKey: key] }
    set { inner[metadataKey: key] = newValue }
  }

  var metadataProvider: Logger.MetadataProvider? {
    get { inner.metadataProvider }
    set { inner.metadataProvider = newValue }
  }

  /// At most `warning`, so that the loss warnings reach this handler (and are counted) whatever
  /// level `OTEL_LOG_LEVEL` sets; what is forwarded still honours the level set.
  var logLevel: Logger.Level {
    get { min(inner.logLevel, .warning) }
    set { inner.logLevel = newValue }
  }

  func log(event: LogEvent) {
    var event = event
    if let loss = Self.loss(in: event, metadata: inner.metadata) {
      let total = counter.add(loss.spans)
      event.message = loss.message
      var metadata = event.metadata ?? [:]
      metadata["spans_dropped"] = "\(loss.spans)"
      metadata["spans_dropped_total"] = "\(total)"
      event.metadata = metadata
    }
    guard event.level >= inner.logLevel else { return }
    inner.log(event: event)
  }

  /// The spans `event` says were dropped and faultline's words for it, or nil for any other event.
  /// `metadata` is the logger's (swift-otel puts `batch_size` there, `dropped_count` on the event).
  static func loss(in event: LogEvent, metadata: Logger.Metadata) -> (spans: Int, message: Logger.Message)? {
    func value(_ key: String) -> String? { (event.metadata?[key] ?? metadata[key]).map { "\($0)" } }
    guard event.level == .warning, value("component") == SwiftOTel.component else { return nil }
    switch event.message.description {
    case SwiftOTel.exportFailed:
      guard let spans = value("batch_size").flatMap(Int.init), spans > 0 else { return nil }
      return (spans, "spans dropped: the OTLP export failed or was cut short")
    case SwiftOTel.queueFull:
      guard let spans = value("dropped_count").flatMap(Int.init), spans > 0 else { return nil }
      return (spans, "spans dropped: the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE)")
    default:
      return nil
    }
  }
}
