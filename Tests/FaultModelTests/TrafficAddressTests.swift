import Foundation
import Testing

@testable import FaultModel

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The prefix `text` names; the text must be valid.
func ipPrefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }

/// The message `IPPrefix(parsing:)` throws for `text`, or nil when it parses.
private func prefixError(_ text: String) -> String? {
  do throws(UnitParseError) {
    _ = try IPPrefix(parsing: text)
    return nil
  } catch {
    return error.description
  }
}

/// The message `PortRange(parsing:)` throws for `text`, or nil when it parses.
private func portError(_ text: String) -> String? {
  do throws(UnitParseError) {
    _ = try PortRange(parsing: text)
    return nil
  } catch {
    return error.description
  }
}

/// The message `TrafficPeer(parsing:)` throws for `text`, or nil when it parses.
private func peerError(_ text: String) -> String? {
  do throws(UnitParseError) {
    _ = try TrafficPeer(parsing: text)
    return nil
  } catch {
    return error.description
  }
}

/// What inet_pton makes of `text` (AF_INET6 when it contains ':'), or nil when it refuses it.
private func ptonBytes(_ text: String) -> [UInt8]? {
  let isV6 = text.contains(":")
  var buffer = [UInt8](repeating: 0, count: isV6 ? 16 : 4)
  let result = buffer.withUnsafeMutableBytes { inet_pton(isV6 ? AF_INET6 : AF_INET, text, $0.baseAddress) }
  return result == 1 ? buffer : nil
}

@Suite("Traffic: addresses, prefixes and ports")
struct TrafficAddressTests {
  @Test(
    "addresses and CIDRs parse to their bytes and print in canonical form",
    arguments: [
      ("10.0.0.0/8", "10.0.0.0/8"),
      ("10.1.2.3", "10.1.2.3/32"),
      (" 192.168.0.0/16 ", "192.168.0.0/16"),
      ("0.0.0.0/0", "0.0.0.0/0"),
      ("255.255.255.255", "255.255.255.255/32"),
      ("fd00::/64", "fd00::/64"),
      ("::1", "::1/128"),
      ("::", "::/128"),
      ("::/0", "::/0"),
      ("FD00:0:0:0:0:0:0:1", "fd00::1/128"),
      ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"),
      ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329/128"),
      ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1/128"),
      ("1::", "1::/128"),
      ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0/128"),
      ("::ffff:10.1.2.3", "::ffff:10.1.2.3/128"),
      ("::ffff:a01:203", "::ffff:10.1.2.3/128"),
      ("::ffff:0:0/96", "::ffff:0.0.0.0/96"),
      ("64:ff9b::192.0.2.33", "64:ff9b::c000:221/128"),
    ])
  func parsesAndPrints(text: String, canonical: String) throws {
    let prefix = try IPPrefix(parsing: text)
    #expect(prefix.description == canonical)
    #expect(try IPPrefix(parsing: canonical) == prefix, "the canonical form reads back")
    let address = String(text.trimmingCharacters(in: .whitespaces).split(separator: "/")[0])
    if prefix.length == prefix.address.count * 8 {
      #expect(prefix.address == ptonBytes(address), "the same bytes as inet_pton")
    }
    #expect(prefix.isIPv6 == text.contains(":"))
  }

  @Test("bytes and lengths are what was written")
  func bytes() throws {
    #expect(try IPPrefix(parsing: "10.0.0.0/8") == IPPrefix(address: [10, 0, 0, 0], length: 8))
    #expect(try IPPrefix(parsing: "fd00::/8").address == [0xFD] + [UInt8](repeating: 0, count: 15))
    #expect(try IPPrefix(parsing: "10.1.2.3").length == 32)
    #expect(try IPPrefix(parsing: "::1").length == 128)
    #expect(IPPrefix(address: [10, 1, 2, 3], length: 8).address == [10, 0, 0, 0], "host bits are cleared")
    #expect(IPPrefix(address: [10, 1, 255, 3], length: 20).description == "10.1.240.0/20")
  }

  @Test(
    "malformed addresses are refused by both faultline and inet_pton",
    arguments: [
      "256.1.1.1", "10.0.0", "10.0.0.0.0", "10..0.1", "010.1.1.1", "1:2:3", "1::2::3", "fd00:::1",
      "12345::", "g::1", ":1::2", "1::2:", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "::1.2.3", "1.2.3.4::",
    ])
  func refusedLikeInetPton(text: String) {
    #expect(prefixError(text) != nil)
    #expect(ptonBytes(text) == nil)
  }

  @Test("each malformed address gets a message that says what is wrong")
  func messages() {
    #expect(prefixError("10.0.0.0/33") == "10.0.0.0/33: prefix length 33 is more than 32 for IPv4")
    #expect(prefixError("fd00::/129") == "fd00::/129: prefix length 129 is more than 128 for IPv6")
    #expect(prefixError("10.0.0.0/") == "10.0.0.0/: missing prefix length after '/'; e.g. 10.0.0.0/32")
    #expect(prefixError("10.0.0.0/x") == "10.0.0.0/x: prefix length \"x\" is not a number; use 0-32 for IPv4")
    #expect(
      prefixError("10.1.2.3/8")
        == "10.1.2.3/8: host bits are set; write 10.0.0.0/8 for the network or 10.1.2.3/32 for the one address"
    )
    #expect(
      prefixError("fd00::1/64")
        == "fd00::1/64: host bits are set; write fd00::/64 for the network or fd00::1/128 for the one address"
    )
    #expect(
      prefixError("256.1.1.1") == "256.1.1.1: 256 is more than 255; each part of an IPv4 address is 0-255")
    #expect(
      prefixError("10.0.0") == "10.0.0: an IPv4 address has 4 parts separated by '.', found 3; e.g. 10.1.2.3")
    #expect(prefixError("10..0.1") == "10..0.1: empty part between dots; e.g. 10.1.2.3")
    #expect(
      prefixError("010.1.1.1") == "010.1.1.1: leading zero in \"010\" (some tools read it as octal); write 10"
    )
    #expect(
      prefixError("0000.1.1.1")
        == "0000.1.1.1: leading zero in \"0000\" (some tools read it as octal); write 0")
    #expect(
      prefixError("1000.1.1.1") == "1000.1.1.1: 1000 is more than 255; each part of an IPv4 address is 0-255")
    #expect(prefixError("1::2::3") == "1::2::3: '::' may appear only once; write the other zero groups as 0")
    #expect(prefixError("fd00:::1") == "fd00:::1: ':::' is not allowed; '::' stands for zero groups")
    #expect(
      prefixError("12345::")
        == "12345::: group \"12345\" is more than 4 hex digits; each group is 1-4 hex digits (0-ffff)")
    #expect(
      prefixError("g::1") == "g::1: group \"g\" is not a hex number; each group is 1-4 hex digits (0-ffff)")
    #expect(
      prefixError("1:2:3") == "1:2:3: only 3 of 8 groups and no '::'; e.g. fd00::1 or fd00:0:0:0:0:0:0:1")
    #expect(
      prefixError("1:2:3:4:5:6:7::8")
        == "1:2:3:4:5:6:7::8: more than 8 groups; an IPv6 address has 8 groups of 16 bits")
    #expect(prefixError("fe80::1%eth0") == "fe80::1%eth0: zone index %eth0 is not allowed; write fe80::1")
    #expect(prefixError(":1::2") == ":1::2: starts with a single ':'; write '::' or a group first")
    #expect(prefixError("1::2:") == "1::2:: ends with a single ':'; write '::' or a group last")
    #expect(
      prefixError("")
        == "empty address; write a CIDR such as 10.0.0.0/8 or an address such as 10.1.2.3")
    #expect(
      prefixError("example.com")
        == "example.com: not an IP address; write an IPv4 address such as 10.1.2.3, an IPv6 address such as "
        + "fd00::1, or a CIDR such as 10.0.0.0/8")
  }

  @Test("contains: same family, at least as long, same leading bits")
  func contains() throws {
    let ten = try IPPrefix(parsing: "10.0.0.0/8")
    #expect(ten.contains(try IPPrefix(parsing: "10.1.2.3")))
    #expect(ten.contains(try IPPrefix(parsing: "10.96.0.0/12")))
    #expect(ten.contains(ten))
    #expect(!ten.contains(try IPPrefix(parsing: "11.0.0.1")))
    #expect(!ten.contains(try IPPrefix(parsing: "0.0.0.0/0")), "a shorter prefix is not inside")
    #expect(try IPPrefix(parsing: "0.0.0.0/0").contains(try IPPrefix(parsing: "192.0.2.1")))
    #expect(
      !(try IPPrefix(parsing: "0.0.0.0/0")).contains(try IPPrefix(parsing: "::1")), "not across families")
    #expect(!(try IPPrefix(parsing: "::/0")).contains(ten))
    let fd = try IPPrefix(parsing: "fd00:10::/64")
    #expect(fd.contains(try IPPrefix(parsing: "fd00:10::5")))
    #expect(!fd.contains(try IPPrefix(parsing: "fd00:11::5")))
    #expect(try IPPrefix(parsing: "10.0.0.0/7").contains(try IPPrefix(parsing: "11.255.0.0/16")))
  }

  @Test("prefixes and ports encode as their text")
  func codable() throws {
    let value = [try IPPrefix(parsing: "fd00::/64"), try IPPrefix(parsing: "10.1.2.3")]
    let data = try JSONEncoder().encode(value)
    #expect(String(decoding: data, as: UTF8.self) == #"["fd00::\/64","10.1.2.3\/32"]"#)
    #expect(try JSONDecoder().decode([IPPrefix].self, from: data) == value)
    let ports = try JSONEncoder().encode([PortRange(443, 443), PortRange(8000, 8080)])
    #expect(String(decoding: ports, as: UTF8.self) == #"["443","8000-8080"]"#)
    #expect(
      try JSONDecoder().decode([PortRange].self, from: ports) == [PortRange(443, 443), PortRange(8000, 8080)])
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode([IPPrefix].self, from: Data(#"["10.1.2.3/8"]"#.utf8))
    }
  }

  @Test("ports and ranges parse and print")
  func ports() throws {
    #expect(try PortRange(parsing: "443") == PortRange(443, 443))
    #expect(try PortRange(parsing: " 8000-8080 ") == PortRange(8000, 8080))
    #expect(try PortRange(parsing: "1-65535") == PortRange(1, 65535))
    #expect(try PortRange(parsing: "53-53").description == "53")
    #expect(PortRange(8000, 8080).description == "8000-8080")
    #expect(PortRange(1, 100).contains(PortRange(50, 100)))
    #expect(!PortRange(1, 100).contains(PortRange(50, 101)))
    #expect(portError("0") == "0: port 0 is not a port you can send to; ports are 1-65535")
    #expect(portError("70000") == "70000: 70000 is more than 65535, the highest port")
    #expect(portError("8080-8000") == "8080-8000: the range runs backwards; write 8000-8080")
    #expect(portError("http") == "http: not a port; write a port such as 443 or a range such as 8000-8080")
    #expect(portError("8000-") == "8000-: not a port; write a port such as 443 or a range such as 8000-8080")
    #expect(portError("") == "\"\": not a port; write a port such as 443 or a range such as 8000-8080")
    #expect(portError("-1") != nil)
    #expect(covers([PortRange(1, 100), PortRange(101, 200)], PortRange(50, 150)))
    #expect(!covers([PortRange(1, 100), PortRange(102, 200)], PortRange(50, 150)))
  }

  @Test("peers: CIDRs, addresses, host names with ports")
  func peers() throws {
    #expect(try TrafficPeer(parsing: "10.0.0.0/8") == .prefix(try IPPrefix(parsing: "10.0.0.0/8")))
    #expect(try TrafficPeer(parsing: "fd00:10::/64") == .prefix(try IPPrefix(parsing: "fd00:10::/64")))
    #expect(try TrafficPeer(parsing: "::1") == .prefix(try IPPrefix(parsing: "::1")))
    #expect(try TrafficPeer(parsing: "db.internal") == .host("db.internal", ports: []))
    #expect(
      try TrafficPeer(parsing: "DB.Internal.:5432") == .host("db.internal.", ports: [PortRange(5432, 5432)]))
    #expect(
      try TrafficPeer(parsing: "db:8000-8080,9000")
        == .host("db", ports: [PortRange(8000, 8080), PortRange(9000, 9000)]))
    #expect(try TrafficPeer(parsing: "db:8000-8080,9000").description == "db:8000-8080,9000")
    #expect(
      try TrafficPeer(parsing: "::ffff:10.1.2.3") == .prefix(try IPPrefix(parsing: "10.1.2.3")),
      "an IPv4-mapped address is the IPv4 address its packets go to")
    #expect(try TrafficPeer(parsing: "::ffff:10.0.0.0/104") == .prefix(try IPPrefix(parsing: "10.0.0.0/8")))
    #expect(
      TrafficPeer.pods(PodSelector(namespaces: ["shop"], labels: ["app": "db"])).description
        == "pods app=db in shop (all)")
  }

  @Test("bad peers say what to write instead")
  func badPeers() {
    #expect(
      peerError("10.0.0.1:5432")
        == "10.0.0.1:5432: a port may follow a host name only; give ports for addresses and CIDRs as the "
        + "selection's ports (traffic.ports, --port)")
    #expect(peerError("[fd00::1]:80")?.hasPrefix("[fd00::1]:80: a port may follow a host name only") == true)
    #expect(peerError("10.0.0.0/33") == "10.0.0.0/33: prefix length 33 is more than 32 for IPv4")
    #expect(
      peerError("10.0.0") == "10.0.0: an IPv4 address has 4 parts separated by '.', found 3; e.g. 10.1.2.3")
    #expect(peerError("db:") == "db:: no port after ':'; write e.g. db:5432 or leave out the ':'")
    #expect(peerError("db:0") == "db:0: port 0 is not a port you can send to; ports are 1-65535")
    #expect(
      peerError("db:80,x") == "db:80,x: not a port; write a port such as 443 or a range such as 8000-8080")
    #expect(
      peerError("db_1.internal")
        == "db_1.internal: '_' is not allowed in a host name; host names are labels of letters, digits and '-' "
        + "separated by dots, e.g. db.internal")
    #expect(peerError("-db.internal")?.contains("label \"-db\" starts or ends with '-'") == true)
    #expect(peerError("db..internal")?.contains("empty label between dots") == true)
    #expect(peerError(String(repeating: "a", count: 64))?.contains("longer than 63 characters") == true)
    #expect(peerError("db.123")?.contains("the last label \"123\" is all digits") == true)
    #expect(peerError("[fd00::1") == "[fd00::1: '[' without ']'; write [fd00::1]:5432 or fd00::1")
    #expect(peerError("[db]:80") == "[db]:80: brackets are for IPv6 addresses; write db:80")
    #expect(peerError("")?.hasPrefix("empty peer;") == true)
  }
}
