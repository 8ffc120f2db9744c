import Foundation
import Testing

@testable import FaultModel

@Suite("Traffic: faultline inject flags")
struct TrafficFlagsTests {
  /// The flag error for `flags`, or nil when they parse.
  private func flagError(_ flags: TrafficFlags) -> String? {
    do throws(TrafficFlagError) {
      _ = try TrafficSelector(flags: flags)
      return nil
    } catch {
      return error.description
    }
  }

  @Test("no traffic flag: no selection, the whole interface as before")
  func none() throws {
    #expect(try TrafficSelector(flags: TrafficFlags()) == nil)
  }

  @Test("the flags build the selector they name")
  func flags() throws {
    let selector = try TrafficSelector(
      flags: TrafficFlags(
        to: ["10.0.0.0/8", "db.internal:5432", "fd00::/64"], direction: "both", ports: ["443", "8000-8080"],
        transport: "tcp", exclude: ["10.96.0.10"], excludePorts: ["53"]))
    #expect(
      selector
        == TrafficSelector(
          direction: .both,
          peers: [
            .prefix(ipPrefix("10.0.0.0/8")), .host("db.internal", ports: [PortRange(5432, 5432)]),
            .prefix(ipPrefix("fd00::/64")),
          ],
          ports: [PortRange(443, 443), PortRange(8000, 8080)], transport: .tcp,
          excludedPeers: [ipPrefix("10.96.0.10")], excludedPorts: [PortRange(53, 53)]))
    #expect(
      selector?.summary
        == "egress to and ingress from 10.0.0.0/8, db.internal:5432, fd00::/64 tcp/443,8000-8080 except "
        + "10.96.0.10/32, port 53")
    #expect(try TrafficSelector(flags: TrafficFlags(transport: "udp")) == TrafficSelector(transport: .udp))
    #expect(
      try TrafficSelector(flags: TrafficFlags(excludePorts: ["22", "53"]))?.summary
        == "egress to any peer except ports 22,53")
  }

  @Test("each bad flag is named with what to write instead")
  func errors() {
    #expect(
      flagError(TrafficFlags(to: ["10.0.0.0/33"]))
        == "--to: 10.0.0.0/33: prefix length 33 is more than 32 for IPv4")
    #expect(
      flagError(TrafficFlags(direction: "from"))
        == "--direction: \"from\" is Chaos Mesh's word for packets received from the peers; write ingress")
    #expect(
      flagError(TrafficFlags(direction: "egres"))
        == "--direction: \"egres\" is not one of egress, ingress, both; did you mean egress?")
    #expect(
      flagError(TrafficFlags(ports: ["70000"])) == "--port: 70000: 70000 is more than 65535, the highest port"
    )
    #expect(
      flagError(TrafficFlags(transport: "gre")) == "--protocol: \"gre\" is not one of any, tcp, udp, icmp")
    #expect(
      flagError(TrafficFlags(exclude: ["db.internal"]))
        == "--exclude: db.internal: only CIDRs and addresses can be excluded, not host names; write the address "
        + "(e.g. 10.96.0.10) or a CIDR")
    #expect(
      flagError(TrafficFlags(excludePorts: ["53-1"]))
        == "--exclude-port: 53-1: the range runs backwards; write 1-53")
    #expect(
      flagError(TrafficFlags(ports: ["443"], transport: "icmp"))
        == "--port: ports do not apply to protocol icmp: ICMP has no ports; remove them, or use protocol tcp, udp "
        + "or any")
    #expect(
      flagError(TrafficFlags(to: ["10.1.2.3"], exclude: ["10.0.0.0/8"]))
        == "--to: 10.1.2.3/32 lies inside the excluded 10.0.0.0/8, so it would never be faulted; remove one of "
        + "them or narrow the exclusion")
  }
}
