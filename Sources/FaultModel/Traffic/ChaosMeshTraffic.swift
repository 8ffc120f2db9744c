import Yams

// Chaos Mesh's traffic fields, read unchanged: `direction`, `target`, `externalTargets`, `targetDevice`.
// Chaos Mesh resolves `externalTargets` with Go's net.SplitHostPort, net.ParseCIDR and net.ParseIP, and
// matches a port written after a target with an ipset `hash:net,port` entry, which is TCP only.

extension ChaosMeshProfileParser {
  /// The traffic selection of a `NetworkChaosSpec`, or nil when it selects all egress of the interface
  /// (`direction: to`, no `target`, no `externalTargets`) or has problems (all reported).
  static func parseTraffic(
    _ spec: Fields, specNode: Node, objectNamespace: String, interface: String, reader: inout DocumentReader
  ) -> TrafficSelector? {
    let issuesBefore = reader.issues.count
    var selector = TrafficSelector()
    var locations = TrafficLocations(fallback: (specNode, spec.path))

    let directionPath = spec.path("direction")
    if let node = spec["direction"], let text = reader.text(node, path: directionPath) {
      locations.places[.direction] = (node, directionPath)
      switch text {
      case "to": selector.direction = .egress
      case "from": selector.direction = .ingress
      case "both": selector.direction = .both
      default: reader.report(node, directionPath, "invalid direction \"\(text)\": use to, from or both")
      }
    }

    var hasPods = false
    if spec.isSet("target"), let node = spec["target"] {
      let path = spec.path("target")
      if let target = reader.mapping(node, path: path, known: ["selector", "mode", "value"]),
        let pods = parseSelector(
          target, objectNamespace: objectNamespace, specNode: node,
          purpose: "the pods whose traffic with the selected pods is faulted (namespaces, labelSelectors)",
          reader: &reader)
      {
        locations.places[.peer(selector.peers.count)] = (spec.key("target"), path)
        selector.peers.append(.pods(pods))
        hasPods = true
      }
    }

    // Ports after addresses (`10.0.0.1:80`) are kept as the selection's ports when every address has the
    // same ones and no peer without a port (target pods, a bare host or address) shares the selection.
    var addressPorts: [(node: Node, ports: [PortRange])] = []
    var addressesWithoutPorts = false
    var hostsWithoutPorts = false
    if spec.isSet("externalTargets"), let node = spec["externalTargets"] {
      let path = spec.path("externalTargets")
      locations.places[.peers] = (spec.key("externalTargets"), path)
      for item in reader.sequence(node, path: path) ?? [] {
        guard let text = reader.text(item, path: path) else { continue }
        let spelled: PeerSpelling
        do throws(UnitParseError) {
          spelled = try PeerSpelling(parsing: text)
        } catch {
          reader.report(item, path, error.description)
          continue
        }
        switch spelled.peer {
        case .prefix where spelled.addressPorts.isEmpty: addressesWithoutPorts = true
        case .prefix: addressPorts.append((item, spelled.addressPorts))
        case .host(_, let ports) where ports.isEmpty: hostsWithoutPorts = true
        default: break
        }
        locations.places[.peer(selector.peers.count)] = (item, path)
        selector.peers.append(spelled.peer)
      }
    }
    if let first = addressPorts.first {
      if let odd = addressPorts.first(where: { Set($0.ports) != Set(first.ports) }) {
        reader.report(
          odd.node, spec.path("externalTargets"),
          "this port differs from the one on \(first.node.scalar?.string ?? "the first address"): a port after "
            + "an address is kept only when every address in externalTargets has the same port; give them the "
            + "same port, or remove the ports to fault every port")
      } else if hasPods || addressesWithoutPorts || hostsWithoutPorts {
        let other =
          hasPods
          ? "target pods (which have no port)"
          : addressesWithoutPorts ? "addresses without a port" : "host names without a port"
        reader.report(
          first.node, spec.path("externalTargets"),
          "a port after an address is kept only when every address in externalTargets has it and there are "
            + "no \(other); give every address the port, or remove the port to fault every port")
      } else {
        selector.ports = first.ports
        locations.places[.ports] = (first.node, spec.path("externalTargets"))
      }
    }

    if spec.isSet("targetDevice"), let node = spec["targetDevice"],
      let text = reader.text(node, path: spec.path("targetDevice")), text != "eth0", text != interface
    {
      reader.report(
        node, spec.path("targetDevice"),
        "targetDevice \(text) is not supported: faultline never touches the target pods; it shapes the "
          + "selected pods' \(interface) (ingress from the targets for direction from) and finds the targets "
          + "by their pod IPs; remove targetDevice or set it to eth0")
    }

    guard reader.issues.count == issuesBefore else { return nil }
    if selector.peers.isEmpty {
      if selector.direction != .egress {
        reader.report(
          spec["direction"], directionPath,
          "direction \(spec["direction"]?.scalar?.string ?? "") needs a target or externalTargets (the peers "
            + "whose traffic with the selected pods is faulted), as in Chaos Mesh; to fault all incoming "
            + "traffic use a native profile with traffic: {direction: ingress}")
      }
      return nil
    }
    // Chaos Mesh matches a port after a target for TCP only: keep that when every peer has a port.
    if !hasPods, !addressesWithoutPorts, !hostsWithoutPorts { selector.transport = .tcp }
    guard reader.checkTraffic(selector, at: locations) else { return nil }
    return selector
  }
}
