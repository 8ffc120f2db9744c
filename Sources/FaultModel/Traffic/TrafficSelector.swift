/// Which transport protocol a ``TrafficSelector`` picks.
public enum TransportProtocol: String, Sendable, Hashable, Codable, CaseIterable {
  /// Every protocol; with ports, TCP and UDP to those ports.
  case any
  /// TCP only.
  case tcp
  /// UDP only.
  case udp
  /// ICMP for IPv4 peers, ICMPv6 for IPv6 peers; no ports.
  case icmp
}

/// Which packets of an interface a ``TrafficSelector`` picks, seen from the faulted side.
public enum TrafficDirection: String, Sendable, Hashable, Codable, CaseIterable {
  /// Packets sent to the peers (Chaos Mesh `direction: to`).
  case egress
  /// Packets received from the peers (Chaos Mesh `direction: from`).
  case ingress
  /// Both.
  case both
}

/// One peer a fault is aimed at.
public enum TrafficPeer: Sendable, Hashable, CustomStringConvertible {
  /// A CIDR or an address.
  case prefix(IPPrefix)
  /// A DNS name to resolve (A and AAAA), re-resolved while the window is open; `ports`, when not
  /// empty, replace the selector's ports for this host (`db.internal:5432`).
  case host(String, ports: [PortRange])
  /// The pods whose IPs (both families) are the peers; the agent follows them through the pod watch.
  case pods(PodSelector)

  /// Parses a CIDR (`10.0.0.0/8`, `fd00::/64`), an address (`10.1.2.3`, `fd00::1`) or a host name with
  /// optional ports (`db.internal`, `db.internal:5432`, `db.internal:8000-8080,9000`).
  ///
  /// An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) becomes its IPv4 form, as packets to it travel as
  /// IPv4. A port after an address is an error: ports for addresses go in ``TrafficSelector/ports``.
  public init(parsing text: String) throws(UnitParseError) {
    let spelled = try PeerSpelling(parsing: text)
    guard spelled.addressPorts.isEmpty else {
      throw UnitParseError(
        "\(spelled.text): a port may follow a host name only; give ports for addresses and CIDRs as the "
          + "selection's ports (traffic.ports, --port)")
    }
    self = spelled.peer
  }

  /// `10.0.0.0/8`, `db.internal:5432`, `pods app=db in shop (all)`.
  public var description: String {
    switch self {
    case .prefix(let prefix): prefix.description
    case .host(let name, let ports):
      ports.isEmpty ? name : "\(name):\(ports.map(\.description).joined(separator: ","))"
    case .pods(let selector): "pods \(selector)"
    }
  }
}

/// Which traffic of an interface a fault applies to: peers, ports, protocol, direction, exclusions.
///
/// A profile without one (``Profile/traffic`` nil) faults all egress of the interface. Every part narrows
/// the selection: a packet is faulted when it goes the selected way to or from a peer, on a selected
/// port, with the selected protocol, and matches no exclusion.
public struct TrafficSelector: Sendable, Hashable {
  /// Egress (to the peers), ingress (from the peers) or both; default egress.
  public var direction: TrafficDirection
  /// The peers; empty selects every peer (then ports and protocol alone select).
  public var peers: [TrafficPeer]
  /// The peers' ports (destination ports on egress, source ports on ingress); empty selects every port.
  /// A host peer with its own ports uses those instead.
  public var ports: [PortRange]
  /// The protocol; default any. Ports given with `any` mean TCP and UDP.
  public var transport: TransportProtocol
  /// Addresses never faulted, whatever else matches.
  public var excludedPeers: [IPPrefix]
  /// Peer ports never faulted, whatever else matches.
  public var excludedPorts: [PortRange]
  /// Whether the node's own IP (kubelet probes) is never faulted in DaemonSet mode; default true.
  public var protectNode: Bool

  /// A selector; the defaults select all egress.
  public init(
    direction: TrafficDirection = .egress, peers: [TrafficPeer] = [], ports: [PortRange] = [],
    transport: TransportProtocol = .any, excludedPeers: [IPPrefix] = [], excludedPorts: [PortRange] = [],
    protectNode: Bool = true
  ) {
    self.direction = direction
    self.peers = peers
    self.ports = ports
    self.transport = transport
    self.excludedPeers = excludedPeers
    self.excludedPorts = excludedPorts
    self.protectNode = protectNode
  }

  /// One line for logs, spans, the annotation file and `plan`:
  /// `egress to 10.0.0.0/8, db.internal:5432 tcp/443 except 10.96.0.10/32`.
  public var summary: String {
    let peerText = peers.isEmpty ? "any peer" : peers.map(\.description).joined(separator: ", ")
    var text: String
    switch direction {
    case .egress: text = "egress to \(peerText)"
    case .ingress: text = "ingress from \(peerText)"
    case .both: text = "egress to and ingress from \(peerText)"
    }
    let portText = ports.map(\.description).joined(separator: ",")
    switch (transport, ports.isEmpty) {
    case (.any, true): break
    case (.any, false): text += " tcp+udp/\(portText)"
    case (_, true): text += " \(transport.rawValue)"
    case (_, false): text += " \(transport.rawValue)/\(portText)"
    }
    var exceptions = excludedPeers.map(\.description)
    if !excludedPorts.isEmpty {
      exceptions.append(
        "port\(excludedPorts.count == 1 && excludedPorts[0].lower == excludedPorts[0].upper ? "" : "s") "
          + excludedPorts.map(\.description).joined(separator: ","))
    }
    if !exceptions.isEmpty { text += " except \(exceptions.joined(separator: ", "))" }
    if !protectNode { text += " (node IP not protected)" }
    return text
  }

  /// The combinations that cannot select anything or make no sense: ports with ICMP, a peer or port
  /// entirely excluded, exclusions covering everything. Empty when the selector is usable.
  ///
  /// Each problem names the part it is about, so that profiles point at the right line and the CLI at
  /// the right flag.
  public func issues() -> [TrafficIssue] {
    var issues: [TrafficIssue] = []
    if transport == .icmp {
      let advice = "ICMP has no ports; remove them, or use protocol tcp, udp or any"
      if !ports.isEmpty {
        issues.append(TrafficIssue(.ports, "ports do not apply to protocol icmp: \(advice)"))
      }
      if !excludedPorts.isEmpty {
        issues.append(TrafficIssue(.excludedPorts, "excluded ports do not apply to protocol icmp: \(advice)"))
      }
      for (index, peer) in peers.enumerated() {
        if case .host(let name, let hostPorts) = peer, !hostPorts.isEmpty {
          issues.append(
            TrafficIssue(
              .peer(index), "\(peer): ports do not apply to protocol icmp: \(advice) (write \(name))"))
        }
      }
    }
    for (index, peer) in peers.enumerated() {
      switch peer {
      case .prefix(let prefix):
        if let exclusion = excludedPeers.first(where: { $0.contains(prefix) }) {
          issues.append(
            TrafficIssue(
              .peer(index),
              "\(prefix) lies inside the excluded \(exclusion), so it would never be faulted; remove one of "
                + "them or narrow the exclusion"))
        }
      case .host(_, let hostPorts) where transport != .icmp:
        for range in hostPorts where covers(excludedPorts, range) {
          issues.append(
            TrafficIssue(
              .peer(index),
              "\(peer): port \(range) is excluded too (exclude ports \(portList(excludedPorts))), so this host "
                + "would never be faulted; remove the port or the exclusion"))
        }
      default: break
      }
    }
    if transport != .icmp {
      for (index, range) in ports.enumerated() where covers(excludedPorts, range) {
        issues.append(
          TrafficIssue(
            .port(index),
            "port \(range) is excluded too (exclude ports \(portList(excludedPorts))), so it would never be "
              + "faulted; remove it or the exclusion"))
      }
    }
    if peers.isEmpty,
      let v4 = excludedPeers.firstIndex(where: { !$0.isIPv6 && $0.length == 0 }),
      let v6 = excludedPeers.firstIndex(where: { $0.isIPv6 && $0.length == 0 })
    {
      issues.append(
        TrafficIssue(
          .excludedPeer(max(v4, v6)),
          "0.0.0.0/0 and ::/0 together exclude every address, so nothing would be faulted; list the "
            + "addresses to spare instead"))
    }
    if ports.isEmpty, transport == .tcp || transport == .udp, covers(excludedPorts, PortRange(1, 65535)) {
      issues.append(
        TrafficIssue(
          .excludedPorts,
          "the excluded ports cover 1-65535, so no \(transport.rawValue) packet would be faulted; list the "
            + "ports to spare instead"))
    }
    return issues
  }
}

/// A problem with a ``TrafficSelector`` as a whole (see ``TrafficSelector/issues()``).
public struct TrafficIssue: Sendable, Hashable, CustomStringConvertible {
  /// The part of the selector a problem is about.
  public enum Field: Sendable, Hashable {
    /// ``TrafficSelector/direction``.
    case direction
    /// ``TrafficSelector/peers`` as a whole.
    case peers
    /// One of ``TrafficSelector/peers``, by index.
    case peer(Int)
    /// ``TrafficSelector/ports`` as a whole.
    case ports
    /// One of ``TrafficSelector/ports``, by index.
    case port(Int)
    /// ``TrafficSelector/transport``.
    case transport
    /// ``TrafficSelector/excludedPeers`` as a whole.
    case excludedPeers
    /// One of ``TrafficSelector/excludedPeers``, by index.
    case excludedPeer(Int)
    /// ``TrafficSelector/excludedPorts`` as a whole.
    case excludedPorts
    /// One of ``TrafficSelector/excludedPorts``, by index.
    case excludedPort(Int)
  }

  /// What the problem is about.
  public var field: Field
  /// What is wrong and what to write instead.
  public var message: String

  /// A problem with `field`.
  public init(_ field: Field, _ message: String) {
    self.field = field
    self.message = message
  }

  /// The message.
  public var description: String { message }
}

private func portList(_ ranges: [PortRange]) -> String {
  ranges.map(\.description).joined(separator: ",")
}
