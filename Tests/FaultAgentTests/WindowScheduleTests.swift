import FaultAgent
import FaultModel
import Foundation
import Testing

@Suite struct WindowScheduleTests {
  let start = Date(timeIntervalSince1970: 1_800_000_000)

  @Test func anUnscheduledProfileOpensAtOnceAndIsHeldWithoutADuration() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("held")), maxDuration: .seconds(3600), start: start)
    let events = schedule.advance(to: start)
    #expect(events == [.opened(WindowInstance(sequence: 1, opensAt: start, endsAt: nil))])
    #expect(schedule.advance(to: start.addingTimeInterval(86_400 * 30)).isEmpty)
    #expect(schedule.current != nil)
    #expect(schedule.nextDeadline == nil)
  }

  @Test func anUnscheduledProfileWithADurationEndsAfterIt() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("short", duration: "30s")), maxDuration: .seconds(3600), start: start)
    _ = schedule.advance(to: start)
    #expect(schedule.nextDeadline == start.addingTimeInterval(30))
    #expect(schedule.advance(to: start.addingTimeInterval(29.9)).isEmpty)
    let window = WindowInstance(sequence: 1, opensAt: start, endsAt: start.addingTimeInterval(30))
    #expect(schedule.advance(to: start.addingTimeInterval(30)) == [.closed(window)])
    #expect(schedule.current == nil)
    #expect(schedule.nextDeadline == nil, "an unscheduled window runs once")
  }

  @Test func maxDurationCapsAnUnscheduledWindow() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("long", duration: "2h")), maxDuration: .seconds(60), start: start)
    _ = schedule.advance(to: start)
    #expect(schedule.current?.endsAt == start.addingTimeInterval(60))
  }

  @Test func aScheduledProfileOpensAtEachFireForItsDuration() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("every", schedule: "@every 10s", duration: "4s")),
      maxDuration: .seconds(3600),
      start: start)
    #expect(schedule.advance(to: start.addingTimeInterval(9.9)).isEmpty)
    let first = WindowInstance(
      sequence: 1, opensAt: start.addingTimeInterval(10), endsAt: start.addingTimeInterval(14))
    #expect(schedule.advance(to: start.addingTimeInterval(10)) == [.opened(first)])
    #expect(schedule.advance(to: start.addingTimeInterval(14)) == [.closed(first)])
    #expect(schedule.nextDeadline == start.addingTimeInterval(20))
    let second = WindowInstance(
      sequence: 2, opensAt: start.addingTimeInterval(20), endsAt: start.addingTimeInterval(24))
    #expect(schedule.advance(to: start.addingTimeInterval(20.5)) == [.opened(second)])
  }

  @Test func aFireDuringAWindowIsSkipped() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("overlap", schedule: "@every 10s", duration: "25s")),
      maxDuration: .seconds(3600), start: start)
    _ = schedule.advance(to: start.addingTimeInterval(10))
    let events = schedule.advance(to: start.addingTimeInterval(35))
    #expect(
      events == [
        .closed(
          WindowInstance(
            sequence: 1, opensAt: start.addingTimeInterval(10), endsAt: start.addingTimeInterval(35))),
        .skipped(start.addingTimeInterval(20)), .skipped(start.addingTimeInterval(30)),
      ])
    #expect(schedule.nextDeadline == start.addingTimeInterval(40))
  }

  @Test func aWindowWhoseWholeSpanPassedUnseenIsSkipped() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("asleep", schedule: "@every 10s", duration: "4s")),
      maxDuration: .seconds(3600),
      start: start)
    // The machine was suspended from 5 s to 15 s: the 10 s window (10–14 s) never happened.
    let events = schedule.advance(to: start.addingTimeInterval(15))
    #expect(events == [.skipped(start.addingTimeInterval(10))])
    #expect(schedule.current == nil)
    #expect(schedule.nextDeadline == start.addingTimeInterval(20))
  }

  @Test func aLateOpenStillEndsAtItsNominalTime() throws {
    var schedule = WindowSchedule(
      profile: try profile(profileYAML("late", schedule: "@every 10s", duration: "4s")),
      maxDuration: .seconds(3600),
      start: start)
    _ = schedule.advance(to: start.addingTimeInterval(11.5))
    #expect(schedule.current?.endsAt == start.addingTimeInterval(14))
  }

  @Test func maxDurationIsTheLengthOfAScheduledWindowWithoutDuration() throws {
    let yaml =
      "name: cm\nschedule: \"@every 1h\"\nduration: 2h\ntarget: {interface: eth0}\nnetem: {delay: 1ms}\n"
    var schedule = WindowSchedule(profile: try profile(yaml), maxDuration: .seconds(600), start: start)
    _ = schedule.advance(to: start.addingTimeInterval(3600))
    #expect(schedule.current?.endsAt == start.addingTimeInterval(3600 + 600))
  }

  @Test func cronFieldsReadTheProfilesTimeZone() throws {
    // 2027-01-15 00:00:00 UTC; Paris is UTC+1 in winter, so 09:00 there is 08:00 UTC.
    let midnight = Date(timeIntervalSince1970: 1_799_971_200)
    var schedule = WindowSchedule(
      profile: try profile(
        profileYAML("paris", schedule: "0 9 * * *", duration: "1m", timezone: "Europe/Paris")),
      maxDuration: .seconds(3600), start: midnight)
    #expect(schedule.nextDeadline == midnight.addingTimeInterval(8 * 3600))
    _ = schedule.advance(to: midnight.addingTimeInterval(8 * 3600))
    #expect(schedule.current?.endsAt == midnight.addingTimeInterval(8 * 3600 + 60))
  }
}
