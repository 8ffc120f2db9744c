import Yams

// Reading traffic selections from profiles: the native `traffic:` block, and the pieces Chaos Mesh
// manifests share with it (peers as text, where each part was written for problems found later).

/// Where each part of a ``TrafficSelector`` was written, so that ``TrafficSelector/issues()`` found after
/// parsing point at the right node.
struct TrafficLocations {
  /// The node and field path of each part that was written.
  var places: [TrafficIssue.Field: (node: Node?, path: String)] = [:]
  /// Where problems about parts that were not written go (the `traffic` key, or the spec).
  var fallback: (node: Node?, path: String)

  /// The place of `field`; an item falls back to its list, a list to ``fallback``.
  func place(_ field: TrafficIssue.Field) -> (node: Node?, path: String) {
    if let place = places[field] { return place }
    let list: TrafficIssue.Field? =
      switch field {
      case .peer: .peers
      case .port: .ports
      case .excludedPeer: .excludedPeers
      case .excludedPort: .excludedPorts
      default: nil
      }
    return list.flatMap { places[$0] } ?? fallback
  }
}

extension DocumentReader {
  /// Reports each of `selector`'s ``TrafficSelector/issues()`` where its part was written; returns
  /// whether there were none.
  mutating func checkTraffic(_ selector: TrafficSelector, at locations: TrafficLocations) -> Bool {
    let issues = selector.issues()
    for issue in issues {
      let place = locations.place(issue.field)
      report(place.node, place.path, issue.message)
    }
    return issues.isEmpty
  }

  /// The items of a list; a single value counts as a list of one (`ports: 443`). An empty list is
  /// reported with `emptyAdvice`.
  mutating func listItems(_ node: Node, path: String, emptyAdvice: String) -> [Node]? {
    if node.null != nil {
      report(node, path, "has no value; \(emptyAdvice)")
      return nil
    }
    if node.scalar != nil { return [node] }
    guard let items = sequence(node, path: path) else { return nil }
    if items.isEmpty { report(node, path, "empty; \(emptyAdvice)") }
    return items.isEmpty ? nil : items
  }

  /// A port or port range.
  mutating func portRange(_ node: Node, path: String) -> PortRange? {
    guard let text = text(node, path: path) else { return nil }
    do throws(UnitParseError) {
      return try PortRange(parsing: text)
    } catch {
      report(node, path, error.description)
      return nil
    }
  }

  /// A CIDR or address to exclude.
  mutating func excludedPeer(_ node: Node, path: String) -> IPPrefix? {
    guard let text = text(node, path: path) else { return nil }
    do throws(UnitParseError) {
      return try excludedPrefix(text)
    } catch {
      report(node, path, error.description)
      return nil
    }
  }
}

extension NativeProfileParser {
  static let trafficFields = ["direction", "peers", "ports", "protocol", "exclude", "protectNode"]
  static let excludeFields = ["peers", "ports"]
  static let peerFields = ["pods"]

  /// The native `traffic:` block (see docs/PROFILES.md), or nil when it has problems (all reported).
  static func parseTraffic(_ node: Node, key: Node, reader: inout DocumentReader) -> TrafficSelector? {
    let path = "traffic"
    if node.null != nil || node.mapping?.isEmpty == true {
      reader.report(
        key, path,
        "empty; give peers, ports, protocol or direction, or leave traffic out to fault all egress of the "
          + "interface")
      return nil
    }
    guard let fields = reader.mapping(node, path: path, known: trafficFields) else { return nil }
    let issuesBefore = reader.issues.count
    var selector = TrafficSelector()
    var locations = TrafficLocations(fallback: (key, path))

    if let node = fields["direction"], let text = reader.text(node, path: fields.path("direction")) {
      locations.places[.direction] = (node, fields.path("direction"))
      do throws(UnitParseError) {
        selector.direction = try parseChoice(text, aliases: directionAliases)
      } catch {
        reader.report(node, fields.path("direction"), error.description)
      }
    }

    if let node = fields["peers"] {
      let peersPath = fields.path("peers")
      locations.places[.peers] = (fields.key("peers"), peersPath)
      let advice =
        "list at least one peer (a CIDR, an address, a host name or pods: {…}), or leave peers out to "
        + "select every peer"
      for item in reader.listItems(node, path: peersPath, emptyAdvice: advice) ?? [] {
        guard let peer = parsePeer(item, path: peersPath, reader: &reader) else { continue }
        locations.places[.peer(selector.peers.count)] = (item, peersPath)
        selector.peers.append(peer)
      }
    }

    if let node = fields["ports"] {
      let portsPath = fields.path("ports")
      locations.places[.ports] = (fields.key("ports"), portsPath)
      let advice = "list ports such as 443 or 8000-8080, or leave ports out to select every port"
      for item in reader.listItems(node, path: portsPath, emptyAdvice: advice) ?? [] {
        guard let range = reader.portRange(item, path: portsPath) else { continue }
        locations.places[.port(selector.ports.count)] = (item, portsPath)
        selector.ports.append(range)
      }
    }

    if let node = fields["protocol"], let text = reader.text(node, path: fields.path("protocol")) {
      locations.places[.transport] = (node, fields.path("protocol"))
      do throws(UnitParseError) {
        selector.transport = try parseChoice(text, aliases: protocolAliases)
      } catch {
        reader.report(node, fields.path("protocol"), error.description)
      }
    }

    if let node = fields["exclude"] {
      parseExclude(node, key: fields.key("exclude"), into: &selector, locations: &locations, reader: &reader)
    }

    if let node = fields["protectNode"], let text = reader.text(node, path: fields.path("protectNode")) {
      if let value = node.bool {
        selector.protectNode = value
      } else {
        reader.report(
          node, fields.path("protectNode"),
          "expected true or false, found \"\(text)\" (true keeps the node's own IP, which kubelet probes "
            + "come from, out of the fault)")
      }
    }

    guard reader.issues.count == issuesBefore, reader.checkTraffic(selector, at: locations) else {
      return nil
    }
    return selector
  }

  /// One item of `traffic.peers`: a CIDR, an address, `host[:ports]`, or `pods: {…}`.
  private static func parsePeer(_ item: Node, path: String, reader: inout DocumentReader) -> TrafficPeer? {
    if item.mapping != nil {
      guard let fields = reader.mapping(item, path: path, known: peerFields) else { return nil }
      guard let podsNode = fields["pods"] else {
        reader.report(
          item, fields.path("pods"),
          "required in a peer written as a mapping: pods: {namespace: …, labels: {…}}")
        return nil
      }
      return parsePods(podsNode, path: fields.path("pods"), reader: &reader).map { .pods($0) }
    }
    guard let text = reader.text(item, path: path) else { return nil }
    do throws(UnitParseError) {
      return try TrafficPeer(parsing: text)
    } catch {
      reader.report(item, path, error.description)
      return nil
    }
  }

  private static func parseExclude(
    _ node: Node, key: Node?, into selector: inout TrafficSelector, locations: inout TrafficLocations,
    reader: inout DocumentReader
  ) {
    let path = "traffic.exclude"
    if node.null != nil || node.mapping?.isEmpty == true {
      reader.report(
        key, path, "empty; give peers (CIDRs, addresses) or ports never to fault, or remove exclude")
      return
    }
    guard let fields = reader.mapping(node, path: path, known: excludeFields) else { return }
    if let node = fields["peers"] {
      let peersPath = fields.path("peers")
      locations.places[.excludedPeers] = (fields.key("peers"), peersPath)
      let advice = "list CIDRs or addresses never to fault, such as 10.96.0.10, or remove it"
      for item in reader.listItems(node, path: peersPath, emptyAdvice: advice) ?? [] {
        guard let prefix = reader.excludedPeer(item, path: peersPath) else { continue }
        locations.places[.excludedPeer(selector.excludedPeers.count)] = (item, peersPath)
        selector.excludedPeers.append(prefix)
      }
    }
    if let node = fields["ports"] {
      let portsPath = fields.path("ports")
      locations.places[.excludedPorts] = (fields.key("ports"), portsPath)
      let advice = "list ports never to fault, such as 53, or remove it"
      for item in reader.listItems(node, path: portsPath, emptyAdvice: advice) ?? [] {
        guard let range = reader.portRange(item, path: portsPath) else { continue }
        locations.places[.excludedPort(selector.excludedPorts.count)] = (item, portsPath)
        selector.excludedPorts.append(range)
      }
    }
  }
}
