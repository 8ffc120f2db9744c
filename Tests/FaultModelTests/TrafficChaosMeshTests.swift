import Foundation
import Testing

@testable import FaultModel

/// A NetworkChaos manifest (spec fields from line 7) in namespace `shop`, with `spec` lines indented by 2.
private func manifest(_ spec: String) -> String {
  "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata:\n  name: nc\n  namespace: shop\nspec:\n"
    + spec.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  \($0)" }
    .joined(separator: "\n")
}

/// Spec lines selecting pods app=web with a 10ms delay, followed by `rest` (which starts on line 11).
private func webDelay(_ rest: String) -> String {
  manifest(
    "action: delay\nmode: all\nselector: {labelSelectors: {app: web}}\ndelay: {latency: 10ms}\n" + rest)
}

@Suite("Traffic: Chaos Mesh manifests")
struct TrafficChaosMeshTests {
  @Test("direction to, from and both with a target map to egress, ingress and both with its pods")
  func directions() throws {
    let target = "target:\n  mode: fixed\n  value: '2'\n  selector: {labelSelectors: {app: db}}\n"
    let pods = TrafficPeer.pods(PodSelector(namespaces: ["shop"], labels: ["app": "db"], mode: .fixed(2)))
    let to = try loadProfile(webDelay(target))
    #expect(to.traffic == TrafficSelector(direction: .egress, peers: [pods]))
    #expect(to.pods == PodSelector(namespaces: ["shop"], labels: ["app": "web"]))
    #expect(try loadProfile(webDelay("direction: to\n" + target)).traffic?.direction == .egress)
    #expect(
      try loadProfile(webDelay("direction: from\n" + target)).traffic
        == TrafficSelector(direction: .ingress, peers: [pods]))
    let both = try loadProfile(webDelay("direction: both\n" + target))
    #expect(both.traffic == TrafficSelector(direction: .both, peers: [pods]))
    #expect(both.traffic?.summary == "egress to and ingress from pods app=db in shop (fixed:2)")
    let other = try loadProfile(
      webDelay("target:\n  mode: all\n  selector: {namespaces: [db, cache], labelSelectors: {tier: data}}\n"))
    #expect(
      other.traffic?.peers == [.pods(PodSelector(namespaces: ["db", "cache"], labels: ["tier": "data"]))])
  }

  @Test("externalTargets become address, CIDR and host peers; IPv6 is kept")
  func externalTargets() throws {
    let profile = try loadProfile(
      webDelay("externalTargets: [10.0.0.0/8, 192.0.2.1, db.internal, 'fd00::1', 'api.example.com:443']\n"))
    #expect(
      profile.traffic
        == TrafficSelector(peers: [
          .prefix(ipPrefix("10.0.0.0/8")), .prefix(ipPrefix("192.0.2.1")), .host("db.internal", ports: []),
          .prefix(ipPrefix("fd00::1")), .host("api.example.com", ports: [PortRange(443, 443)]),
        ]))
    let both = try loadProfile(
      webDelay(
        "direction: both\nexternalTargets: [example.com]\ntarget: {mode: all, selector: {namespaces: [db]}}\n"
      ))
    #expect(
      both.traffic
        == TrafficSelector(
          direction: .both, peers: [.pods(PodSelector(namespaces: ["db"])), .host("example.com", ports: [])]))
  }

  @Test("ports after targets are TCP, as Chaos Mesh's ipset matches them, and kept when they fit")
  func externalTargetPorts() throws {
    let same = try loadProfile(webDelay("externalTargets: ['10.0.0.1:80', '10.0.0.2:80', '[fd00::1]:80']\n"))
    #expect(
      same.traffic
        == TrafficSelector(
          peers: [
            .prefix(ipPrefix("10.0.0.1")), .prefix(ipPrefix("10.0.0.2")), .prefix(ipPrefix("fd00::1")),
          ],
          ports: [PortRange(80, 80)], transport: .tcp))
    let hosts = try loadProfile(webDelay("externalTargets: ['db:5432', 'cache:6379']\n"))
    #expect(hosts.traffic?.transport == .tcp)
    #expect(hosts.traffic?.summary == "egress to db:5432, cache:6379 tcp")
    let mixed = try loadProfile(webDelay("externalTargets: ['db:5432', example.com]\n"))
    #expect(mixed.traffic?.transport == .any, "example.com has every port, of every protocol")
    #expect(
      profileIssues(webDelay("externalTargets: ['10.0.0.1:80', '10.0.0.2:81']\n"))
        == [
          "p.yaml:11:36: spec.externalTargets: this port differs from the one on 10.0.0.1:80: a port after an "
            + "address is kept only when every address in externalTargets has the same port; give them the "
            + "same port, or remove the ports to fault every port"
        ])
    #expect(
      profileIssues(webDelay("externalTargets: ['10.0.0.1:80', 10.0.0.2]\n"))
        == [
          "p.yaml:11:21: spec.externalTargets: a port after an address is kept only when every address in "
            + "externalTargets has it and there are no addresses without a port; give every address the port, or "
            + "remove the port to fault every port"
        ])
  }

  @Test("what cannot be honoured is reported with what to write instead")
  func errors() {
    #expect(
      profileIssues(
        webDelay("direction: sideways\nexternalTargets: ['10.0.0.0/33', 'db_1']\ntargetDevice: eth1\n"))
        == [
          "p.yaml:11:14: spec.direction: invalid direction \"sideways\": use to, from or both",
          "p.yaml:12:21: spec.externalTargets: 10.0.0.0/33: prefix length 33 is more than 32 for IPv4",
          "p.yaml:12:36: spec.externalTargets: db_1: '_' is not allowed in a host name; host names are labels of "
            + "letters, digits and '-' separated by dots, e.g. db.internal",
          "p.yaml:13:17: spec.targetDevice: targetDevice eth1 is not supported: faultline never touches the target "
            + "pods; it shapes the selected pods' eth0 (ingress from the targets for direction from) and finds the "
            + "targets by their pod IPs; remove targetDevice or set it to eth0",
        ])
    #expect(
      profileIssues(webDelay("direction: from\n"))
        == [
          "p.yaml:11:14: spec.direction: direction from needs a target or externalTargets (the peers whose "
            + "traffic with the selected pods is faulted), as in Chaos Mesh; to fault all incoming traffic use a "
            + "native profile with traffic: {direction: ingress}"
        ])
    #expect(
      profileIssues(webDelay("target: {selector: {namespaces: [db]}}\n"))
        == ["p.yaml:11:11: spec.target.mode: required: one, all, fixed or fixed-percent"])
    #expect(
      profileIssues(webDelay("target: {mode: all, selector: {pods: {db: [db-0]}}}\n"))
        == [
          "p.yaml:11:34: spec.target.selector.pods: not supported: faultline selects pods by namespaces and "
            + "labelSelectors only; remove pods"
        ])
  }

  @Test("direction to without targets, and targetDevice eth0, leave the whole interface as before")
  func wholeInterface() throws {
    #expect(try loadProfile(webDelay("direction: to\n")).traffic == nil)
    let withDevice = try loadProfile(
      webDelay("direction: from\ntargetDevice: eth0\ntarget: {mode: one, selector: {namespaces: [db]}}\n"))
    #expect(withDevice.traffic?.direction == .ingress)
  }

  @Test("a Schedule's networkChaos carries its traffic selection")
  func schedule() throws {
    let profile = try loadProfile(
      """
      apiVersion: chaos-mesh.org/v1alpha1
      kind: Schedule
      metadata: {name: s}
      spec:
        schedule: "*/10 * * * *"
        type: NetworkChaos
        networkChaos:
          action: loss
          mode: all
          selector: {namespaces: [shop]}
          loss: {loss: '10'}
          duration: 1m
          direction: from
          externalTargets: [10.1.0.0/16]
      """)
    #expect(
      profile.traffic == TrafficSelector(direction: .ingress, peers: [.prefix(ipPrefix("10.1.0.0/16"))]))
    #expect(
      profileIssues(
        """
        apiVersion: chaos-mesh.org/v1alpha1
        kind: Schedule
        metadata: {name: s}
        spec:
          schedule: "*/10 * * * *"
          type: NetworkChaos
          networkChaos:
            action: loss
            mode: all
            selector: {namespaces: [shop]}
            loss: {loss: '10'}
            duration: 1m
            direction: both
        """)
        == [
          "p.yaml:13:16: spec.networkChaos.direction: direction both needs a target or externalTargets (the peers "
            + "whose traffic with the selected pods is faulted), as in Chaos Mesh; to fault all incoming traffic "
            + "use a native profile with traffic: {direction: ingress}"
        ])
  }
}
