#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why the HTTP endpoint could not start: a malformed `--http-address` or a failed bind.
public struct HTTPEndpointError: Error, Hashable, Sendable, CustomStringConvertible {
  private enum Code: Hashable, Sendable {
    case invalidAddress
    case cannotListen
  }

  private let code: Code
  /// The message users see.
  public let description: String

  private init(_ code: Code, _ description: String) {
    self.code = code
    self.description = description
  }

  /// `--http-address` could not be parsed.
  public static func invalidAddress(_ value: String, _ why: String) -> HTTPEndpointError {
    HTTPEndpointError(.invalidAddress, "--http-address: invalid \"\(value)\": \(why)")
  }

  /// The socket could not be bound or put to listening; `reason` says why and what to do.
  public static func cannotListen(_ address: ListenAddress, _ reason: String) -> HTTPEndpointError {
    HTTPEndpointError(.cannotListen, "cannot listen on \(address): \(reason)")
  }

  /// `cannotListen` for a failed system call (`errno`), with a hint for the common causes.
  static func cannotListen(_ address: ListenAddress, errno code: Int32, detail: String) -> HTTPEndpointError {
    let reason: String
    switch code {
    case EADDRINUSE:
      reason =
        "address already in use (another process, or another faultline, holds port \(address.port)); "
        + "stop it or choose another port with --http-address"
    case EACCES, EPERM:
      reason =
        "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE, which faultline does not keep); "
        + "use a port of 1024 or above"
    case EADDRNOTAVAIL:
      reason =
        "no local interface has the address \(address.host); use 0.0.0.0 or one of this host's addresses"
    default:
      reason = detail
    }
    return .cannotListen(address, reason)
  }

  /// Whether this is a malformed address (the CLI's exit code 2) rather than a bind failure.
  public var isInvalidAddress: Bool { code == .invalidAddress }
}
