/// What a span says about its request: error, timeout, retry. The rules follow the OpenTelemetry
/// semantic conventions (HTTP and RPC spans, exception events), so spans from any SDK qualify.
public enum SpanOutcome {
  static let httpStatusKeys = ["http.response.status_code", "http.status_code"]
  static let grpcStatusKey = "rpc.grpc.status_code"
  static let resendCountKey = "http.request.resend_count"
  static let exceptionEvent = "exception"
  static let exceptionTypeKey = "exception.type"
  static let errorTypeKey = "error.type"
  /// gRPC's `DEADLINE_EXCEEDED`.
  static let grpcDeadlineExceeded: Int64 = 4

  /// The HTTP response status, under the current or the pre-1.21 semantic-convention key.
  static func httpStatus(_ span: Span) -> Int64? {
    for key in httpStatusKeys { if let code = span.attributes[key]?.intValue { return code } }
    return nil
  }

  /// Status ERROR, an HTTP 5xx response, or a gRPC status other than OK (0).
  public static func isError(_ span: Span) -> Bool {
    if span.status == .error { return true }
    if let code = httpStatus(span), code >= 500 { return true }
    if let code = span.attributes[grpcStatusKey]?.intValue, code != 0 { return true }
    return false
  }

  /// gRPC `DEADLINE_EXCEEDED`, HTTP 504 or 408, or an exception (event or `error.type`) whose type
  /// names a timeout or a deadline (`TimeoutError`, `ReadTimeout`, `DeadlineExceeded`).
  public static func isTimeout(_ span: Span) -> Bool {
    if span.attributes[grpcStatusKey]?.intValue == grpcDeadlineExceeded { return true }
    if let code = httpStatus(span), code == 504 || code == 408 { return true }
    if let type = span.attributes[errorTypeKey]?.text, namesTimeout(type) { return true }
    return span.events.contains { event in
      event.name == exceptionEvent && event.attributes[exceptionTypeKey].map { namesTimeout($0.text) } == true
    }
  }

  static func namesTimeout(_ type: String) -> Bool {
    let lower = type.lowercased()
    return lower.contains("timeout") || lower.contains("timedout") || lower.contains("deadline")
  }

  /// `http.request.resend_count` (the attempt number of a resent request; absent or 0 on the first).
  static func resendCount(_ span: Span) -> Int64 { span.attributes[resendCountKey]?.intValue ?? 0 }

  /// Which client spans are retries (as trace id + span id): those with a resend count, and every span after the first
  /// among client spans with the same trace, parent, service and operation (a retry loop around
  /// an instrumented client makes exactly that shape).
  public static func retries(among spans: [Span]) -> Set<String> {
    var groups: [String: [Span]] = [:]
    var retried: Set<String> = []
    for span in spans where span.kind == .client {
      if resendCount(span) > 0 { retried.insert(span.traceID + span.spanID) }
      guard let parent = span.parentSpanID else { continue }
      groups[[span.traceID, parent, span.service, span.name].joined(separator: "\u{1F}"), default: []].append(
        span)
    }
    for group in groups.values where group.count > 1 {
      for span in group.sorted(by: { ($0.startNanos, $0.spanID) < ($1.startNanos, $1.spanID) }).dropFirst() {
        retried.insert(span.traceID + span.spanID)
      }
    }
    return retried
  }
}
