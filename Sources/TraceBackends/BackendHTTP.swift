import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// GET requests to a query service with a timeout and a bounded body; every failure becomes a
/// ``TraceBackendError`` that names the URL.
struct BackendHTTP: Sendable {
  let client: HTTPClient
  let configuration: BackendConfiguration

  /// The body of a 2xx answer to `GET url`; nil for a 404 when `notFoundIsEmpty` (Jaeger's api_v3
  /// answers a search that found nothing with 404 "No traces found").
  func get(_ url: String, notFoundIsEmpty: Bool = false) async throws -> [UInt8]? {
    var request = HTTPClientRequest(url: url)
    request.method = .GET
    request.headers.add(name: "Accept", value: "application/json")
    request.headers.add(name: "User-Agent", value: "faultline-analyze")
    let response: HTTPClientResponse
    do {
      response = try await client.execute(request, timeout: TimeAmount(configuration.requestTimeout))
    } catch is CancellationError {
      throw CancellationError()
    } catch {
      throw TraceBackendError.unreachable(url, Self.describe(error))
    }
    let body: [UInt8]
    do {
      var buffer = try await response.body.collect(upTo: configuration.maxResponseBytes)
      body = buffer.readBytes(length: buffer.readableBytes) ?? []
    } catch is NIOTooManyBytesError {
      throw TraceBackendError.tooLarge(url, limit: configuration.maxResponseBytes)
    } catch is CancellationError {
      throw CancellationError()
    } catch {
      throw TraceBackendError.unreachable(url, "reading the response: \(Self.describe(error))")
    }
    if response.status == .notFound && notFoundIsEmpty { return nil }
    guard (200..<300).contains(response.status.code) else {
      throw TraceBackendError.httpStatus(url, status: Int(response.status.code), message: Self.message(body))
    }
    return body
  }

  /// The message of an error body: Jaeger api_v3's `{"error": {"message"}}`, Jaeger's internal
  /// API's `{"errors": [{"msg"}]}`, else (Tempo) the text's first line, cut short.
  static func message(_ body: [UInt8]) -> String {
    struct V3: Decodable {
      struct Details: Decodable { var message: String? }
      var error: Details?
    }
    struct Legacy: Decodable {
      struct Item: Decodable { var msg: String? }
      var errors: [Item]?
    }
    let data = Data(body)
    if let message = (try? JSONDecoder().decode(V3.self, from: data))?.error?.message { return message }
    if let messages = (try? JSONDecoder().decode(Legacy.self, from: data))?.errors?.compactMap(\.msg),
      !messages.isEmpty
    {
      return messages.joined(separator: "; ")
    }
    let text = String(decoding: body.prefix(400), as: UTF8.self)
    return text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
  }

  /// A short reason for a transport error ("connection refused", "timed out"), for people rather
  /// than for NIO's type names.
  static func describe(_ error: any Error) -> String {
    if let error = error as? HTTPClientError {
      switch error {
      case .connectTimeout: return "connection timed out"
      case .deadlineExceeded, .readTimeout:
        return "timed out; a slow query service needs a longer --backend-timeout"
      case .remoteConnectionClosed: return "the server closed the connection"
      default: break
      }
    }
    let text = String(describing: error)
    let lowered = text.lowercased()
    if lowered.contains("connection refused") { return "connection refused" }
    if lowered.contains("no such host") || lowered.contains("dnsaerror") || lowered.contains("dnsaaaaerror") {
      return "cannot resolve the host name"
    }
    return text
  }

  /// `a=1&b=x%20y`: each key and value percent-encoded (only RFC 3986's unreserved characters
  /// stay), so TraceQL's braces, quotes and spaces arrive intact.
  static func query(_ pairs: [(String, String)]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    func encode(_ text: String) -> String {
      text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
    return pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
  }
}
