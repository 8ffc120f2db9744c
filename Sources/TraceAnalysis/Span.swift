/// One span as `faultline analyze` needs it: what the OTLP model says, in plain Swift values.
public struct Span: Sendable, Hashable {
  /// 32 lowercase hex digits.
  public var traceID: String
  /// 16 lowercase hex digits.
  public var spanID: String
  /// The parent's span id; nil for a root span.
  public var parentSpanID: String?
  /// The resource's `service.name` (`unknown_service` when the resource has none, as the SDKs do).
  public var service: String
  /// The span name: the operation (`GET /pay`, `payment.Charge`).
  public var name: String
  /// SERVER, CLIENT, … (analysis compares requests: server and consumer, client and producer).
  public var kind: SpanKind
  /// Start, in nanoseconds since the Unix epoch.
  public var startNanos: Int64
  /// End, in nanoseconds since the Unix epoch.
  public var endNanos: Int64
  /// The status code (ERROR counts as an error).
  public var status: SpanStatus
  /// The span's attributes (the resource's are not merged in).
  public var attributes: [String: AttributeValue]
  /// Its events (`exception` events name timeouts).
  public var events: [SpanEvent]
  /// Its links (the middleware links to the `chaos.experiment` span).
  public var links: [SpanLink]

  /// A span; ids and times as the OTLP model has them.
  public init(
    traceID: String, spanID: String, parentSpanID: String? = nil, service: String, name: String,
    kind: SpanKind, startNanos: Int64, endNanos: Int64, status: SpanStatus = .unset,
    attributes: [String: AttributeValue] = [:], events: [SpanEvent] = [], links: [SpanLink] = []
  ) {
    self.traceID = traceID
    self.spanID = spanID
    self.parentSpanID = parentSpanID
    self.service = service
    self.name = name
    self.kind = kind
    self.startNanos = startNanos
    self.endNanos = endNanos
    self.status = status
    self.attributes = attributes
    self.events = events
    self.links = links
  }

  /// End minus start (zero for a span that ends before it starts, as a broken clock may write).
  public var durationNanos: Int64 { max(0, endNanos - startNanos) }
}

/// OTLP's `Span.SpanKind`, by its protobuf number.
public enum SpanKind: Int, Sendable, Hashable, Codable {
  case unspecified = 0
  case `internal` = 1
  case server = 2
  case client = 3
  case producer = 4
  case consumer = 5
}

/// OTLP's `Status.StatusCode`.
public enum SpanStatus: Int, Sendable, Hashable, Codable {
  case unset = 0
  case ok = 1
  case error = 2
}

/// An attribute value (OTLP `AnyValue`), arrays and maps flattened to what analysis reads.
public enum AttributeValue: Sendable, Hashable {
  case string(String)
  case bool(Bool)
  case int(Int64)
  case double(Double)
  /// Array and key-value list values, and bytes, are kept as their JSON text: no rule reads them.
  case other(String)

  /// The value as an integer when it is one (an int, or a string of digits as some SDKs write
  /// status codes).
  public var intValue: Int64? {
    switch self {
    case .int(let v): v
    case .string(let s): Int64(s)
    case .double(let d): d.rounded() == d && abs(d) < 9e18 ? Int64(d) : nil
    default: nil
    }
  }

  /// The value as text (strings as they are, numbers and booleans printed).
  public var text: String {
    switch self {
    case .string(let s): s
    case .bool(let b): String(b)
    case .int(let i): String(i)
    case .double(let d): String(d)
    case .other(let s): s
    }
  }
}

/// A span event (`exception` events carry `exception.type`).
public struct SpanEvent: Sendable, Hashable {
  /// `exception`, or any other event name.
  public var name: String
  /// `exception.type` and the like.
  public var attributes: [String: AttributeValue]

  /// An event.
  public init(name: String, attributes: [String: AttributeValue] = [:]) {
    self.name = name
    self.attributes = attributes
  }
}

/// A link to another span (the middleware links request spans to their `chaos.experiment` span).
public struct SpanLink: Sendable, Hashable {
  /// The linked span's trace, 32 hex digits.
  public var traceID: String
  /// The linked span, 16 hex digits.
  public var spanID: String
  /// The link's own attributes (`chaos.experiment.id` on the middleware's links).
  public var attributes: [String: AttributeValue]

  /// A link.
  public init(traceID: String, spanID: String, attributes: [String: AttributeValue] = [:]) {
    self.traceID = traceID
    self.spanID = spanID
    self.attributes = attributes
  }
}
