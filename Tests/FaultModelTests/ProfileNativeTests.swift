import Foundation
import Testing

@testable import FaultModel

/// The problems `ProfileLoader.load` finds in `yaml` (file name `p.yaml`), as `FILE:LINE:COLUMN: …` lines.
func profileIssues(_ yaml: String) -> [String] {
  ProfileLoader.load(text: yaml, file: "p.yaml").1.map(\.description)
}

/// The only profile in `yaml`; fails the test when there are problems.
func loadProfile(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> Profile
{
  let (profiles, issues) = ProfileLoader.load(text: yaml, file: "p.yaml")
  #expect(issues.isEmpty, "unexpected issues: \(issues.map(\.description))", sourceLocation: sourceLocation)
  return try #require(profiles.first, sourceLocation: sourceLocation)
}

@Suite("Profiles: native format")
struct ProfileNativeTests {
  @Test("the documented example parses to the profile it describes")
  func documentedExample() throws {
    let profile = try loadProfile(
      """
      name: payment-latency            # unique across the directory
      description: 500ms ±100ms on eth0, 5 minutes every 10 minutes
      schedule: "@every 10m"
      duration: 5m
      timezone: Europe/Berlin
      target:
        interface: eth1
        netns: /proc/1/ns/net
      netem:
        delay: 500ms
        jitter: 100ms
        correlation: 50%
        distribution: normal
        loss: 1
        limit: 500
      """)
    #expect(profile.name == "payment-latency")
    #expect(profile.description == "500ms ±100ms on eth0, 5 minutes every 10 minutes")
    #expect(profile.schedule == (try Schedule(parsing: "@every 10m")))
    #expect(profile.duration == .seconds(300))
    #expect(profile.timeZone.identifier == "Europe/Berlin")
    #expect(profile.target == FaultTarget(interface: "eth1", namespace: .path("/proc/1/ns/net")))
    #expect(profile.pods == nil)
    var fault = NetemFault()
    fault.delay = .milliseconds(500)
    fault.jitter = .milliseconds(100)
    fault.delayCorrelation = 50
    fault.distribution = .normal
    fault.loss = 1
    fault.limit = 500
    #expect(profile.fault == fault)
    #expect(profile.source.file == "p.yaml")
    #expect(profile.source.format == .native)
    #expect((profile.source.line, profile.source.column) == (1, 1))
    #expect(profile.source.nameLocation == FieldLocation(fieldPath: "name", line: 1, column: 1))
    #expect(profile.source.targetLocation == FieldLocation(fieldPath: "target", line: 6, column: 1))
  }

  @Test("defaults: eth0 in the agent's namespace, UTC, no schedule, no duration")
  func defaults() throws {
    let profile = try loadProfile("name: one-shot\nnetem: {delay: 10ms}\n")
    #expect(profile.target == FaultTarget(interface: "eth0", namespace: .current))
    #expect(profile.timeZone == TimeZone(identifier: "UTC"))
    #expect(profile.schedule == nil)
    #expect(profile.duration == nil)
    #expect(profile.description == "")
  }

  @Test("netns names, pids, CRON_TZ and list-valued netem fields")
  func variants() throws {
    let profile = try loadProfile(
      """
      name: variants
      schedule: "CRON_TZ=America/New_York 0 9 * * MON-FRI"
      duration: 1h30m
      target: {netns: blue}
      netem:
        rate: [10mbit, 20]
        slot: [10ms, 20ms]
        loss-state: [1, 2]
      """)
    #expect(profile.timeZone.identifier == "America/New_York")
    #expect(profile.schedule?.description == "0 9 * * MON-FRI")
    #expect(profile.target.namespace == .named("blue"))
    #expect(profile.fault.rate == RateLimit(rate: Bandwidth(bitsPerSecond: 10_000_000), packetOverhead: 20))
    #expect(profile.fault.slot == SlotConfig(min: .milliseconds(10), max: .milliseconds(20)))
    #expect(profile.fault.lossState == LossStateModel(p13: 1, p31: 2))
    let byPid = try loadProfile("name: p\ntarget: {pid: 42}\nnetem: {loss: 5%}\n")
    #expect(byPid.target.namespace == .pid(42))
  }

  @Test("target.pods becomes a PodSelector")
  func pods() throws {
    let profile = try loadProfile(
      """
      name: pods
      target:
        interface: eth0
        pods:
          namespaces: [shop, payments]
          labels: {app: payment, app.kubernetes.io/part-of: shop}
          mode: fixed:2
      netem: {delay: 10ms}
      """)
    #expect(
      profile.pods
        == PodSelector(
          namespaces: ["shop", "payments"], labels: ["app": "payment", "app.kubernetes.io/part-of": "shop"],
          mode: .fixed(2)))
    let single = try loadProfile(
      "name: p\ntarget: {pods: {namespace: shop, mode: percent:25}}\nnetem: {loss: 1}\n")
    #expect(single.pods == PodSelector(namespaces: ["shop"], labels: [:], mode: .percent(25)))
    #expect(
      try loadProfile("name: p\ntarget: {pods: {namespace: shop}}\nnetem: {loss: 1}\n").pods?.mode == .all)
  }

  @Test("a YAML syntax error points at the offending character")
  func syntaxError() {
    #expect(
      profileIssues("name: x\nnetem:\n  delay: 10ms\n bad: indent\n")
        == [
          "p.yaml:4:2: invalid YAML: did not find expected key (while parsing a block mapping at line 1, column 1)"
        ])
    #expect(
      profileIssues("name: x\nnetem: {delay: 10ms\n")
        == [
          "p.yaml:3:1: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 2, column 8)"
        ])
  }

  @Test("a duplicate key is reported")
  func duplicateKey() {
    #expect(
      profileIssues("name: x\nnetem:\n  delay: 10ms\n  delay: 20ms\n")
        == ["p.yaml:3:3: invalid YAML: duplicate key \"delay\" in one mapping; each key may appear only once"]
    )
  }

  @Test("a syntax error in one document does not hide the others")
  func syntaxErrorIsPerDocument() {
    let (profiles, issues) = ProfileLoader.load(
      text: "name: a\nnetem: {delay: 10ms\n---\nname: b\nnetem: {delay: 0}\n---\nname: c\nnetem: {loss: 1}\n",
      file: "p.yaml")
    #expect(profiles.map(\.name) == ["c"])
    #expect(
      issues.map(\.description) == [
        "p.yaml:3:1: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 2, column 8)",
        "p.yaml:5:16: netem.delay: invalid delay \"0\": \"0\" has no unit; use e.g. 10s, 10m, 1h",
      ])
  }

  @Test("unknown fields are reported with the closest known field")
  func unknownFields() {
    #expect(
      profileIssues(
        """
        name: x
        schedul: "@daily"
        target:
          interfce: eth0
          color: blue
        netem:
          dealy: 10ms
          loss: 1
        """)
        == [
          "p.yaml:2:1: schedul: unknown field \"schedul\"; did you mean \"schedule\"?",
          "p.yaml:4:3: target.interfce: unknown field \"interfce\"; did you mean \"interface\"?",
          "p.yaml:5:3: target.color: unknown field \"color\"",
          "p.yaml:7:3: netem.dealy: unknown netem field \"dealy\"; did you mean \"delay\"?",
        ])
  }

  @Test("values out of range point at the value")
  func outOfRange() {
    #expect(
      profileIssues("name: x\nnetem:\n  loss: 150\n  corrupt: -1%\n  limit: 0\n  distribution: gauss\n")
        == [
          "p.yaml:3:9: netem.loss: invalid loss \"150\": \"150\" is outside 0–100%",
          "p.yaml:4:12: netem.corrupt: invalid corrupt \"-1%\": \"-1%\" is outside 0–100%",
          "p.yaml:5:10: netem.limit: invalid limit \"0\": expected a whole number from 1 to 4294967295",
          "p.yaml:6:17: netem.distribution: invalid distribution \"gauss\": unknown distribution; allowed: "
            + "uniform, normal, pareto, paretonormal",
        ])
  }

  @Test("durations need a unit and must be positive")
  func durations() {
    #expect(
      profileIssues("name: x\nschedule: '@daily'\nduration: 300\nnetem: {delay: 500}\n")
        == [
          "p.yaml:3:11: duration: invalid duration: \"300\" has no unit; use e.g. 10s, 10m, 1h",
          "p.yaml:4:16: netem.delay: invalid delay \"500\": \"500\" has no unit; use e.g. 10s, 10m, 1h",
        ])
    #expect(
      profileIssues("name: x\nschedule: '@daily'\nduration: -5m\nnetem: {delay: 5ms}\n")
        == ["p.yaml:3:11: duration: invalid duration: \"-5m\": negative durations are not allowed"])
    #expect(
      profileIssues("name: x\nschedule: '@daily'\nduration: 0s\nnetem: {delay: 5ms}\n")
        == ["p.yaml:3:11: duration: invalid duration \"0s\": must be greater than zero, e.g. 5m"])
  }

  @Test("jitter without delay is reported at the jitter key")
  func jitterWithoutDelay() {
    #expect(
      profileIssues("name: x\nnetem:\n  loss: 1%\n  jitter: 10ms\n")
        == ["p.yaml:4:3: netem.jitter: invalid jitter \"10ms\": jitter needs a delay; set delay as well"])
  }

  @Test("an empty or missing netem is reported")
  func emptyNetem() {
    let empty =
      "no fault given: set at least one of delay, loss, loss-state, loss-gemodel, duplicate, corrupt, reorder, "
      + "rate or slot"
    #expect(profileIssues("name: x\nnetem: {}\n") == ["p.yaml:2:1: netem: \(empty)"])
    #expect(profileIssues("name: x\nnetem:\n") == ["p.yaml:2:1: netem: \(empty)"])
    #expect(profileIssues("name: x\nnetem:\n  limit: 10\n") == ["p.yaml:2:1: netem: \(empty)"])
    #expect(
      profileIssues("name: x\n")
        == [
          "p.yaml:1:1: netem: required: the fault to inject, e.g. netem: {delay: 100ms} (fields as the CLI's flags)"
        ])
    #expect(profileIssues("name: x\nnetem:\n  delay:\n") == ["p.yaml:3:9: netem.delay: has no value"])
  }

  @Test("invalid cron and @every expressions point at the schedule")
  func invalidSchedules() {
    #expect(
      profileIssues("name: x\nschedule: '61 * * * *'\nduration: 1m\nnetem: {delay: 5ms}\n")
        == [
          "p.yaml:2:11: schedule: invalid schedule \"61 * * * *\": minute field \"61\": value out of range 0-59"
        ])
    #expect(
      profileIssues("name: x\nschedule: '@every 10'\nduration: 1m\nnetem: {delay: 5ms}\n")
        == [
          "p.yaml:2:11: schedule: invalid schedule \"@every 10\": @every: \"10\" has no unit; use e.g. 10s, 10m, 1h"
        ])
    #expect(
      profileIssues("name: x\nschedule: '0 0 * * * *'\nduration: 1m\nnetem: {delay: 5ms}\n")
        == [
          "p.yaml:2:11: schedule: invalid schedule \"0 0 * * * *\": \"0 0 * * * *\" has 6 fields; expected 5 "
            + "(minute hour day-of-month month day-of-week); seconds and year fields are not supported"
        ])
  }

  @Test("a schedule without a duration is reported at the schedule")
  func scheduleWithoutDuration() {
    #expect(
      profileIssues("name: x\nnetem: {delay: 5ms}\nschedule: '@hourly'\n")
        == [
          "p.yaml:3:1: duration: required when a schedule is set: how long each run holds the fault, e.g. "
            + "duration: 5m"
        ])
  }

  @Test("an unknown time zone is reported with a suggestion")
  func unknownTimeZone() {
    #expect(
      profileIssues("name: x\ntimezone: Europe/Berln\nnetem: {delay: 5ms}\n")
        == ["p.yaml:2:11: timezone: unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?"])
    #expect(
      profileIssues("name: x\ntimezone: Mars/Olympus_Mons_Base\nnetem: {delay: 5ms}\n")
        == [
          "p.yaml:2:11: timezone: unknown time zone \"Mars/Olympus_Mons_Base\"; use an IANA name such as UTC, "
            + "Europe/Berlin or America/New_York"
        ])
    #expect(
      profileIssues(
        "name: x\ntimezone: UTC\nschedule: CRON_TZ=UTC @daily\nduration: 1m\nnetem: {delay: 5ms}\n")
        == ["p.yaml:3:11: schedule: give the time zone either as CRON_TZ= or as timezone, not both"])
  }

  @Test("names are required and checked")
  func names() {
    #expect(
      profileIssues("netem: {delay: 5ms}\n")
        == ["p.yaml:1:1: name: required: a name for the profile, unique across the directory"])
    #expect(
      profileIssues("name: bad name\nnetem: {delay: 5ms}\n")
        == [
          "p.yaml:1:7: name: invalid name \"bad name\": use 1-253 letters, digits, '-', '_' or '.', starting "
            + "with a letter or digit"
        ])
    #expect(
      profileIssues("name: [a, b]\nnetem: {delay: 5ms}\n")
        == ["p.yaml:1:7: name: expected a single value, found a list"])
  }

  @Test("target problems: netns with pods or pid, bad interface, bad pods")
  func targets() {
    #expect(
      profileIssues(
        """
        name: x
        target:
          interface: a/b
          netns: /proc/1/ns/net
          pid: 7
          pods: {namespace: shop}
        netem: {delay: 5ms}
        """)
        == [
          "p.yaml:3:14: target.interface: invalid interface name \"a/b\": use 1-15 characters without '/', ':' "
            + "or spaces, e.g. eth0",
          "p.yaml:5:3: target.pid: give either netns or pid, not both",
          "p.yaml:6:3: target.pods: a profile either selects pods or names a network namespace (netns, pid), "
            + "not both",
        ])
    #expect(
      profileIssues(
        """
        name: x
        target:
          pods:
            labels: {"-bad": x, app: "no spaces"}
            mode: some
        netem: {delay: 5ms}
        """)
        == [
          "p.yaml:4:5: target.pods.namespace: required: the Kubernetes namespace of the pods",
          "p.yaml:4:14: target.pods.labels: invalid label key \"-bad\": use [PREFIX/]NAME, NAME being 1-63 "
            + "letters, digits, '-', '_' or '.' starting and ending with a letter or digit",
          "p.yaml:4:30: target.pods.labels.app: invalid label value \"no spaces\": use up to 63 letters, digits, "
            + "'-', '_' or '.', starting and ending with a letter or digit",
          "p.yaml:5:11: target.pods.mode: \"some\" is not a pod mode; use all, one, fixed:N or percent:N",
        ])
    #expect(
      profileIssues("name: x\ntarget: {pods: {namespace: Shop, mode: 'fixed:0'}}\nnetem: {delay: 5ms}\n")
        == [
          "p.yaml:2:28: target.pods.namespace: invalid namespace \"Shop\": use 1-63 lower-case letters, digits "
            + "or '-', starting and ending with a letter or digit",
          "p.yaml:2:40: target.pods.mode: \"fixed:0\": fixed:N needs a whole number of pods N ≥ 1, e.g. fixed:2",
        ])
  }

  @Test("every problem in a document is reported, in file order")
  func everyProblem() {
    #expect(
      profileIssues(
        """
        name: bad one
        schedule: "61 * * * *"
        duration: 500
        timezone: Europe/Berln
        netem:
          dealy: 500ms
          loss: 150
        """)
        == [
          "p.yaml:1:7: name: invalid name \"bad one\": use 1-253 letters, digits, '-', '_' or '.', starting "
            + "with a letter or digit",
          "p.yaml:2:11: schedule: invalid schedule \"61 * * * *\": minute field \"61\": value out of range 0-59",
          "p.yaml:3:11: duration: invalid duration: \"500\" has no unit; use e.g. 10s, 10m, 1h",
          "p.yaml:4:11: timezone: unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?",
          "p.yaml:6:3: netem.dealy: unknown netem field \"dealy\"; did you mean \"delay\"?",
          "p.yaml:7:9: netem.loss: invalid loss \"150\": \"150\" is outside 0–100%",
        ])
  }

  @Test("a document that is not a mapping is reported; empty documents are skipped")
  func shapes() {
    #expect(
      profileIssues("--- just text\n")
        == ["p.yaml:1:5: expected a mapping (key: value lines), found \"just text\""])
    let (profiles, issues) = ProfileLoader.load(
      text: "# comment only\n---\n---\nname: a\nnetem: {loss: 1}\n...\n---\nname: b\nnetem: {loss: 2}\n",
      file: "p.yaml")
    #expect(issues.isEmpty)
    #expect(profiles.map(\.name) == ["a", "b"])
    #expect(profiles.map(\.source.line) == [4, 8])
  }

  @Test("issue descriptions follow FILE:LINE:COLUMN: field: message")
  func issueDescription() {
    #expect(
      ProfileIssue(file: "f.yaml", line: 3, column: 5, fieldPath: "netem.delay", message: "bad").description
        == "f.yaml:3:5: netem.delay: bad")
    #expect(
      ProfileIssue(file: "f.yaml", line: 2, column: 1, fieldPath: "", message: "bad").description
        == "f.yaml:2:1: bad")
    #expect(
      ProfileIssue(file: "f.yaml", line: 0, column: 0, fieldPath: "", message: "gone").description
        == "f.yaml: gone")
  }

  @Test("pod modes parse and print", arguments: ["all", "one", "fixed:3", "percent:25", "percent:2.5"])
  func podModes(text: String) throws {
    #expect(try PodSelectionMode(parsing: text).description == text)
  }
}
