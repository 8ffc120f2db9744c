import FaultModel
import NetemKernel

/// How one fault window shapes an interface's traffic: each direction either whole (one root
/// netem, as `tc qdisc replace … root netem` does) or shaped (a prio tree whose flower filters send
/// only the selected packets through the netem). A direction that is nil is left alone.
public struct TrafficShaping: Sendable, Hashable, Codable {
  /// One direction's shaping.
  public enum Mode: Sendable, Hashable, Codable {
    /// Every packet: a root netem.
    case whole
    /// The packets `shape` selects.
    case shaped(TrafficShape)

    /// The shape, when shaped.
    public var shape: TrafficShape? {
      if case .shaped(let shape) = self { return shape }
      return nil
    }
  }

  /// What leaves the interface (the root of the interface itself).
  public var egress: Mode?
  /// What enters it, redirected to faultline's IFB device and shaped on the IFB's egress.
  public var ingress: Mode?

  /// Shaping of `egress` and `ingress`.
  public init(egress: Mode?, ingress: Mode?) {
    self.egress = egress
    self.ingress = ingress
  }

  /// Today's whole-interface egress fault.
  public static let wholeEgress = TrafficShaping(egress: .whole, ingress: nil)
}

/// Turns a profile's traffic selection and the peers resolved for it into the kernel's shapes.
///
/// Pure: the agent resolves hostnames and pod IPs, this decides the flower matches. Ports given with
/// `protocol: any` mean TCP and UDP (a port means nothing to other protocols); no peers mean every
/// address of both families; protected prefixes (the node's own IP, for kubelet probes) are matched
/// before anything is faulted.
public enum TrafficPlan {
  /// Every IPv4 and every IPv6 address.
  static let everywhere = [
    IPPrefix(address: [0, 0, 0, 0], length: 0), IPPrefix(address: Array(repeating: 0, count: 16), length: 0),
  ]

  /// The shaping for `selector` (nil: the whole interface) with its dynamic peers resolved to
  /// `peers`, never faulting `protected`. Nil when the selection has peers but none resolved to an
  /// address yet: there is nothing to shape.
  public static func shaping(
    _ selector: TrafficSelector?, resolved peers: [ResolvedPeer], protected: [IPPrefix]
  ) -> TrafficShaping? {
    guard let selector else {
      guard !protected.isEmpty else { return .wholeEgress }
      // A whole-interface fault that must spare the node: every address, except the protected ones.
      let shape = TrafficShape(
        faulted: everywhere.map { FlowMatch(prefix: $0) }, excluded: protected.map { FlowMatch(prefix: $0) },
        side: .destination)
      return TrafficShaping(egress: .shaped(shape), ingress: nil)
    }
    let wholeSelection =
      selector.peers.isEmpty && selector.ports.isEmpty && selector.transport == .any
      && selector.excludedPeers.isEmpty && selector.excludedPorts.isEmpty && protected.isEmpty
    func mode(_ side: MatchSide) -> TrafficShaping.Mode? {
      if wholeSelection { return .whole }
      let targets: [ResolvedPeer] =
        selector.peers.isEmpty ? everywhere.map { ResolvedPeer(prefix: $0, ports: []) } : peers
      let faulted = targets.flatMap {
        matches(for: $0.prefix, ports: $0.ports.isEmpty ? selector.ports : $0.ports, selector.transport)
      }
      guard !faulted.isEmpty else { return nil }
      var excluded = (selector.excludedPeers + protected).map { FlowMatch(prefix: $0) }
      for prefix in everywhere where !selector.excludedPorts.isEmpty {
        excluded += matches(for: prefix, ports: selector.excludedPorts, .any)
      }
      return .shaped(
        TrafficShape(faulted: Array(unique(faulted)), excluded: Array(unique(excluded)), side: side))
    }
    var shaping = TrafficShaping(egress: nil, ingress: nil)
    if selector.direction != .ingress {
      guard let egress = mode(.destination) else { return nil }
      shaping.egress = egress
    }
    if selector.direction != .egress {
      guard let ingress = mode(.source) else { return nil }
      shaping.ingress = ingress
    }
    return shaping
  }

  /// The flower matches of one prefix: by protocol, and by port for TCP and UDP.
  static func matches(for prefix: IPPrefix, ports: [PortRange], _ transport: TransportProtocol) -> [FlowMatch]
  {
    switch transport {
    case .icmp:
      return [FlowMatch(prefix: prefix, ipProtocol: .icmp)]
    case .tcp, .udp:
      let proto: IPProtocolMatch = transport == .tcp ? .tcp : .udp
      guard !ports.isEmpty else { return [FlowMatch(prefix: prefix, ipProtocol: proto)] }
      return ports.map { FlowMatch(prefix: prefix, ipProtocol: proto, ports: PortSpan($0.lower, $0.upper)) }
    case .any:
      guard !ports.isEmpty else { return [FlowMatch(prefix: prefix)] }
      return [IPProtocolMatch.tcp, .udp].flatMap { proto in
        ports.map { FlowMatch(prefix: prefix, ipProtocol: proto, ports: PortSpan($0.lower, $0.upper)) }
      }
    }
  }

  private static func unique(_ matches: [FlowMatch]) -> [FlowMatch] {
    var seen = Set<FlowMatch>()
    return matches.filter { seen.insert($0).inserted }
  }
}

/// One peer address range, with the ports of the peer that named it (`db.internal:5432`), if any.
public struct ResolvedPeer: Sendable, Hashable {
  /// The addresses.
  public var prefix: IPPrefix
  /// The peer's own ports (empty: the selection's ports).
  public var ports: [PortRange]

  /// A peer of `prefix` with `ports`.
  public init(prefix: IPPrefix, ports: [PortRange] = []) {
    self.prefix = prefix
    self.ports = ports
  }
}
