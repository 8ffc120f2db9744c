import Foundation
import Testing

@testable import FaultModel

private let utcZone = TimeZone(identifier: "UTC")!

private func date(_ text: String) throws -> Date {
  try Date(text, strategy: .iso8601)
}

private func fires(
  _ expression: String, after start: String, count: Int, zone: TimeZone = utcZone
) throws -> [String] {
  let schedule = try Schedule(parsing: expression)
  let from = try date(start)
  return schedule.fires(after: from, anchor: from, timeZone: zone, count: count).map {
    $0.formatted(.iso8601)
  }
}

@Suite("Schedule fire times")
struct ScheduleFiringTests {
  @Test("fires strictly after the given date")
  func strictlyAfter() throws {
    #expect(try fires("0 * * * *", after: "2024-05-01T10:00:00Z", count: 1) == ["2024-05-01T11:00:00Z"])
    #expect(try fires("0 * * * *", after: "2024-05-01T09:59:59Z", count: 1) == ["2024-05-01T10:00:00Z"])
    let schedule = try Schedule(parsing: "* * * * *")
    let start = try date("2024-05-01T10:00:00Z").addingTimeInterval(0.25)
    #expect(
      schedule.nextFire(after: start, anchor: start, timeZone: utcZone) == (try date("2024-05-01T10:01:00Z")))
  }

  @Test("macros")
  func macros() throws {
    let start = "2024-05-15T10:30:00Z"
    #expect(try fires("@hourly", after: start, count: 2) == ["2024-05-15T11:00:00Z", "2024-05-15T12:00:00Z"])
    #expect(try fires("@daily", after: start, count: 2) == ["2024-05-16T00:00:00Z", "2024-05-17T00:00:00Z"])
    #expect(try fires("@midnight", after: start, count: 1) == ["2024-05-16T00:00:00Z"])
    #expect(try fires("@weekly", after: start, count: 2) == ["2024-05-19T00:00:00Z", "2024-05-26T00:00:00Z"])
    #expect(
      try fires("@monthly", after: start, count: 2) == ["2024-06-01T00:00:00Z", "2024-07-01T00:00:00Z"])
    #expect(try fires("@yearly", after: start, count: 2) == ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"])
    #expect(try fires("@annually", after: start, count: 1) == ["2025-01-01T00:00:00Z"])
  }

  @Test("month ends and leap days")
  func monthEnds() throws {
    #expect(
      try fires("0 0 31 * *", after: "2024-01-31T12:00:00Z", count: 3)
        == ["2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z"])
    #expect(
      try fires("0 0 29 2 *", after: "2024-03-01T00:00:00Z", count: 2)
        == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"])
    // 2100 is not a leap year: eight years between these two.
    #expect(
      try fires("0 0 29 2 *", after: "2097-01-01T00:00:00Z", count: 2)
        == ["2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z"])
    // Sunday 29 February: 28 years apart.
    #expect(
      try fires("0 0 29 2 */7", after: "2021-01-01T00:00:00Z", count: 2)
        == ["2032-02-29T00:00:00Z", "2060-02-29T00:00:00Z"])
    #expect(try fires("59 23 31 12 *", after: "2024-12-31T23:59:00Z", count: 1) == ["2025-12-31T23:59:00Z"])
  }

  @Test(
    "impossible expressions return nil, quickly",
    arguments: ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 2 */2", "* * 31 2,4 *"])
  func impossible(expression: String) throws {
    let schedule = try Schedule(parsing: expression)
    let start = try date("2024-01-01T00:00:00Z")
    let clock = ContinuousClock()
    let elapsed = clock.measure {
      for zone in ["UTC", "Europe/Berlin", "Australia/Lord_Howe"] {
        #expect(schedule.nextFire(after: start, anchor: start, timeZone: TimeZone(identifier: zone)!) == nil)
      }
      #expect(schedule.fires(after: start, anchor: start, timeZone: utcZone, count: 5).isEmpty)
    }
    #expect(elapsed < .seconds(1))
  }

  @Test("day-of-week OR day-of-month still fires when the day-of-month side is impossible")
  func impossibleDayOfMonthWithWeekday() throws {
    // Vixie: both restricted, so Mondays in February count even though 31 February does not exist.
    #expect(
      try fires("0 0 31 2 1", after: "2024-01-01T00:00:00Z", count: 2)
        == ["2024-02-05T00:00:00Z", "2024-02-12T00:00:00Z"])
  }

  @Test("count of zero or less gives no fires")
  func zeroCount() throws {
    let schedule = try Schedule(parsing: "* * * * *")
    let start = try date("2024-01-01T00:00:00Z")
    #expect(schedule.fires(after: start, anchor: start, timeZone: utcZone, count: 0).isEmpty)
    #expect(schedule.fires(after: start, anchor: start, timeZone: utcZone, count: -3).isEmpty)
  }

  @Test("dates far outside the calendar give nil rather than trapping")
  func extremeDates() throws {
    let schedule = try Schedule(parsing: "0 0 * * *")
    #expect(schedule.nextFire(after: .distantFuture, anchor: .distantPast, timeZone: utcZone) != nil)
    let huge = Date(timeIntervalSince1970: 1e15)
    #expect(schedule.nextFire(after: huge, anchor: huge, timeZone: utcZone) == nil)
    let every = try Schedule(parsing: "@every 1ns")
    #expect(every.nextFire(after: huge, anchor: .distantPast, timeZone: utcZone) == nil)
  }

  @Test("@every fires at anchor + k x interval, k >= 1, whatever the time zone")
  func every() throws {
    let schedule = try Schedule(parsing: "@every 10m")
    let anchor = try date("2024-03-31T00:55:00Z")
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    func next(_ after: Date, _ zone: TimeZone = utcZone) -> Date? {
      schedule.nextFire(after: after, anchor: anchor, timeZone: zone)
    }
    // The first fire is one interval after the start.
    #expect(next(anchor) == anchor.addingTimeInterval(600))
    #expect(next(anchor.addingTimeInterval(-3_600)) == anchor.addingTimeInterval(600))
    // Strictly after: a fire time itself gives the next one.
    #expect(next(anchor.addingTimeInterval(600)) == anchor.addingTimeInterval(1_200))
    #expect(next(anchor.addingTimeInterval(1_500)) == anchor.addingTimeInterval(1_800))
    // Across Berlin's spring-forward jump nothing changes: it is elapsed time, not wall-clock time.
    #expect(next(anchor.addingTimeInterval(1_500), berlin) == anchor.addingTimeInterval(1_800))
    #expect(
      schedule.fires(after: anchor, anchor: anchor, timeZone: berlin, count: 3)
        == [600, 1_200, 1_800].map { anchor.addingTimeInterval($0) })
  }

  @Test("@every with sub-second and compound intervals stays on the anchor's grid")
  func everyGrid() throws {
    let anchor = try date("2024-01-01T00:00:00Z").addingTimeInterval(0.5)
    let halfSecond = try Schedule(parsing: "@every 1.5s")
    let fired = halfSecond.fires(after: anchor, anchor: anchor, timeZone: utcZone, count: 4)
    #expect(fired == [1.5, 3, 4.5, 6].map { anchor.addingTimeInterval($0) })
    let compound = try Schedule(parsing: "@every 1h30m")
    let later = anchor.addingTimeInterval(1_000 * 5_400 + 1)
    #expect(
      compound.nextFire(after: later, anchor: anchor, timeZone: utcZone)
        == anchor.addingTimeInterval(1_001 * 5_400))
  }

  @Test("nextFire skips by field instead of scanning minutes")
  func speed() throws {
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    let start = try date("2024-01-01T00:00:00Z")
    let clock = ContinuousClock()
    // 20,000 consecutive minutes (about two weeks) in a DST zone.
    let everyMinute = try Schedule(parsing: "* * * * *")
    var elapsed = clock.measure {
      #expect(everyMinute.fires(after: start, anchor: start, timeZone: berlin, count: 20_000).count == 20_000)
    }
    #expect(elapsed < .seconds(10), "20,000 minute fires took \(elapsed)")
    // Rare schedules far apart: Sunday 29 February, from 2024 onwards for 300 years.
    let rare = try Schedule(parsing: "0 0 29 2 */7")
    elapsed = clock.measure {
      let found = rare.fires(after: start, anchor: start, timeZone: berlin, count: 10)
      #expect(found.count == 10)
    }
    #expect(elapsed < .seconds(5), "10 rare fires took \(elapsed)")
  }
}
