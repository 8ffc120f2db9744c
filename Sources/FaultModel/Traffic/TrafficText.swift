// Traffic selections as people write them, shared by native profiles, Chaos Mesh manifests and the
// CLI flags: peers (`db.internal:5432`), choices with helpful aliases, exclusions.

/// A peer as written, before the rule that ports may follow host names only: the native format and the
/// CLI report a port after an address; Chaos Mesh's `externalTargets` allow it (`10.0.0.1:80`).
struct PeerSpelling {
  /// The text, trimmed.
  var text: String
  /// The peer; a host carries its ports.
  var peer: TrafficPeer
  /// Ports written after an address or CIDR (`10.0.0.1:80`, `[fd00::1]:80`).
  var addressPorts: [PortRange]

  init(parsing raw: String) throws(UnitParseError) {
    let text = raw.trimmingCharacters(in: .whitespaces)
    self.text = text
    guard !text.isEmpty else {
      throw UnitParseError(
        "empty peer; write a CIDR (10.0.0.0/8), an address (10.1.2.3, fd00::1) or a host name "
          + "(db.internal, db.internal:5432)")
    }
    var hostPart = Substring(text)
    var portPart: Substring?
    if text.hasPrefix("[") {
      guard let close = text.firstIndex(of: "]") else {
        throw UnitParseError("\(text): '[' without ']'; write [fd00::1]:5432 or fd00::1")
      }
      hostPart = text[text.index(after: text.startIndex)..<close]
      let rest = text[text.index(after: close)...]
      if !rest.isEmpty {
        guard rest.first == ":" else {
          throw UnitParseError("\(text): expected ':PORT' after ']', e.g. [fd00::1]:5432")
        }
        portPart = rest.dropFirst()
      }
      guard hostPart.contains(":") else {
        throw UnitParseError("\(text): brackets are for IPv6 addresses; write \(hostPart)\(rest)")
      }
    } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
      hostPart = text[..<colon]
      portPart = text[text.index(after: colon)...]
    }
    var ports: [PortRange] = []
    if let portPart {
      guard !portPart.isEmpty else {
        throw UnitParseError("\(text): no port after ':'; write e.g. \(hostPart):5432 or leave out the ':'")
      }
      for item in portPart.split(separator: ",", omittingEmptySubsequences: false) {
        do throws(UnitParseError) {
          ports.append(try PortRange(parsing: String(item)))
        } catch {
          // Quote the whole peer, not just the port, so the reader sees which peer it is.
          let own = "\(item.trimmingCharacters(in: .whitespaces)): "
          let why =
            error.description.hasPrefix(own)
            ? error.description.dropFirst(own.count) : Substring(error.description)
          throw UnitParseError("\(text): \(why)")
        }
      }
    }
    if hostPart.contains(":") || hostPart.contains("/") || looksLikeIPv4(hostPart) {
      var prefix = try IPPrefix(parsing: String(hostPart))
      if let unmapped = prefix.unmappedIPv4 { prefix = unmapped }
      self.peer = .prefix(prefix)
      self.addressPorts = ports
    } else {
      self.peer = .host(try hostName(hostPart, whole: text), ports: ports)
      self.addressPorts = []
    }
  }
}

/// A host name as RFC 1123 allows it, lower-cased: dot-separated labels of 1-63 letters, digits and
/// `-` (not at either end), 253 characters at most, an optional final dot; the last label is not all
/// digits (that is a mistyped IPv4 address).
private func hostName(_ name: Substring, whole: String) throws(UnitParseError) -> String {
  let body = name.hasSuffix(".") ? name.dropLast() : name
  let labels = body.split(separator: ".", omittingEmptySubsequences: false)
  let advice = "host names are labels of letters, digits and '-' separated by dots, e.g. db.internal"
  guard !body.isEmpty, body.count <= 253 else {
    throw UnitParseError(
      "\(whole): \(body.isEmpty ? "empty host name" : "longer than 253 characters"); \(advice)")
  }
  for label in labels {
    guard !label.isEmpty else { throw UnitParseError("\(whole): empty label between dots; \(advice)") }
    guard label.count <= 63 else {
      throw UnitParseError("\(whole): label \"\(label)\" is longer than 63 characters; \(advice)")
    }
    if let bad = label.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-")) }) {
      throw UnitParseError("\(whole): '\(bad)' is not allowed in a host name; \(advice)")
    }
    guard label.first != "-", label.last != "-" else {
      throw UnitParseError("\(whole): label \"\(label)\" starts or ends with '-'; \(advice)")
    }
  }
  if let last = labels.last, last.allSatisfy({ $0.isASCII && $0.isNumber }) {
    throw UnitParseError(
      "\(whole): the last label \"\(last)\" is all digits, which no host name has; an IPv4 address is "
        + "four numbers 0-255 such as 10.1.2.3")
  }
  return name.lowercased()
}

/// Words for a direction that mean one of faultline's (Chaos Mesh's), answered with faultline's word.
let directionAliases: [String: (TrafficDirection, String)] = [
  "to": (.egress, "is Chaos Mesh's word for packets sent to the peers"),
  "from": (.ingress, "is Chaos Mesh's word for packets received from the peers"),
  "out": (.egress, "is not a direction"), "in": (.ingress, "is not a direction"),
]

/// Protocol names that mean one of faultline's, answered with faultline's word.
let protocolAliases: [String: (TransportProtocol, String)] = [
  "icmpv6": (.icmp, "is covered by icmp, which means ICMPv6 for IPv6 peers"),
  "icmp6": (.icmp, "is covered by icmp, which means ICMPv6 for IPv6 peers"),
  "all": (.any, "is not a protocol name"),
]

/// A choice among an enum's raw values (case-insensitive); an alias is an error naming the right word.
func parseChoice<Choice: RawRepresentable & CaseIterable>(
  _ text: String, aliases: [String: (Choice, String)]
) throws(UnitParseError) -> Choice where Choice.RawValue == String {
  let word = text.trimmingCharacters(in: .whitespaces).lowercased()
  if let choice = Choice(rawValue: word) { return choice }
  let allowed = Choice.allCases.map(\.rawValue)
  if let (choice, why) = aliases[word] {
    throw UnitParseError("\"\(text)\" \(why); write \(choice.rawValue)")
  }
  let hint = closestMatch(to: word, in: allowed).map { "; did you mean \($0)?" } ?? ""
  throw UnitParseError(
    "\"\(text)\" is not one of \(allowed.joined(separator: ", "))\(hint)")
}

/// An exclusion: a CIDR or an address (IPv4-mapped IPv6 as IPv4); host names and ports are errors.
func excludedPrefix(_ text: String) throws(UnitParseError) -> IPPrefix {
  let spelled = try PeerSpelling(parsing: text)
  switch spelled.peer {
  case .prefix(let prefix) where spelled.addressPorts.isEmpty: return prefix
  case .prefix:
    throw UnitParseError(
      "\(spelled.text): an excluded peer takes no port; exclude ports separately (exclude.ports, "
        + "--exclude-port)")
  default:
    throw UnitParseError(
      "\(spelled.text): only CIDRs and addresses can be excluded, not host names; write the address "
        + "(e.g. 10.96.0.10) or a CIDR")
  }
}
