import Foundation
import Testing

@testable import FaultModel

// Explicit DST cases with hand-computed expected instants (UTC). Semantics (Vixie cron):
//  - spring forward: a fixed-time job (minute and hour fields not starting with "*") due in the skipped
//    interval fires once, at the transition instant; wildcard jobs only fire at wall times that exist;
//  - fall back: fixed-time jobs fire in the first pass only; wildcard jobs fire in both passes;
//  - offset changes of 3 hours or more are clock resets: no catch-up, no suppression.

/// Fire times of `expression` in `zone` after `start`, as ISO 8601 UTC strings.
private func fires(_ expression: String, _ zone: String, after start: String, count: Int) throws -> [String] {
  let schedule = try Schedule(parsing: expression)
  let timeZone = try #require(TimeZone(identifier: zone))
  let date = try Date(start, strategy: .iso8601)
  return schedule.fires(after: date, anchor: date, timeZone: timeZone, count: count)
    .map { $0.formatted(.iso8601) }
}

@Suite("DST handling (Vixie semantics)")
struct ScheduleDSTTests {
  // Europe/Berlin 2024: 2024-03-31 02:00 CET -> 03:00 CEST at 01:00Z;
  // 2024-10-27 03:00 CEST -> 02:00 CET at 01:00Z (02:xx CEST = 00:xxZ, 02:xx CET = 01:xxZ).

  @Test("Berlin spring forward: a fixed-time job in the gap runs once right after the jump")
  func berlinSpringFixed() throws {
    #expect(
      try fires("30 2 * * *", "Europe/Berlin", after: "2024-03-30T12:00:00Z", count: 2)
        == ["2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"])
    // Several skipped times, and the first time after the jump, coalesce into one fire.
    #expect(
      try fires("0-59/15 2 * * *", "Europe/Berlin", after: "2024-03-30T12:00:00Z", count: 3)
        == ["2024-03-31T01:00:00Z", "2024-04-01T00:00:00Z", "2024-04-01T00:15:00Z"])
    #expect(
      try fires("0,30 2,3 * * *", "Europe/Berlin", after: "2024-03-30T12:00:00Z", count: 3)
        == ["2024-03-31T01:00:00Z", "2024-03-31T01:30:00Z", "2024-04-01T00:00:00Z"])
    #expect(
      try fires("@daily", "Europe/Berlin", after: "2024-03-30T12:00:00Z", count: 2)
        == ["2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z"])
  }

  @Test("Berlin spring forward: wildcard jobs only run at wall times that exist")
  func berlinSpringWildcard() throws {
    #expect(
      try fires("*/30 * * * *", "Europe/Berlin", after: "2024-03-31T00:00:00Z", count: 3)
        == ["2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z", "2024-03-31T01:30:00Z"])
    // Minute field starts with "*": a wildcard job, so nothing on the 31st.
    #expect(
      try fires("*/15 2 * * *", "Europe/Berlin", after: "2024-03-30T12:00:00Z", count: 2)
        == ["2024-04-01T00:00:00Z", "2024-04-01T00:15:00Z"])
    // Hour field starts with "*": 02:00 does not exist and is not caught up.
    #expect(
      try fires("0 */2 * * *", "Europe/Berlin", after: "2024-03-30T22:30:00Z", count: 2)
        == ["2024-03-30T23:00:00Z", "2024-03-31T02:00:00Z"])
  }

  @Test("Berlin fall back: a fixed-time job runs in the first pass only")
  func berlinFallFixed() throws {
    #expect(
      try fires("30 2 * * *", "Europe/Berlin", after: "2024-10-26T12:00:00Z", count: 2)
        == ["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"])
    #expect(
      try fires("0-59/20 2 * * *", "Europe/Berlin", after: "2024-10-26T12:00:00Z", count: 4)
        == ["2024-10-27T00:00:00Z", "2024-10-27T00:20:00Z", "2024-10-27T00:40:00Z", "2024-10-28T01:00:00Z"])
    // Starting inside the second pass (02:10 CET) or late in the first (02:50 CEST): today's 02:30 is done.
    #expect(
      try fires("30 2 * * *", "Europe/Berlin", after: "2024-10-27T01:10:00Z", count: 1)
        == ["2024-10-28T01:30:00Z"])
    #expect(
      try fires("30 2 * * *", "Europe/Berlin", after: "2024-10-27T00:50:00Z", count: 1)
        == ["2024-10-28T01:30:00Z"])
  }

  @Test("Berlin fall back: wildcard jobs run in both passes")
  func berlinFallWildcard() throws {
    #expect(
      try fires("*/30 * * * *", "Europe/Berlin", after: "2024-10-26T23:45:00Z", count: 5)
        == [
          "2024-10-27T00:00:00Z", "2024-10-27T00:30:00Z", "2024-10-27T01:00:00Z", "2024-10-27T01:30:00Z",
          "2024-10-27T02:00:00Z",
        ])
    #expect(
      try fires("30 * * * *", "Europe/Berlin", after: "2024-10-27T00:00:00Z", count: 3)
        == ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z", "2024-10-27T02:30:00Z"])
    // From late in the first pass, the second pass comes next.
    #expect(
      try fires("*/15 * * * *", "Europe/Berlin", after: "2024-10-27T00:50:00Z", count: 2)
        == ["2024-10-27T01:00:00Z", "2024-10-27T01:15:00Z"])
  }

  // America/New_York 2024: 2024-03-10 02:00 EST -> 03:00 EDT at 07:00Z;
  // 2024-11-03 02:00 EDT -> 01:00 EST at 06:00Z (01:xx EDT = 05:xxZ, 01:xx EST = 06:xxZ).

  @Test("New York spring forward and fall back")
  func newYork() throws {
    #expect(
      try fires("30 2 * * *", "America/New_York", after: "2024-03-09T12:00:00Z", count: 2)
        == ["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"])
    #expect(
      try fires("30 1 * * *", "America/New_York", after: "2024-11-02T12:00:00Z", count: 2)
        == ["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"])
    #expect(
      try fires("0,20,40 1 * * *", "America/New_York", after: "2024-11-03T04:00:00Z", count: 4)
        == ["2024-11-03T05:00:00Z", "2024-11-03T05:20:00Z", "2024-11-03T05:40:00Z", "2024-11-04T06:00:00Z"])
    #expect(
      try fires("*/20 1 * * *", "America/New_York", after: "2024-11-03T04:00:00Z", count: 7)
        == [
          "2024-11-03T05:00:00Z", "2024-11-03T05:20:00Z", "2024-11-03T05:40:00Z", "2024-11-03T06:00:00Z",
          "2024-11-03T06:20:00Z", "2024-11-03T06:40:00Z", "2024-11-04T06:00:00Z",
        ])
  }

  // Australia/Lord_Howe shifts by 30 minutes: 2024-10-06 02:00 -> 02:30 (+10:30 -> +11) at
  // 2024-10-05T15:30Z; 2024-04-07 02:00 -> 01:30 (+11 -> +10:30) at 2024-04-06T15:00Z.

  @Test("Lord Howe half-hour shifts")
  func lordHowe() throws {
    #expect(
      try fires("15 2 * * *", "Australia/Lord_Howe", after: "2024-10-05T00:00:00Z", count: 2)
        == ["2024-10-05T15:30:00Z", "2024-10-06T15:15:00Z"])
    #expect(
      try fires("*/15 * * * *", "Australia/Lord_Howe", after: "2024-10-05T15:00:00Z", count: 3)
        == ["2024-10-05T15:15:00Z", "2024-10-05T15:30:00Z", "2024-10-05T15:45:00Z"])
    #expect(
      try fires("45 1 * * *", "Australia/Lord_Howe", after: "2024-04-06T00:00:00Z", count: 2)
        == ["2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z"])
    #expect(
      try fires("*/15 * * * *", "Australia/Lord_Howe", after: "2024-04-06T14:20:00Z", count: 5)
        == [
          "2024-04-06T14:30:00Z", "2024-04-06T14:45:00Z", "2024-04-06T15:00:00Z", "2024-04-06T15:15:00Z",
          "2024-04-06T15:30:00Z",
        ])
  }

  // America/Sao_Paulo (DST until 2019) switched at midnight: 2018-11-04 00:00 -> 01:00 (-03 -> -02) at
  // 03:00Z; 2019-02-17 00:00 -> 2019-02-16 23:00 (-02 -> -03) at 2019-02-17T02:00Z.

  @Test("Sao Paulo midnight transitions")
  func saoPaulo() throws {
    #expect(
      try fires("0 0 * * *", "America/Sao_Paulo", after: "2018-11-03T12:00:00Z", count: 2)
        == ["2018-11-04T03:00:00Z", "2018-11-05T02:00:00Z"])
    #expect(
      try fires("30 23 * * *", "America/Sao_Paulo", after: "2019-02-16T12:00:00Z", count: 2)
        == ["2019-02-17T01:30:00Z", "2019-02-18T02:30:00Z"])
    #expect(
      try fires("*/30 23 * * *", "America/Sao_Paulo", after: "2019-02-17T00:50:00Z", count: 5)
        == [
          "2019-02-17T01:00:00Z", "2019-02-17T01:30:00Z", "2019-02-17T02:00:00Z", "2019-02-17T02:30:00Z",
          "2019-02-18T02:00:00Z",
        ])
  }

  @Test("a 24-hour jump (Pacific/Apia skipping 2011-12-30) is a clock reset, not DST")
  func apia() throws {
    // -10 until 2011-12-30T10:00Z, then +14: 2011-12-30 never happened there.
    #expect(
      try fires("0 12 * * *", "Pacific/Apia", after: "2011-12-29T00:00:00Z", count: 2)
        == ["2011-12-29T22:00:00Z", "2011-12-30T22:00:00Z"])
  }

  @Test("fire times land on matching wall-clock times (checked with Calendar)")
  func wallClock() throws {
    let zone = try #require(TimeZone(identifier: "America/New_York"))
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    let start = try Date("2024-01-01T00:00:00Z", strategy: .iso8601)
    for fire in try Schedule(parsing: "7,37 */5 * * MON-FRI")
      .fires(after: start, anchor: start, timeZone: zone, count: 500)
    {
      let parts = calendar.dateComponents([.minute, .hour, .weekday], from: fire)
      #expect([7, 37].contains(parts.minute!))
      #expect(parts.hour! % 5 == 0)
      #expect((2...6).contains(parts.weekday!))
    }
  }
}
