import Foundation
import Testing

@testable import FaultModel

/// A NetworkChaos manifest with `spec` lines (indented by 2) after a fixed header (spec starts on line 6).
private func networkChaos(_ spec: String, name: String = "nc") -> String {
  "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata:\n  name: \(name)\nspec:\n"
    + spec.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  \($0)" }
    .joined(separator: "\n")
}

/// A spec selecting all pods labelled app=web in default, followed by `rest`.
private func selecting(_ rest: String) -> String {
  "mode: all\nselector:\n  namespaces: [default]\n  labelSelectors: {app: web}\n" + rest
}

@Suite("Profiles: Chaos Mesh manifests")
struct ProfileChaosMeshTests {
  @Test("the NetworkChaos from the user's blog post parses unchanged")
  func blogPostExample() throws {
    let profile = try loadProfile(
      """
      # network-delay-experiment.yaml
      apiVersion: chaos-mesh.org/v1alpha1
      kind: NetworkChaos
      metadata:
        name: payment-service-latency
        namespace: default
      spec:
        action: delay
        mode: all
        selector:
          namespaces:
            - default
          labelSelectors:
            app: payment-service
        delay:
          latency: "500ms"
          jitter: "100ms"
          correlation: "50"
        duration: "5m"
        scheduler:
          cron: "@every 10m"
      """)
    var fault = NetemFault()
    fault.delay = .milliseconds(500)
    fault.jitter = .milliseconds(100)
    fault.delayCorrelation = 50
    #expect(profile.fault == fault)
    #expect(profile.name == "payment-service-latency")
    #expect(profile.schedule == (try Schedule(parsing: "@every 10m")))
    #expect(profile.duration == .seconds(300))
    #expect(profile.timeZone == TimeZone(identifier: "UTC"))
    #expect(profile.target == FaultTarget(interface: "eth0", namespace: .current))
    #expect(
      profile.pods == PodSelector(namespaces: ["default"], labels: ["app": "payment-service"], mode: .all))
    #expect(profile.source.format == .chaosMesh)
    #expect(profile.source.line == 2)
    #expect(profile.source.nameLocation == FieldLocation(fieldPath: "metadata.name", line: 5, column: 3))
  }

  @Test("each action maps to the netem fields it names")
  func actions() throws {
    func fault(_ rest: String) throws -> NetemFault { try loadProfile(networkChaos(selecting(rest))).fault }

    var expected = NetemFault()
    expected.loss = 25
    expected.lossCorrelation = 10
    #expect(try fault("action: loss\nloss: {loss: '25', correlation: '10'}\n") == expected)

    expected = NetemFault()
    expected.duplicate = 5
    #expect(try fault("action: duplicate\nduplicate: {duplicate: '5'}\n") == expected)

    expected = NetemFault()
    expected.corrupt = 1.5
    expected.corruptCorrelation = 20
    #expect(try fault("action: corrupt\ncorrupt: {corrupt: '1.5', correlation: '20'}\n") == expected)

    expected = NetemFault()
    expected.delay = .milliseconds(10)
    expected.reorder = 10
    expected.reorderCorrelation = 50
    expected.gap = 5
    #expect(
      try fault(
        "action: delay\ndelay: {latency: 10ms, reorder: {reorder: '10', correlation: '50', gap: 5}}\n")
        == expected)
    expected.gap = 1  // Chaos Mesh's gap 0 is tc's default of 1
    expected.reorderCorrelation = 0
    #expect(
      try fault("action: delay\ndelay: {latency: 10ms, reorder: {reorder: '10', gap: 0}}\n") == expected)
  }

  @Test("action netem combines delay, loss, duplicate and corrupt")
  func netemAction() throws {
    let profile = try loadProfile(
      networkChaos(
        selecting(
          """
          action: netem
          device: eth1
          delay: {latency: 10ms, jitter: 1ms, correlation: '25'}
          loss: {loss: '1'}
          duplicate: {duplicate: '2'}
          corrupt: {corrupt: '3'}
          """)))
    var expected = NetemFault()
    expected.delay = .milliseconds(10)
    expected.jitter = .milliseconds(1)
    expected.delayCorrelation = 25
    expected.loss = 1
    expected.duplicate = 2
    expected.corrupt = 3
    #expect(profile.fault == expected)
    #expect(profile.target.interface == "eth1")
    #expect(profile.duration == nil)
    #expect(profile.schedule == nil)
  }

  @Test("bandwidth: Chaos Mesh rates in binary bytes per second, limit in bytes to packets")
  func bandwidth() throws {
    let profile = try loadProfile(
      networkChaos(selecting("action: bandwidth\nbandwidth: {rate: 1mbps, limit: 20971520, buffer: 10000}\n"))
    )
    #expect(profile.fault.rate == RateLimit(rate: Bandwidth(bitsPerSecond: 8 * 1024 * 1024)))
    #expect(profile.fault.limit == 13_982)  // ⌈20971520 / 1500⌉
    #expect(ChaosMeshProfileParser.chaosMeshRateBytes("100kbps") == 102_400)
    #expect(ChaosMeshProfileParser.chaosMeshRateBytes("2 GBps") == 2 * 1024 * 1024 * 1024)
    #expect(ChaosMeshProfileParser.chaosMeshRateBytes("500bps") == 500)
    #expect(ChaosMeshProfileParser.chaosMeshRateBytes("1.5mbps") == nil)
    #expect(ChaosMeshProfileParser.chaosMeshRateBytes("1mbit") == nil)
    let zeroPeak = try loadProfile(
      networkChaos(
        selecting("action: bandwidth\nbandwidth: {rate: 1kbps, limit: 1, buffer: 1, peakrate: 0}\n")))
    #expect(zeroPeak.fault.limit == 1)
  }

  @Test("modes and the object's namespace as the default selector namespace")
  func modesAndNamespaces() throws {
    let fixed = try loadProfile(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: f, namespace: shop}\n"
        + "spec: {action: loss, loss: {loss: '5'}, mode: fixed, value: '2', selector: {labelSelectors: {app: a}}}\n"
    )
    #expect(fixed.pods == PodSelector(namespaces: ["shop"], labels: ["app": "a"], mode: .fixed(2)))
    let percent = try loadProfile(
      networkChaos("action: loss\nloss: {loss: '5'}\nmode: fixed-percent\nvalue: '30'\nselector: {}\n"))
    #expect(percent.pods == PodSelector(namespaces: ["default"], labels: [:], mode: .percent(30)))
    let one = try loadProfile(
      networkChaos("action: loss\nloss: {loss: '5'}\nmode: one\nselector: {namespaces: [a, b]}\n"))
    #expect(one.pods == PodSelector(namespaces: ["a", "b"], labels: [:], mode: .one))
  }

  @Test("a Schedule of type NetworkChaos parses with its cron schedule")
  func scheduleKind() throws {
    let profile = try loadProfile(
      """
      apiVersion: chaos-mesh.org/v1alpha1
      kind: Schedule
      metadata:
        name: schedule-delay-example
      spec:
        schedule: "CRON_TZ=Asia/Tokyo 5 * * * *"
        historyLimit: 2
        concurrencyPolicy: Allow
        type: NetworkChaos
        networkChaos:
          action: delay
          mode: one
          selector:
            namespaces: [default]
            labelSelectors:
              app: web-show
          delay:
            latency: 10ms
          duration: 12s
      """)
    #expect(profile.name == "schedule-delay-example")
    #expect(profile.schedule?.description == "5 * * * *")
    #expect(profile.timeZone.identifier == "Asia/Tokyo")
    #expect(profile.duration == .seconds(12))
    #expect(profile.fault.delay == .milliseconds(10))
    #expect(profile.pods?.mode == .one)
    #expect(
      profile.source.targetLocation
        == FieldLocation(fieldPath: "spec.networkChaos.selector", line: 13, column: 5))
  }

  @Test("what faultline cannot honour is named, never ignored")
  func rejected() {
    #expect(
      profileIssues(
        networkChaos(
          """
          action: partition
          mode: random-max-percent
          value: '50'
          direction: both
          selector:
            namespaces: [default]
            pods: {default: [web-0]}
          target:
            mode: all
            selector: {namespaces: [other]}
          externalTargets: [example.com]
          remoteCluster: other
          """))
        == [
          "p.yaml:6:11: spec.action: action partition is not supported: it blocks traffic between pods with "
            + "iptables, which netem cannot do (loss: \"100\" drops all egress instead)",
          "p.yaml:7:9: spec.mode: mode random-max-percent is not supported: use fixed-percent (faultline picks an "
            + "exact share)",
          "p.yaml:12:5: spec.selector.pods: not supported: faultline selects pods by namespaces and labelSelectors "
            + "only; remove pods",
          "p.yaml:17:3: spec.remoteCluster: not supported: faultline injects in the cluster it runs in; remove it",
        ])
  }

  @Test("other kinds and API versions are rejected by name")
  func otherKinds() {
    #expect(
      profileIssues(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: p}\nspec: {action: pod-kill}\n"
      )
        == [
          "p.yaml:2:7: kind: kind PodChaos is not supported: faultline runs NetworkChaos (also inside a Schedule "
            + "of type NetworkChaos) with netem"
        ])
    #expect(
      profileIssues("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\ndata: {}\n")
        == [
          "p.yaml:1:13: apiVersion: unsupported apiVersion \"v1\": faultline reads chaos-mesh.org/v1alpha1 "
            + "NetworkChaos and Schedule manifests and its own profile format (name, netem, …)",
          "p.yaml:4:1: data: unknown field \"data\"",
        ])
    #expect(
      profileIssues(
        """
        apiVersion: chaos-mesh.org/v1alpha1
        kind: Schedule
        metadata: {name: s}
        spec:
          schedule: '@hourly'
          startingDeadlineSeconds: 60
          type: PodChaos
          podChaos: {action: pod-kill}
        """)
        == [
          "p.yaml:5:3: spec.networkChaos: required: the NetworkChaos spec to run on each fire",
          "p.yaml:6:3: spec.startingDeadlineSeconds: not supported: faultline starts each run at its fire time; "
            + "remove it",
          "p.yaml:7:9: spec.type: type PodChaos is not supported: faultline runs only NetworkChaos",
          "p.yaml:8:3: spec.podChaos: only networkChaos is supported: faultline injects network faults with netem",
        ])
  }

  @Test("specs the action does not use, bad values and missing fields are reported")
  func specProblems() {
    #expect(
      profileIssues(
        networkChaos(
          selecting(
            """
            action: delay
            delay: {latency: 10, jitter: 5ms, correlation: '150'}
            loss: {loss: '5'}
            duration: 5
            """)))
        == [
          "p.yaml:11:20: spec.delay.latency: invalid delay \"10\": \"10\" has no unit; use e.g. 10s, 10m, 1h",
          "p.yaml:11:50: spec.delay.correlation: invalid correlation \"150\": \"150\" is outside 0–100%",
          "p.yaml:12:3: spec.loss: not used by action delay (Chaos Mesh ignores it); use action netem to combine "
            + "delay, loss, duplicate and corrupt",
          "p.yaml:13:13: spec.duration: invalid duration: \"5\" has no unit; use e.g. 10s, 10m, 1h",
        ])
    #expect(
      profileIssues(networkChaos(selecting("action: delay\ndelay: {latency: 0ms, jitter: 5ms}\n")))
        == [
          "p.yaml:11:25: spec.delay.jitter: invalid jitter \"5ms\": jitter needs a delay; set delay as well"
        ])
    #expect(
      profileIssues(networkChaos(selecting("action: loss\n")))
        == ["p.yaml:10:11: spec.loss: required by action loss: loss"])
    #expect(
      profileIssues(networkChaos(selecting("action: los\nloss: {loss: '1'}\n")))
        == [
          "p.yaml:10:11: spec.action: unknown action \"los\"; did you mean \"loss\"?; use netem, delay, loss, "
            + "duplicate, corrupt or bandwidth"
        ])
    #expect(
      profileIssues(networkChaos(selecting("action: loss\nloss: {loss: '0'}\n")))
        == [
          "p.yaml:10:11: spec.action: no fault given: set at least one of delay, loss, loss-state, loss-gemodel, "
            + "duplicate, corrupt, reorder, rate or slot"
        ])
    #expect(
      profileIssues(networkChaos("action: loss\nloss: {loss: '1'}\n"))
        == [
          "p.yaml:6:3: spec.selector: required: the pods to inject into (namespaces, labelSelectors)",
          "p.yaml:6:3: spec.mode: required: one, all, fixed or fixed-percent",
        ])
    #expect(
      profileIssues(
        networkChaos(selecting("action: bandwidth\nbandwidth: {rate: 1mbit, limit: 0, peakrate: 100}\n")))
        == [
          "p.yaml:11:21: spec.bandwidth.rate: invalid rate \"1mbit\": Chaos Mesh rates are a whole number with bps, "
            + "kbps, mbps, gbps or tbps (bytes per second, 1kbps = 1024 bytes/s)",
          "p.yaml:11:35: spec.bandwidth.limit: invalid limit \"0\": expected a whole number of bytes ≥ 1",
          "p.yaml:11:38: spec.bandwidth.peakrate: not supported: netem's rate has no peak-rate bucket; remove "
            + "peakrate (or set it to 0)",
        ])
  }

  @Test("the old scheduler.cron needs a duration; a bad cron is reported")
  func scheduler() {
    #expect(
      profileIssues(
        networkChaos(selecting("action: loss\nloss: {loss: '1'}\nscheduler: {cron: '@every 1m'}\n")))
        == [
          "p.yaml:12:3: spec.duration: required when a schedule is set: how long each run holds the fault, e.g. "
            + "duration: 5m"
        ])
    #expect(
      profileIssues(
        networkChaos(
          selecting("action: loss\nloss: {loss: '1'}\nduration: 1m\nscheduler: {cron: '0 0 0 * *'}\n")))
        == [
          "p.yaml:13:21: spec.scheduler.cron: invalid schedule \"0 0 0 * *\": day-of-month field \"0\": value out "
            + "of range 1-31"
        ])
  }

  @Test("concurrencyPolicy Allow is rejected when runs would stack on one interface")
  func allowOverlap() {
    #expect(
      profileIssues(
        """
        apiVersion: chaos-mesh.org/v1alpha1
        kind: Schedule
        metadata: {name: s}
        spec:
          schedule: '*/10 * * * *'
          concurrencyPolicy: Allow
          type: NetworkChaos
          networkChaos: {action: loss, loss: {loss: '1'}, mode: all, selector: {namespaces: [a]}, duration: 15m}
        """)
        == [
          "p.yaml:5:3: spec.concurrencyPolicy: Allow would run two faults on one interface at once: the run "
            + "starting at 2026-01-05T00:10:00Z still holds until 2026-01-05T00:25:00Z when the next starts at "
            + "2026-01-05T00:20:00Z; use Forbid or a duration of at most the time between fires"
        ])
  }
}
