import Foundation

/// Decodes one OTLP/JSON `ExportTraceServiceRequest` (one line of the Collector's `file` exporter)
/// into spans. Pure: bytes in, spans out.
///
/// The backends that answer in OTLP/JSON wrap the same `ResourceSpans` list in an envelope, and
/// each envelope is read too: Jaeger's api_v3 `{"result": {"resourceSpans": …}}`, Tempo's
/// `/api/traces/ID` `{"batches": …}` (its name for `resourceSpans`) and `/api/v2/traces/ID`
/// `{"trace": {"resourceSpans": …}}`.
///
/// Follows the OTLP/JSON rules, which differ from plain protobuf JSON: trace and span ids are hex
/// (base64, as a generic protobuf printer writes them, is read too); 64-bit integers
/// (`startTimeUnixNano`, `intValue`) are strings or numbers; enums (`kind`, `status.code`) are
/// numbers or their proto names; field names are lowerCamelCase or the proto's snake_case.
public struct OTLPJSONDecoder: Sendable {
  /// One JSON decoder for every line of a file, not one per line.
  private let decoder: JSONDecoder

  /// A decoder.
  public init() {
    decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
  }

  /// The spans of one request; throws ``OTLPDecodingError`` saying what is wrong.
  public func decode(_ line: some Collection<UInt8>) throws(OTLPDecodingError) -> [Span] {
    let request: ExportRequestJSON
    do {
      request = try decoder.decode(ExportRequestJSON.self, from: Data(line))
    } catch let error as DecodingError {
      throw OTLPDecodingError(Self.describe(error))
    } catch let error as OTLPDecodingError {
      throw error
    } catch {
      throw OTLPDecodingError("\(error)")
    }
    var spans: [Span] = []
    for resourceSpans in request.allResourceSpans {
      let resource = Self.attributes(resourceSpans.resource?.attributes)
      let service = resource["service.name"]?.text ?? "unknown_service"
      let scopes = (resourceSpans.scopeSpans ?? []) + (resourceSpans.instrumentationLibrarySpans ?? [])
      for scope in scopes {
        for span in scope.spans ?? [] {
          spans.append(try Self.span(span, service: service))
        }
      }
    }
    return spans
  }

  private static func span(_ json: SpanJSON, service: String) throws(OTLPDecodingError) -> Span {
    let name = json.name ?? ""
    guard let traceID = try hexID(json.traceId, bytes: 16, field: "traceId", span: name) else {
      throw OTLPDecodingError("span \"\(name)\" has no traceId")
    }
    guard let spanID = try hexID(json.spanId, bytes: 8, field: "spanId", span: name) else {
      throw OTLPDecodingError("span \"\(name)\" has no spanId")
    }
    let parent = try hexID(json.parentSpanId, bytes: 8, field: "parentSpanId", span: name)
    var links: [SpanLink] = []
    for link in json.links ?? [] {
      guard let linkTrace = try hexID(link.traceId, bytes: 16, field: "links.traceId", span: name),
        let linkSpan = try hexID(link.spanId, bytes: 8, field: "links.spanId", span: name)
      else { continue }
      links.append(SpanLink(traceID: linkTrace, spanID: linkSpan, attributes: attributes(link.attributes)))
    }
    return Span(
      traceID: traceID, spanID: spanID, parentSpanID: parent, service: service, name: name,
      kind: SpanKind(rawValue: json.kind?.value ?? 0) ?? .unspecified,
      startNanos: json.startTimeUnixNano?.value ?? 0, endNanos: json.endTimeUnixNano?.value ?? 0,
      status: SpanStatus(rawValue: json.status?.code?.value ?? 0) ?? .unset,
      attributes: attributes(json.attributes),
      events: (json.events ?? []).map {
        SpanEvent(name: $0.name ?? "", attributes: attributes($0.attributes))
      },
      links: links)
  }

  /// A hex id of `bytes` bytes from hex or base64; nil when absent or empty (a root's parent).
  private static func hexID(_ text: String?, bytes: Int, field: String, span: String)
    throws(OTLPDecodingError)
    -> String?
  {
    guard let text, !text.isEmpty else { return nil }
    if text.utf8.count == bytes * 2, text.utf8.allSatisfy(\.isHexDigit) { return text.lowercased() }
    if let data = Data(base64Encoded: text), data.count == bytes {
      return data.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
    throw OTLPDecodingError(
      "span \"\(span)\": \(field) \"\(text.prefix(40))\" is not \(bytes * 2) hex digits")
  }

  private static func attributes(_ list: [KeyValueJSON]?) -> [String: AttributeValue] {
    var result: [String: AttributeValue] = [:]
    for pair in list ?? [] {
      if let value = pair.value?.value { result[pair.key] = value }
    }
    return result
  }

  /// "at resourceSpans[0].scopeSpans[0].spans[3].kind: Expected Int but found a string".
  private static func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
      codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        .trimmingPrefix(".").description
    }
    switch error {
    case .dataCorrupted(let context) where context.codingPath.isEmpty:
      return "not JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
    case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
      .keyNotFound(_, let context):
      return "at \(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
      return "\(error)"
    }
  }
}

/// A line that is not an OTLP/JSON `ExportTraceServiceRequest`.
public struct OTLPDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What is wrong, e.g. `span "GET /pay": traceId "xyz" is not 32 hex digits`.
  public var description: String

  /// An error saying `description`.
  public init(_ description: String) { self.description = description }
}

extension UInt8 {
  /// An ASCII hex digit (`Character.isHexDigit` also takes the fullwidth forms).
  var isHexDigit: Bool {
    (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
  }
}

extension String {
  fileprivate func leftPadded(to width: Int) -> String {
    String(repeating: "0", count: max(0, width - count)) + self
  }
}

// MARK: - The OTLP/JSON shapes (only the fields analysis reads; unknown fields are ignored)

private struct ExportRequestJSON: Decodable {
  var resourceSpans: [ResourceSpansJSON]?
  /// Tempo's name for `resourceSpans` (its `/api/traces/ID` still writes it).
  var batches: [ResourceSpansJSON]?
  /// Jaeger api_v3's envelope.
  var result: ResourceSpansListJSON?
  /// Tempo `/api/v2/traces/ID`'s envelope.
  var trace: ResourceSpansListJSON?

  var allResourceSpans: [ResourceSpansJSON] {
    (resourceSpans ?? []) + (batches ?? []) + (result?.all ?? []) + (trace?.all ?? [])
  }
}

private struct ResourceSpansListJSON: Decodable {
  var resourceSpans: [ResourceSpansJSON]?
  var batches: [ResourceSpansJSON]?

  var all: [ResourceSpansJSON] { (resourceSpans ?? []) + (batches ?? []) }
}

private struct ResourceSpansJSON: Decodable {
  var resource: ResourceJSON?
  var scopeSpans: [ScopeSpansJSON]?
  /// The name before OTLP 0.19 (older collectors wrote it).
  var instrumentationLibrarySpans: [ScopeSpansJSON]?
}

private struct ResourceJSON: Decodable {
  var attributes: [KeyValueJSON]?
}

private struct ScopeSpansJSON: Decodable {
  var spans: [SpanJSON]?
}

private struct SpanJSON: Decodable {
  var traceId: String?
  var spanId: String?
  var parentSpanId: String?
  var name: String?
  var kind: EnumJSON<SpanKindNames>?
  var startTimeUnixNano: Int64JSON?
  var endTimeUnixNano: Int64JSON?
  var attributes: [KeyValueJSON]?
  var events: [EventJSON]?
  var links: [LinkJSON]?
  var status: StatusJSON?
}

private struct EventJSON: Decodable {
  var name: String?
  var attributes: [KeyValueJSON]?
}

private struct LinkJSON: Decodable {
  var traceId: String?
  var spanId: String?
  var attributes: [KeyValueJSON]?
}

private struct StatusJSON: Decodable {
  var code: EnumJSON<StatusCodeNames>?
}

private struct KeyValueJSON: Decodable {
  var key: String
  var value: AnyValueJSON?
}

/// The proto names of an enum's values, for JSON that spells enums out.
private protocol EnumNames {
  static var names: [String: Int] { get }
}

private enum SpanKindNames: EnumNames {
  static let names = [
    "SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
  ]
}

private enum StatusCodeNames: EnumNames {
  static let names = ["STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2]
}

/// A protobuf enum in JSON: its number, or its name.
private struct EnumJSON<Names: EnumNames>: Decodable {
  var value: Int

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let number = try? container.decode(Int.self) {
      value = number
    } else {
      let name = try container.decode(String.self)
      guard let number = Names.names[name] ?? Int(name) else {
        throw DecodingError.dataCorruptedError(
          in: container, debugDescription: "unknown enum value \"\(name)\"")
      }
      value = number
    }
  }
}

/// A protobuf 64-bit integer in JSON: a string of digits (what OTLP/JSON writes) or a number.
private struct Int64JSON: Decodable {
  var value: Int64

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let text = try? container.decode(String.self) {
      guard let number = Int64(text) ?? UInt64(text).map({ Int64(truncatingIfNeeded: $0) }) else {
        throw DecodingError.dataCorruptedError(
          in: container, debugDescription: "\"\(text)\" is not an integer")
      }
      value = number
    } else {
      value = try container.decode(Int64.self)
    }
  }
}

/// OTLP's `AnyValue`: exactly one of its fields set.
private struct AnyValueJSON: Decodable {
  var value: AttributeValue?

  enum CodingKeys: String, CodingKey {
    case stringValue, boolValue, intValue, doubleValue, arrayValue, kvlistValue, bytesValue
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    if let string = try container.decodeIfPresent(String.self, forKey: .stringValue) {
      value = .string(string)
    } else if let bool = try container.decodeIfPresent(Bool.self, forKey: .boolValue) {
      value = .bool(bool)
    } else if let int = try container.decodeIfPresent(Int64JSON.self, forKey: .intValue) {
      value = .int(int.value)
    } else if container.contains(.doubleValue) {
      // Non-finite doubles are the strings "NaN", "Infinity", "-Infinity" in protobuf JSON.
      if let double = try? container.decode(Double.self, forKey: .doubleValue) {
        value = .double(double)
      } else {
        value = .double(Double(try container.decode(String.self, forKey: .doubleValue)) ?? .nan)
      }
    } else if container.contains(.arrayValue) {
      value = .other("array")
    } else if container.contains(.kvlistValue) {
      value = .other("kvlist")
    } else if let bytes = try container.decodeIfPresent(String.self, forKey: .bytesValue) {
      value = .other(bytes)
    } else {
      value = nil
    }
  }
}
