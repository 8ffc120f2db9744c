/// Where the HTTP endpoint listens: the value of `--http-address HOST:PORT`.
///
/// `HOST` is an IPv4 address (`0.0.0.0`, `127.0.0.1`), an IPv6 address in brackets (`[::]`,
/// `[::1]`) or a host name resolved at bind time (`localhost`); it may be left out (`:9464`) to mean
/// every IPv4 interface. `PORT` is 0…65535; 0 lets the kernel pick a free port.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
  /// The host as given, without IPv6 brackets (`0.0.0.0`, `::1`, `localhost`).
  public var host: String
  /// The TCP port; 0 lets the kernel choose.
  public var port: Int

  /// faultline's default: every IPv4 interface, port 9464 (the port OpenTelemetry's Prometheus
  /// exporters use; the manifests in `deploy/kubernetes` expect it).
  public static let `default` = ListenAddress(host: "0.0.0.0", port: 9464)

  /// An address from its parts; no validation (use ``init(parsing:)`` for user input).
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT`, with errors that say what to write instead.
  public init(parsing text: String) throws(HTTPEndpointError) {
    let value = text.trimmingSpaces()
    guard !value.isEmpty else {
      throw .invalidAddress(text, "empty; use HOST:PORT, e.g. 0.0.0.0:9464")
    }
    if let scheme = value.firstRange(of: "://") {
      let rest = value[scheme.upperBound...].prefix { $0 != "/" }
      throw .invalidAddress(text, "give HOST:PORT without a scheme or path, e.g. \(rest)")
    }
    if value.allSatisfy({ $0.isASCII && $0.isNumber }) {
      throw .invalidAddress(text, "missing host; use HOST:PORT, e.g. 0.0.0.0:\(value)")
    }
    let host: Substring
    let portText: Substring
    if value.hasPrefix("[") {
      guard let close = value.firstIndex(of: "]") else {
        throw .invalidAddress(text, "missing \"]\" after the IPv6 address; use e.g. [::1]:9464")
      }
      host = value[value.index(after: value.startIndex)..<close]
      let rest = value[value.index(after: close)...]
      guard rest.hasPrefix(":") else {
        throw .invalidAddress(text, "missing port after \"]\"; use e.g. [::1]:9464")
      }
      portText = rest.dropFirst()
      // An IPv6 address, optionally with a zone: `fe80::1%eth0`.
      let parts = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
      let ip = parts[0]
      let zone = parts.count > 1 ? parts[1] : nil
      guard ip.contains(":"), ip.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }),
        zone.map({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && !$0.isWhitespace } }) ?? true
      else {
        throw .invalidAddress(text, "\"\(host)\" is not an IPv6 address")
      }
    } else {
      guard let colon = value.lastIndex(of: ":") else {
        throw .invalidAddress(text, "missing port; use HOST:PORT, e.g. \(value):9464")
      }
      host = value[..<colon]
      portText = value[value.index(after: colon)...]
      if host.contains(":") {
        throw .invalidAddress(text, "an IPv6 address needs brackets, e.g. [\(host)]:\(portText)")
      }
      if let bad = host.first(where: {
        !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-"))
      }) {
        throw .invalidAddress(text, "\"\(bad)\" cannot appear in a host name or IPv4 address")
      }
    }
    guard !portText.isEmpty else {
      throw .invalidAddress(text, "missing port after \":\"; e.g. \(value)9464")
    }
    guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), port <= 65535 else {
      throw .invalidAddress(text, "port \"\(portText)\" is not a number from 0 to 65535")
    }
    self.host = host.isEmpty ? "0.0.0.0" : String(host)
    self.port = port
  }

  /// `host:port`, with brackets around an IPv6 host (`[::1]:9464`).
  public var description: String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
  }
}

extension String {
  fileprivate func trimmingSpaces() -> Substring {
    var view = self[...]
    while let first = view.first, first.isWhitespace { view = view.dropFirst() }
    while let last = view.last, last.isWhitespace { view = view.dropLast() }
    return view
  }
}
