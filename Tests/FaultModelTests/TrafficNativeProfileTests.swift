import Foundation
import Testing

@testable import FaultModel

@Suite("Traffic: native profiles")
struct TrafficNativeProfileTests {
  @Test("the documented traffic block parses to the selector it describes")
  func documentedExample() throws {
    let profile = try loadProfile(
      """
      name: db-latency
      traffic:
        direction: egress            # egress | ingress | both
        peers:
          - 10.0.0.0/8
          - fd00:10::/64
          - db.internal:5432         # hostname (re-resolved while the window is open)
          - pods: {namespace: shop, labels: {app: db}}
        ports: [443, 8000-8080]
        protocol: tcp                # tcp | udp | icmp | any
        exclude:
          peers: [10.96.0.10/32]
          ports: [53]
        protectNode: true
      netem: {delay: 100ms}
      """)
    let expected = TrafficSelector(
      direction: .egress,
      peers: [
        .prefix(ipPrefix("10.0.0.0/8")), .prefix(ipPrefix("fd00:10::/64")),
        .host("db.internal", ports: [PortRange(5432, 5432)]),
        .pods(PodSelector(namespaces: ["shop"], labels: ["app": "db"])),
      ],
      ports: [PortRange(443, 443), PortRange(8000, 8080)], transport: .tcp,
      excludedPeers: [ipPrefix("10.96.0.10")], excludedPorts: [PortRange(53, 53)], protectNode: true)
    #expect(profile.traffic == expected)
    #expect(
      profile.traffic?.summary
        == "egress to 10.0.0.0/8, fd00:10::/64, db.internal:5432, pods app=db in shop (all) tcp/443,8000-8080 "
        + "except 10.96.0.10/32, port 53")
  }

  @Test("without traffic the fault applies to the whole interface; defaults fill what is left out")
  func defaults() throws {
    #expect(try loadProfile("name: p\nnetem: {delay: 10ms}\n").traffic == nil)
    let ports = try loadProfile("name: p\ntraffic: {ports: 443}\nnetem: {delay: 10ms}\n").traffic
    #expect(ports == TrafficSelector(ports: [PortRange(443, 443)]))
    #expect(ports?.summary == "egress to any peer tcp+udp/443")
    let ingress = try loadProfile(
      "name: p\ntraffic: {direction: ingress, peers: 'fd00::1', protectNode: false}\nnetem: {loss: 1}\n"
    ).traffic
    #expect(
      ingress
        == TrafficSelector(direction: .ingress, peers: [.prefix(ipPrefix("fd00::1"))], protectNode: false))
    #expect(ingress?.summary == "ingress from fd00::1/128 (node IP not protected)")
    let both = try loadProfile(
      "name: p\ntraffic: {direction: both, protocol: ICMP, peers: [db]}\nnetem: {loss: 1}\n"
    ).traffic
    #expect(both?.summary == "egress to and ingress from db icmp")
  }

  @Test("every malformed field is reported at its line and column with what to write instead")
  func fieldErrors() {
    #expect(
      profileIssues(
        """
        name: x
        traffic:
          direction: to
          peers:
            - 10.0.0.0/33
            - 10.0.0.1:80
            - db_x.internal
            - {pods: {labels: {app: db}}}
            - {host: db}
          ports: [0, 8080-80, http]
          protocol: icmpv6
          exclude:
            peers: [db.internal, '10.0.0.0/8:53']
            ports: []
            prot: x
          protectNode: maybe
          colour: red
        netem: {delay: 10ms}
        """)
        == [
          "p.yaml:3:14: traffic.direction: \"to\" is Chaos Mesh's word for packets sent to the peers; write egress",
          "p.yaml:5:7: traffic.peers: 10.0.0.0/33: prefix length 33 is more than 32 for IPv4",
          "p.yaml:6:7: traffic.peers: 10.0.0.1:80: a port may follow a host name only; give ports for addresses "
            + "and CIDRs as the selection's ports (traffic.ports, --port)",
          "p.yaml:7:7: traffic.peers: db_x.internal: '_' is not allowed in a host name; host names are labels of "
            + "letters, digits and '-' separated by dots, e.g. db.internal",
          "p.yaml:8:14: traffic.peers.pods.namespace: required: the Kubernetes namespace of the pods",
          "p.yaml:9:7: traffic.peers.pods: required in a peer written as a mapping: pods: {namespace: …, "
            + "labels: {…}}",
          "p.yaml:9:8: traffic.peers.host: unknown field \"host\"",
          "p.yaml:10:11: traffic.ports: 0: port 0 is not a port you can send to; ports are 1-65535",
          "p.yaml:10:14: traffic.ports: 8080-80: the range runs backwards; write 80-8080",
          "p.yaml:10:23: traffic.ports: http: not a port; write a port such as 443 or a range such as 8000-8080",
          "p.yaml:11:13: traffic.protocol: \"icmpv6\" is covered by icmp, which means ICMPv6 for IPv6 peers; "
            + "write icmp",
          "p.yaml:13:13: traffic.exclude.peers: db.internal: only CIDRs and addresses can be excluded, not host "
            + "names; write the address (e.g. 10.96.0.10) or a CIDR",
          "p.yaml:13:26: traffic.exclude.peers: 10.0.0.0/8:53: an excluded peer takes no port; exclude ports "
            + "separately (exclude.ports, --exclude-port)",
          "p.yaml:14:12: traffic.exclude.ports: empty; list ports never to fault, such as 53, or remove it",
          "p.yaml:15:5: traffic.exclude.prot: unknown field \"prot\"",
          "p.yaml:16:16: traffic.protectNode: expected true or false, found \"maybe\" (true keeps the node's own "
            + "IP, which kubelet probes come from, out of the fault)",
          "p.yaml:17:3: traffic.colour: unknown field \"colour\"",
        ])
  }

  @Test("empty blocks and lists written out are reported")
  func emptyLists() {
    #expect(
      profileIssues("name: x\ntraffic: {}\nnetem: {delay: 10ms}\n")
        == [
          "p.yaml:2:1: traffic: empty; give peers, ports, protocol or direction, or leave traffic out to fault all "
            + "egress of the interface"
        ])
    #expect(
      profileIssues("name: x\ntraffic:\n  peers: []\n  exclude:\nnetem: {delay: 10ms}\n")
        == [
          "p.yaml:3:10: traffic.peers: empty; list at least one peer (a CIDR, an address, a host name or pods: "
            + "{…}), or leave peers out to select every peer",
          "p.yaml:4:3: traffic.exclude: empty; give peers (CIDRs, addresses) or ports never to fault, or remove "
            + "exclude",
        ])
    #expect(
      profileIssues("name: x\ntraffic:\n  ports:\nnetem: {delay: 10ms}\n")
        == [
          "p.yaml:3:9: traffic.ports: has no value; list ports such as 443 or 8000-8080, or leave ports out to "
            + "select every port"
        ])
  }

  @Test("combinations that select nothing point at the part to change")
  func combinations() {
    #expect(
      profileIssues(
        """
        name: x
        traffic:
          peers: [10.1.0.0/16, 192.168.1.1, 'db:5432']
          ports: [443]
          protocol: icmp
          exclude:
            peers: [10.0.0.0/8]
            ports: [53]
        netem: {delay: 10ms}
        """)
        == [
          "p.yaml:3:11: traffic.peers: 10.1.0.0/16 lies inside the excluded 10.0.0.0/8, so it would never be "
            + "faulted; remove one of them or narrow the exclusion",
          "p.yaml:3:37: traffic.peers: db:5432: ports do not apply to protocol icmp: ICMP has no ports; remove "
            + "them, or use protocol tcp, udp or any (write db)",
          "p.yaml:4:3: traffic.ports: ports do not apply to protocol icmp: ICMP has no ports; remove them, or use "
            + "protocol tcp, udp or any",
          "p.yaml:8:5: traffic.exclude.ports: excluded ports do not apply to protocol icmp: ICMP has no ports; "
            + "remove them, or use protocol tcp, udp or any",
        ])
    #expect(
      profileIssues(
        """
        name: x
        traffic:
          peers: ['db:53']
          ports: [443, 50-60]
          exclude: {ports: [1-100], peers: [0.0.0.0/0]}
        netem: {delay: 10ms}
        """)
        == [
          "p.yaml:3:11: traffic.peers: db:53: port 53 is excluded too (exclude ports 1-100), so this host would "
            + "never be faulted; remove the port or the exclusion",
          "p.yaml:4:16: traffic.ports: port 50-60 is excluded too (exclude ports 1-100), so it would never be "
            + "faulted; remove it or the exclusion",
        ])
    #expect(
      profileIssues("name: x\ntraffic: {exclude: {peers: ['0.0.0.0/0', '::/0']}}\nnetem: {delay: 10ms}\n")
        == [
          "p.yaml:2:42: traffic.exclude.peers: 0.0.0.0/0 and ::/0 together exclude every address, so nothing "
            + "would be faulted; list the addresses to spare instead"
        ])
    #expect(
      profileIssues("name: x\ntraffic: {protocol: udp, exclude: {ports: [1-65535]}}\nnetem: {delay: 10ms}\n")
        == [
          "p.yaml:2:36: traffic.exclude.ports: the excluded ports cover 1-65535, so no udp packet would be "
            + "faulted; list the ports to spare instead"
        ])
  }
}
