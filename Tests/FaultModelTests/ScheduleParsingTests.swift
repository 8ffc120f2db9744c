import Foundation
import Testing

@testable import FaultModel

/// The error `Schedule(parsing:)` throws for `text`, or nil if it parses.
private func parseError(_ text: String) -> ScheduleError? {
  do throws(ScheduleError) {
    _ = try Schedule(parsing: text)
    return nil
  } catch {
    return error
  }
}

private let utc = TimeZone(identifier: "UTC")!

/// The next `count` fire times after 2024-01-01T00:00:00Z in UTC, as ISO 8601 strings.
private func firesIn2024(_ text: String, count: Int = 5) throws -> [String] {
  let start = Date(timeIntervalSince1970: 1_704_067_200)
  return try Schedule(parsing: text).fires(after: start, anchor: start, timeZone: utc, count: count)
    .map { $0.formatted(.iso8601) }
}

@Suite("Schedule parsing")
struct ScheduleParsingTests {
  @Test(
    "accepts the standard syntax and gives canonical text",
    arguments: [
      ("*/15 9-17 * * MON-FRI", "*/15 9-17 * * MON-FRI"),
      ("  0   0\t* *  sun ", "0 0 * * SUN"),
      ("0 0 1 jan,Jul *", "0 0 1 JAN,JUL *"),
      ("5/15 * * * *", "5/15 * * * *"),
      ("0-30/10 0 1-31/2 */3 0-7", "0-30/10 0 1-31/2 */3 0-7"),
      ("@yearly", "@yearly"),
      ("@annually", "@yearly"),
      ("@monthly", "@monthly"),
      ("@weekly", "@weekly"),
      ("@daily", "@daily"),
      ("@midnight", "@daily"),
      ("@hourly", "@hourly"),
      ("@DAILY", "@daily"),
      ("@every 90m", "@every 1h30m"),
      ("@every 1.5s", "@every 1.5s"),
      ("@every 500ms", "@every 500ms"),
      ("@every 2h", "@every 2h"),
    ])
  func canonicalText(text: String, canonical: String) throws {
    let schedule = try Schedule(parsing: text)
    #expect(schedule.description == canonical)
    #expect("\(schedule)" == canonical)
    #expect(try Schedule(parsing: canonical) == schedule)
  }

  @Test("equality and hashing follow the canonical text")
  func equality() throws {
    #expect(try Schedule(parsing: "0 0 * * mon") == Schedule(parsing: "0  0 * * MON"))
    #expect(try Schedule(parsing: "@annually") == Schedule(parsing: "@yearly"))
    #expect(try Schedule(parsing: "@every 60m") == Schedule(parsing: "@every 1h"))
    #expect(try Schedule(parsing: "0 0 * * 1") != Schedule(parsing: "0 0 * * 2"))
    let set: Set<Schedule> = [try Schedule(parsing: "@midnight"), try Schedule(parsing: "@daily")]
    #expect(set.count == 1)
  }

  @Test("exposes the @every interval")
  func interval() throws {
    #expect(try Schedule(parsing: "@every 1h30m").interval == .seconds(5_400))
    #expect(try Schedule(parsing: "@hourly").interval == nil)
    #expect(try Schedule(parsing: "0 * * * *").interval == nil)
  }

  @Test(
    "reports the field, the offending text and what is allowed",
    arguments: [
      ("61 * * * *", "minute", "61", "minute field \"61\": value out of range 0-59"),
      ("0 24 * * *", "hour", "24", "hour field \"24\": value out of range 0-23"),
      ("0 0 0 * *", "day-of-month", "0", "day-of-month field \"0\": value out of range 1-31"),
      ("0 0 32 * *", "day-of-month", "32", "day-of-month field \"32\": value out of range 1-31"),
      ("0 0 * 13 *", "month", "13", "month field \"13\": value out of range 1-12 or JAN-DEC"),
      (
        "0 0 * * 8", "day-of-week", "8",
        "day-of-week field \"8\": value out of range 0-7 (0 and 7 are Sunday) or SUN-SAT"
      ),
      ("1,5,61 * * * *", "minute", "61", "minute field \"61\": value out of range 0-59"),
      ("50-70 * * * *", "minute", "50-70", "minute field \"50-70\": value 70 out of range 0-59"),
      (
        "0 0 * * FOO", "day-of-week", "FOO",
        "day-of-week field \"FOO\": unknown weekday \"FOO\"; use 0-7 or SUN, MON, TUE, WED, THU, FRI, SAT"
      ),
      (
        "0 0 * JANUARY *", "month", "JANUARY",
        "month field \"JANUARY\": unknown month \"JANUARY\"; "
          + "use 1-12 or JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC"
      ),
      ("a * * * *", "minute", "a", "minute field \"a\": \"a\" is not a number; allowed 0-59"),
      ("0 MON * * *", "hour", "MON", "hour field \"MON\": \"MON\" is not a number; allowed 0-23"),
      ("*/0 * * * *", "minute", "*/0", "minute field \"*/0\": step must be at least 1"),
      (
        "*/x * * * *", "minute", "*/x",
        "minute field \"*/x\": step \"x\" is not a number; a step is written like */15 (allowed 1-60)"
      ),
      (
        "*/90 * * * *", "minute", "*/90",
        "minute field \"*/90\": step 90 is larger than the field (60 values); allowed 1-60; "
          + "for longer intervals use e.g. @every 90m"
      ),
      (
        "0 */36 * * *", "hour", "*/36",
        "hour field \"*/36\": step 36 is larger than the field (24 values); allowed 1-24; "
          + "for longer intervals use e.g. @every 36h"
      ),
      (
        "5-1 * * * *", "minute", "5-1",
        "minute field \"5-1\": range start 5 is after its end 1; ranges do not wrap around"
      ),
      (
        "0 0 * * SAT-MON", "day-of-week", "SAT-MON",
        "day-of-week field \"SAT-MON\": range start 6 is after its end 1; ranges do not wrap around"
      ),
      (
        "-5 * * * *", "minute", "-5",
        "minute field \"-5\": negative values are not allowed; allowed 0-59"
      ),
      (
        "1-2-3 * * * *", "minute", "1-2-3",
        "minute field \"1-2-3\": a range is written like 1-5 (start-end); allowed 0-59"
      ),
      (
        "1/2/3 * * * *", "minute", "1/2/3",
        "minute field \"1/2/3\": more than one \"/\"; a step is written like */15 or 0-30/5"
      ),
      (
        "/5 * * * *", "minute", "/5",
        "minute field \"/5\": missing value before \"/\"; a step is written like */15 or 0-30/5"
      ),
      (
        "1,,2 * * * *", "minute", "1,,2",
        "minute field \"1,,2\": empty list element; separate values with single commas, e.g. 1,15,30"
      ),
      (
        "0 0 L * *", "day-of-month", "L",
        "day-of-month field \"L\": \"L\" is not a number; allowed 1-31 "
          + "(the L and W extensions are not supported)"
      ),
      (
        "0 0 * * 5#3", "day-of-week", "5#3",
        "day-of-week field \"5#3\": \"#\" (nth weekday of the month) is not supported; "
          + "allowed 0-7 (0 and 7 are Sunday) or SUN-SAT"
      ),
      (
        "0 0 ? * *", "day-of-month", "?",
        "day-of-month field \"?\": \"?\" is not supported; use * for any value"
      ),
    ])
  func fieldErrors(text: String, field: String, offending: String, message: String) throws {
    let error = try #require(parseError(text))
    #expect(error.description == message)
    #expect(error.field == field)
    #expect(error.text == offending)
  }

  @Test(
    "reports malformed expressions as a whole",
    arguments: [
      (
        "0 0 * * * *",
        "\"0 0 * * * *\" has 6 fields; expected 5 (minute hour day-of-month month day-of-week); "
          + "seconds and year fields are not supported"
      ),
      (
        "0 0 0 1 1 * 2030",
        "\"0 0 0 1 1 * 2030\" has 7 fields; expected 5 (minute hour day-of-month month day-of-week); "
          + "seconds and year fields are not supported"
      ),
      ("0 0 *", "\"0 0 *\" has 3 fields; expected 5 (minute hour day-of-month month day-of-week)"),
      ("daily", "\"daily\" has 1 field; expected 5 (minute hour day-of-month month day-of-week)"),
      (
        "  ",
        "empty schedule; expected 5 fields (minute hour day-of-month month day-of-week), "
          + "a macro such as @daily, or @every <duration>"
      ),
      (
        "@fortnightly",
        "unknown macro \"@fortnightly\"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
          + "@hourly or @every <duration>"
      ),
      (
        "@reboot",
        "\"@reboot\" is not supported (a schedule has no reboot); use @every <duration> or a cron expression"
      ),
      ("@daily 5", "\"@daily 5\": @daily takes no further fields"),
    ])
  func expressionErrors(text: String, message: String) throws {
    let error = try #require(parseError(text))
    #expect(error.description == message)
    #expect(error.field == nil)
    #expect(error.text == text)
  }

  @Test(
    "reports @every problems with the duration's own message",
    arguments: [
      ("@every 10", "10", "@every: \"10\" has no unit; use e.g. 10s, 10m, 1h"),
      ("@every -5m", "-5m", "@every: \"-5m\": negative durations are not allowed"),
      ("@every 0s", "0s", "@every: \"0s\": the interval must be greater than zero, e.g. @every 10s"),
      ("@every", "@every", "@every: missing duration; use e.g. @every 10m, @every 1h30m"),
      ("@every 1h 30m", "@every 1h 30m", "@every: takes exactly one duration (no spaces), e.g. @every 1h30m"),
      (
        "@every 10x", "10x",
        "@every: \"10x\": unknown unit \"x\"; allowed units are ns, us (µs), ms, s, m, h"
      ),
    ])
  func everyErrors(text: String, offending: String, message: String) throws {
    let error = try #require(parseError(text))
    #expect(error.description == message)
    #expect(error.field == "@every")
    #expect(error.text == offending)
  }

  @Test("Sunday is 0, 7 or SUN; names are case-insensitive; ranges may end on Sunday")
  func weekdaySpellings() throws {
    let sundays = try firesIn2024("0 12 * * 0")
    #expect(try firesIn2024("0 12 * * 7") == sundays)
    #expect(try firesIn2024("0 12 * * sun") == sundays)
    #expect(try firesIn2024("0 12 * * Sun") == sundays)
    #expect(sundays.first == "2024-01-07T12:00:00Z")
    let weekend = try firesIn2024("0 0 * * 5-7", count: 9)
    #expect(try firesIn2024("0 0 * * FRI-SUN", count: 9) == weekend)
    #expect(try firesIn2024("0 0 * * 5-0", count: 9) == weekend)
    #expect(try firesIn2024("0 0 * * 0,5,6", count: 9) == weekend)
    #expect(try firesIn2024("0 0 * * 0-7", count: 8) == firesIn2024("0 0 * * *", count: 8))
  }

  @Test("steps: */N from the minimum, A-B/N within the range, A/N up to the field maximum")
  func steps() throws {
    #expect(
      try firesIn2024("*/20 0 1 1 *", count: 4)
        == ["2024-01-01T00:20:00Z", "2024-01-01T00:40:00Z", "2025-01-01T00:00:00Z", "2025-01-01T00:20:00Z"])
    #expect(
      try firesIn2024("5/20 0 1 1 *", count: 4)
        == ["2024-01-01T00:05:00Z", "2024-01-01T00:25:00Z", "2024-01-01T00:45:00Z", "2025-01-01T00:05:00Z"])
    #expect(
      try firesIn2024("10-30/15 0 1 1 *", count: 3)
        == ["2024-01-01T00:10:00Z", "2024-01-01T00:25:00Z", "2025-01-01T00:10:00Z"])
    // Day-of-week A/N runs to Saturday (as croniter): MON/2 is Mon, Wed, Fri, not Sunday.
    #expect(
      try firesIn2024("0 0 * * MON/2", count: 4)
        == ["2024-01-03T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-08T00:00:00Z", "2024-01-10T00:00:00Z"])
    #expect(
      try firesIn2024("0 0 1 */5 *", count: 3) == [
        "2024-06-01T00:00:00Z", "2024-11-01T00:00:00Z", "2025-01-01T00:00:00Z",
      ])
    #expect(try firesIn2024("0 0 1 JAN/5 *", count: 2) == ["2024-06-01T00:00:00Z", "2024-11-01T00:00:00Z"])
    // A-A is just A (croniter reads it as the whole field).
    #expect(try firesIn2024("5-5 0 1 1 *", count: 2) == ["2024-01-01T00:05:00Z", "2025-01-01T00:05:00Z"])
  }

  @Test("day-of-month and day-of-week: either matches when both are restricted (Vixie)")
  func vixieDayRule() throws {
    // Both restricted: the 13th or any Friday.
    #expect(
      try firesIn2024("0 0 13 * 5", count: 5)
        == [
          "2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z", "2024-01-13T00:00:00Z", "2024-01-19T00:00:00Z",
          "2024-01-26T00:00:00Z",
        ])
    // Day-of-month starts with "*": both must match (odd days that are Fridays).
    #expect(
      try firesIn2024("0 0 */2 * 5", count: 3)
        == ["2024-01-05T00:00:00Z", "2024-01-19T00:00:00Z", "2024-02-09T00:00:00Z"])
    // Day-of-week starts with "*": both must match (the 1st, when it is a Sunday/Wednesday/Saturday).
    #expect(
      try firesIn2024("0 0 1 * */3", count: 3)
        == ["2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z"])
    // A day-of-week list covering every day still counts as restricted: every day matches.
    #expect(try firesIn2024("0 0 15 * 0-6", count: 3) == firesIn2024("0 0 * * *", count: 3))
  }
}
