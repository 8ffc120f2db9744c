import Foundation

/// Decodes the Jaeger query service's internal JSON (`GET /api/traces?service=…`, the shape its UI
/// reads: `{"data": [{"traceID", "spans": […], "processes": {…}}], "errors": …}`) into the same
/// spans an OTLP file gives. Pure: bytes in, spans out.
///
/// Jaeger stores the OpenTelemetry model in its own, and its OTLP translator puts the OTLP fields it
/// has no place for into tags; this undoes that: `span.kind` is the kind, `otel.status_code` (or
/// the `error` tag) the status, `event` the event name in a log. A CHILD_OF reference within the
/// trace is the parent; other references are links, without attributes (Jaeger keeps none on
/// references). Times are microseconds; 64-bit trace ids are padded to 128 bits, as OTLP holds them.
public struct JaegerJSONDecoder: Sendable {
  /// A decoder.
  public init() {}

  /// Tags the translator added that are not span attributes in OTLP.
  static let translatorTags: Set<String> = [
    "span.kind", "otel.status_code", "otel.status_description", "error", "otel.scope.name",
    "otel.scope.version", "otel.library.name", "otel.library.version", "w3c.tracestate",
  ]

  /// The spans of one response; throws ``OTLPDecodingError`` saying what is wrong.
  public func decode(_ body: some Collection<UInt8>) throws(OTLPDecodingError) -> [Span] {
    let response: ResponseJSON
    do {
      response = try JSONDecoder().decode(ResponseJSON.self, from: Data(body))
    } catch {
      throw OTLPDecodingError("not Jaeger trace JSON: \(error)")
    }
    var spans: [Span] = []
    for trace in response.data ?? [] {
      for span in trace.spans ?? [] {
        let process = span.process ?? span.processID.flatMap { trace.processes?[$0] }
        spans.append(try Self.span(span, service: process?.serviceName ?? "unknown_service"))
      }
    }
    return spans
  }

  private static func span(_ json: SpanJSON, service: String) throws(OTLPDecodingError) -> Span {
    let name = json.operationName ?? ""
    guard let traceID = try id(json.traceID, digits: 32, field: "traceID", span: name) else {
      throw OTLPDecodingError("span \"\(name)\" has no traceID")
    }
    guard let spanID = try id(json.spanID, digits: 16, field: "spanID", span: name) else {
      throw OTLPDecodingError("span \"\(name)\" has no spanID")
    }
    var parent: String?
    var links: [SpanLink] = []
    for reference in json.references ?? [] {
      guard let refTrace = try id(reference.traceID, digits: 32, field: "references.traceID", span: name),
        let refSpan = try id(reference.spanID, digits: 16, field: "references.spanID", span: name)
      else { continue }
      if parent == nil, reference.refType == "CHILD_OF", refTrace == traceID {
        parent = refSpan
      } else {
        links.append(SpanLink(traceID: refTrace, spanID: refSpan))
      }
    }
    let tags = attributes(json.tags)
    var status = SpanStatus.unset
    switch tags["otel.status_code"]?.text {
    case "ERROR": status = .error
    case "OK": status = .ok
    default: if tags["error"] == .bool(true) || tags["error"] == .string("true") { status = .error }
    }
    let start = (json.startTime ?? 0) * 1000
    return Span(
      traceID: traceID, spanID: spanID, parentSpanID: parent, service: service, name: name,
      kind: kind(tags["span.kind"]?.text), startNanos: start, endNanos: start + (json.duration ?? 0) * 1000,
      status: status, attributes: tags.filter { !translatorTags.contains($0.key) },
      events: (json.logs ?? []).map { log in
        var fields = attributes(log.fields)
        let name = fields.removeValue(forKey: "event")?.text ?? ""
        return SpanEvent(name: name, attributes: fields)
      },
      links: links)
  }

  static func kind(_ tag: String?) -> SpanKind {
    switch tag {
    case "server": .server
    case "client": .client
    case "producer": .producer
    case "consumer": .consumer
    case "internal": .internal
    default: .unspecified
    }
  }

  /// A lowercase hex id of `digits` digits, left-padded (Jaeger prints a 64-bit trace id in 16).
  private static func id(_ text: String?, digits: Int, field: String, span: String) throws(OTLPDecodingError)
    -> String?
  {
    guard let text, !text.isEmpty else { return nil }
    guard text.utf8.count <= digits, text.utf8.allSatisfy(\.isHexDigit) else {
      throw OTLPDecodingError(
        "span \"\(span)\": \(field) \"\(text.prefix(40))\" is not hex of at most \(digits) digits")
    }
    return String(repeating: "0", count: digits - text.utf8.count) + text.lowercased()
  }

  private static func attributes(_ tags: [TagJSON]?) -> [String: AttributeValue] {
    var result: [String: AttributeValue] = [:]
    for tag in tags ?? [] { result[tag.key] = tag.value }
    return result
  }
}

// MARK: - The JSON shapes (Jaeger's `internal/uimodel`; only the fields analysis reads)

private struct ResponseJSON: Decodable {
  var data: [TraceJSON]?
}

private struct TraceJSON: Decodable {
  var spans: [SpanJSON]?
  var processes: [String: ProcessJSON]?
}

private struct ProcessJSON: Decodable {
  var serviceName: String?
}

private struct SpanJSON: Decodable {
  var traceID: String?
  var spanID: String?
  var operationName: String?
  var references: [ReferenceJSON]?
  var startTime: Int64?
  var duration: Int64?
  var tags: [TagJSON]?
  var logs: [LogJSON]?
  var processID: String?
  /// Embedded instead of `processID` in some older responses.
  var process: ProcessJSON?
}

private struct ReferenceJSON: Decodable {
  var refType: String?
  var traceID: String?
  var spanID: String?
}

private struct LogJSON: Decodable {
  var fields: [TagJSON]?
}

/// `{"key", "type", "value"}`: `type` is string, bool, int64 (a number, or a string beyond 2^53),
/// float64 or binary (base64).
private struct TagJSON: Decodable {
  var key: String
  var value: AttributeValue

  enum CodingKeys: String, CodingKey { case key, type, value }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    key = try container.decode(String.self, forKey: .key)
    let type = try container.decodeIfPresent(String.self, forKey: .type) ?? "string"
    switch type {
    case "bool":
      if let flag = try? container.decode(Bool.self, forKey: .value) {
        value = .bool(flag)
      } else {
        value = .bool(try container.decode(String.self, forKey: .value) == "true")
      }
    case "int64":
      if let number = try? container.decode(Int64.self, forKey: .value) {
        value = .int(number)
      } else {
        let text = try container.decode(String.self, forKey: .value)
        guard let number = Int64(text) else {
          throw DecodingError.dataCorruptedError(
            forKey: .value, in: container, debugDescription: "\"\(text)\" is not an int64")
        }
        value = .int(number)
      }
    case "float64":
      value = .double(try container.decode(Double.self, forKey: .value))
    case "binary":
      value = .other(try container.decode(String.self, forKey: .value))
    default:
      value = .string(try container.decode(String.self, forKey: .value))
    }
  }
}
