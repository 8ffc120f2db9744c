import FaultModel
import Glibc

extension IPPrefix {
  /// A prefix from bytes and a length as the kernel reports them; nil when they do not fit.
  init?(kernelAddress address: [UInt8], length: Int) {
    guard address.count == 4 || address.count == 16, (0...(address.count * 8)).contains(length) else {
      return nil
    }
    self.init(address: address, length: UInt8(length))
  }

  /// The netmask in network byte order (`length` leading one bits), as flower's `*_MASK` keys carry it.
  var mask: [UInt8] {
    (0..<address.count).map { index in
      let bits = min(8, max(0, Int(length) - index * 8))
      return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
    }
  }
}

/// The transport protocol a match selects; `icmp` means ICMPv6 in an IPv6 match.
public enum IPProtocolMatch: String, Sendable, Hashable, Codable {
  /// TCP (6).
  case tcp
  /// UDP (17).
  case udp
  /// ICMP (1) for IPv4, ICMPv6 (58) for IPv6.
  case icmp

  /// The IP protocol number (`TCA_FLOWER_KEY_IP_PROTO`).
  func number(ipv6: Bool) -> UInt8 {
    switch self {
    case .tcp: 6
    case .udp: 17
    case .icmp: ipv6 ? 58 : 1
    }
  }

  /// The match for a protocol number; nil for one faultline does not select by.
  init?(number: UInt8) {
    switch number {
    case 6: self = .tcp
    case 17: self = .udp
    case 1, 58: self = .icmp
    default: return nil
    }
  }

  /// `tc`'s word for it: `icmpv6` in an IPv6 filter.
  func tcWord(ipv6: Bool) -> String { self == .icmp && ipv6 ? "icmpv6" : rawValue }
}

/// A port or an inclusive range of ports (`lower == upper` for one port).
public struct PortSpan: Sendable, Hashable, Codable {
  /// The first port.
  public var lower: UInt16
  /// The last port (inclusive).
  public var upper: UInt16

  /// The ports from `lower` to `upper`, both included.
  public init(_ lower: UInt16, _ upper: UInt16) {
    self.lower = lower
    self.upper = upper
  }

  /// `5000` or `5000-5010`, as `tc … flower dst_port` takes it.
  var tcText: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}

/// Packets a shaped fault selects (or excludes): a prefix, optionally one protocol and its ports.
public struct FlowMatch: Sendable, Hashable, Codable {
  /// The destination (or source, see ``MatchSide``) prefix.
  public var prefix: IPPrefix
  /// The protocol; nil matches any.
  public var ipProtocol: IPProtocolMatch?
  /// The destination (or source) ports; nil matches any. Needs `tcp` or `udp`.
  public var ports: PortSpan?

  /// A match of `prefix`, optionally only `ipProtocol` and only `ports`.
  public init(prefix: IPPrefix, ipProtocol: IPProtocolMatch? = nil, ports: PortSpan? = nil) {
    self.prefix = prefix
    self.ipProtocol = ipProtocol
    self.ports = ports
  }
}

/// Which end of a packet a ``TrafficShape`` matches on.
public enum MatchSide: String, Sendable, Hashable, Codable {
  /// Destination address and port: egress toward peers.
  case destination
  /// Source address and port: traffic from peers (ingress redirected to an IFB device).
  case source
}

/// Which packets a shaped fault applies to: those matching any of `faulted` and none of `excluded`.
///
/// In the kernel: a `prio` root whose priomap sends everything to an untouched band, and flower
/// filters that send `excluded` matches to that band and `faulted` ones to the band holding the netem.
public struct TrafficShape: Sendable, Hashable, Codable {
  /// Matches that get the fault; must not be empty.
  public var faulted: [FlowMatch]
  /// Matches that never get it, even inside a faulted prefix (checked first).
  public var excluded: [FlowMatch]
  /// Whether the matches name destinations (egress) or sources.
  public var side: MatchSide

  /// A shape faulting `faulted` except `excluded`, matched on `side`.
  public init(faulted: [FlowMatch], excluded: [FlowMatch] = [], side: MatchSide = .destination) {
    self.faulted = faulted
    self.excluded = excluded
    self.side = side
  }

  /// At most this many matches in all: each takes one filter priority in each of two banks.
  public static let maximumMatches = 4096

  /// Checks what the kernel would refuse or what could not mean what it says.
  ///
  /// - Throws: ``KernelError/Kind/invalidShape`` naming the match and the fix.
  public func validate() throws(KernelError) {
    guard !faulted.isEmpty else {
      throw KernelError.invalidShape(
        "a targeted fault needs at least one faulted destination or source (a CIDR); none was given")
    }
    guard faulted.count + excluded.count <= Self.maximumMatches else {
      throw KernelError.invalidShape(
        "\(faulted.count + excluded.count) matches; at most \(Self.maximumMatches) are supported, "
          + "merge adjacent prefixes into wider ones")
    }
    for match in faulted + excluded {
      guard let ports = match.ports else { continue }
      guard match.ipProtocol == .tcp || match.ipProtocol == .udp else {
        throw KernelError.invalidShape(
          "\(match.prefix) ports \(ports.tcText): ports need protocol tcp or udp"
            + (match.ipProtocol.map { ", not \($0.rawValue)" } ?? ""))
      }
      guard ports.lower <= ports.upper, ports.lower > 0 else {
        throw KernelError.invalidShape(
          "\(match.prefix) ports \(ports.lower)-\(ports.upper): a port range goes from a lower port (at least 1) "
            + "to a higher one")
      }
    }
  }
}
