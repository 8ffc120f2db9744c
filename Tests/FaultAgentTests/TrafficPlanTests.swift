import FaultAgent
import FaultModel
import NetemKernel
import Testing

@Suite struct TrafficPlanTests {
  func prefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }

  @Test func noSelectionAndNothingProtectedIsTheWholeInterfacesEgress() {
    #expect(TrafficPlan.shaping(nil, resolved: [], protected: []) == .wholeEgress)
  }

  @Test func aWholeInterfaceFaultSparesTheProtectedNodeAddress() throws {
    let shaping = try #require(TrafficPlan.shaping(nil, resolved: [], protected: [prefix("192.168.1.10")]))
    let shape = try #require(shaping.egress?.shape)
    #expect(shape.faulted.map(\.prefix.description).sorted() == ["0.0.0.0/0", "::/0"])
    #expect(shape.excluded == [FlowMatch(prefix: prefix("192.168.1.10/32"))])
    #expect(shaping.ingress == nil)
  }

  @Test func portsWithAnyProtocolMeanTCPAndUDP() throws {
    let selector = TrafficSelector(peers: [.prefix(prefix("10.0.0.0/8"))], ports: [PortRange(5432, 5432)])
    let shaping = try #require(
      TrafficPlan.shaping(selector, resolved: [ResolvedPeer(prefix: prefix("10.0.0.0/8"))], protected: []))
    let shape = try #require(shaping.egress?.shape)
    #expect(
      Set(shape.faulted)
        == [
          FlowMatch(prefix: prefix("10.0.0.0/8"), ipProtocol: .tcp, ports: PortSpan(5432, 5432)),
          FlowMatch(prefix: prefix("10.0.0.0/8"), ipProtocol: .udp, ports: PortSpan(5432, 5432)),
        ])
    #expect(shape.side == .destination)
  }

  @Test func aHostsOwnPortsWinOverTheSelections() throws {
    let selector = TrafficSelector(
      peers: [.host("db.internal", ports: [PortRange(5432, 5432)])], ports: [PortRange(80, 80)],
      transport: .tcp)
    let peers = [ResolvedPeer(prefix: prefix("10.0.0.5"), ports: [PortRange(5432, 5432)])]
    let shape = try #require(TrafficPlan.shaping(selector, resolved: peers, protected: [])?.egress?.shape)
    #expect(
      shape.faulted == [
        FlowMatch(prefix: prefix("10.0.0.5/32"), ipProtocol: .tcp, ports: PortSpan(5432, 5432))
      ])
  }

  @Test func bothDirectionsMatchDestinationsOnEgressAndSourcesOnIngress() throws {
    let selector = TrafficSelector(direction: .both, peers: [.prefix(prefix("fd00::/64"))])
    let shaping = try #require(
      TrafficPlan.shaping(selector, resolved: [ResolvedPeer(prefix: prefix("fd00::/64"))], protected: []))
    #expect(shaping.egress?.shape?.side == .destination)
    #expect(shaping.ingress?.shape?.side == .source)
    #expect(shaping.ingress?.shape?.faulted == [FlowMatch(prefix: prefix("fd00::/64"))])
  }

  @Test func ingressOfEverythingIsAWholeNetemOnTheIFB() {
    let shaping = TrafficPlan.shaping(TrafficSelector(direction: .ingress), resolved: [], protected: [])
    #expect(shaping == TrafficShaping(egress: nil, ingress: .whole))
  }

  @Test func excludedPortsAreExcludedForBothFamiliesAndProtocols() throws {
    let selector = TrafficSelector(excludedPorts: [PortRange(53, 53)])
    let shape = try #require(TrafficPlan.shaping(selector, resolved: [], protected: [])?.egress?.shape)
    #expect(shape.excluded.count == 4)
    #expect(shape.faulted.count == 2, "no peers: every address of both families")
  }

  @Test func peersThatResolvedToNothingShapeNothing() {
    let selector = TrafficSelector(peers: [.host("gone.example", ports: [])])
    #expect(TrafficPlan.shaping(selector, resolved: [], protected: []) == nil)
  }
}
