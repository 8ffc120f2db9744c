import Foundation
import Testing

@testable import FaultModel

/// The cross-profile problems among the documents of `yaml`; fails the test if a document has its own.
private func conflicts(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [String]
{
  let (profiles, issues) = ProfileLoader.load(text: yaml, file: "p.yaml")
  #expect(issues.isEmpty, "unexpected issues: \(issues.map(\.description))", sourceLocation: sourceLocation)
  return ProfileLoader.crossCheck(profiles).map(\.description)
}

/// A native profile document.
private func profile(
  _ name: String, schedule: String? = nil, duration: String? = nil, timezone: String? = nil,
  target: String = "{interface: eth0}"
) -> String {
  var lines = ["name: \(name)"]
  if let schedule { lines.append("schedule: '\(schedule)'") }
  if let duration { lines.append("duration: \(duration)") }
  if let timezone { lines.append("timezone: \(timezone)") }
  lines.append("target: \(target)")
  lines.append("netem: {delay: 10ms}")
  return lines.joined(separator: "\n") + "\n"
}

private func documents(_ parts: String...) -> String { parts.joined(separator: "---\n") }

@Suite("Profiles: checks across profiles")
struct ProfileCrossCheckTests {
  @Test("a name used twice is reported at the second, naming the first")
  func duplicateNames() {
    #expect(
      conflicts(documents(profile("a"), profile("a", target: "{interface: eth1}")))
        == ["p.yaml:5:1: name: duplicate name \"a\": also used at p.yaml:1:1; names must be unique"])
  }

  @Test("two unscheduled profiles on one interface conflict; on different interfaces they do not")
  func unscheduled() {
    #expect(
      conflicts(documents(profile("a"), profile("b")))
        == [
          "p.yaml:6:1: target: \"b\" and \"a\" (p.yaml:1:1) can hold eth0 at the same time: both start when the "
            + "agent starts; an interface has one fault at a time, so change the target or the schedules"
        ])
    #expect(conflicts(documents(profile("a"), profile("b", target: "{interface: eth1}"))) == [])
    #expect(conflicts(documents(profile("a"), profile("b", target: "{netns: blue}"))) == [])
  }

  @Test("the same namespace written as a name and as a path is the same target")
  func namespaceSpelling() {
    #expect(
      conflicts(
        documents(profile("a", target: "{netns: blue}"), profile("b", target: "{netns: /run/netns/blue}"))
      )
      .count == 1)
    #expect(
      conflicts(documents(profile("a", target: "{pid: 1}"), profile("b", target: "{netns: /proc/1/ns/net}")))
        .count == 1)
  }

  @Test("an unscheduled profile conflicts with any scheduled one on its interface")
  func unscheduledAndScheduled() {
    #expect(
      conflicts(documents(profile("a", duration: "1m"), profile("b", schedule: "@yearly", duration: "1m")))
        == [
          "p.yaml:9:1: target: \"b\" and \"a\" (p.yaml:1:1) can hold eth0 at the same time: \"a\" starts when "
            + "the agent starts and may still hold when \"b\" fires; an interface has one fault at a time, so "
            + "change the target or the schedules"
        ])
  }

  @Test("cron schedules conflict only when their runs intersect")
  func cronWindows() {
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "0 * * * *", duration: "10m"),
          profile("b", schedule: "5 * * * *", duration: "10m")))
        == [
          "p.yaml:10:1: target: \"b\" and \"a\" (p.yaml:1:1) can hold eth0 at the same time: \"a\" runs from "
            + "2026-01-05T01:00:00Z for 10m and \"b\" from 2026-01-05T01:05:00Z for 10m; an interface has one "
            + "fault at a time, so change the target or the schedules"
        ])
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "0 * * * *", duration: "10m"),
          profile("b", schedule: "30 * * * *", duration: "10m")))
        == [])
    // Back to back is not an overlap: runs are [start, start + duration).
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "0 * * * *", duration: "30m"),
          profile("b", schedule: "30 * * * *", duration: "30m")))
        == [])
  }

  @Test("a rare schedule is checked against a frequent one")
  func rareAgainstFrequent() {
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "* * * * *", duration: "10s"),
          profile("b", schedule: "@monthly", duration: "1m"))
      )
      .count == 1)
  }

  @Test("time zones are compared under both daylight saving offsets")
  func daylightSaving() {
    // 09:00 in Berlin is 07:00 UTC in summer only; the first daily run in summer time is on 29 March.
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "0 9 * * *", duration: "10m", timezone: "Europe/Berlin"),
          profile("b", schedule: "0 7 * * *", duration: "10m")))
        == [
          "p.yaml:11:1: target: \"b\" and \"a\" (p.yaml:1:1) can hold eth0 at the same time: \"a\" runs from "
            + "2026-03-29T07:00:00Z for 10m and \"b\" from 2026-03-29T07:00:00Z for 10m; an interface has one "
            + "fault at a time, so change the target or the schedules"
        ])
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "0 9 * * *", duration: "10m", timezone: "Europe/Berlin"),
          profile("b", schedule: "0 9 * * *", duration: "10m")))
        == [])
  }

  @Test("@every against cron always conflicts; two @every are compared from the same start")
  func every() {
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "@every 10m", duration: "1m"),
          profile("b", schedule: "@yearly", duration: "1m")))
        == [
          "p.yaml:10:1: target: \"b\" and \"a\" (p.yaml:1:1) can hold eth0 at the same time: @every counts from "
            + "the agent's start, which can fall on the cron schedule's runs; an interface has one fault at a "
            + "time, so change the target or the schedules"
        ])
    #expect(
      conflicts(
        documents(
          profile("a", schedule: "@every 10m", duration: "1m"),
          profile("b", schedule: "@every 15m", duration: "1m"))
      )
      .count == 1)
  }

  @Test("pod selectors conflict when one pod could match both")
  func pods() {
    let web = "{pods: {namespace: shop, labels: {app: web}}}"
    #expect(conflicts(documents(profile("a", target: web), profile("b", target: web))).count == 1)
    #expect(
      conflicts(
        documents(
          profile("a", target: web), profile("b", target: "{pods: {namespace: shop, labels: {tier: f}}}"))
      )
      .count == 1)
    #expect(
      conflicts(
        documents(
          profile("a", target: web), profile("b", target: "{pods: {namespace: shop, labels: {app: db}}}")))
        == [])
    #expect(
      conflicts(
        documents(
          profile("a", target: web), profile("b", target: "{pods: {namespace: other, labels: {app: web}}}")))
        == [])
    #expect(
      conflicts(
        documents(
          profile("a", target: web), profile("b", target: "{interface: eth1, pods: {namespace: shop}}")))
        == [])
    // Pods and a namespace path are never compared: the agent resolves pods at run time.
    #expect(conflicts(documents(profile("a", target: web), profile("b"))) == [])
  }
}
