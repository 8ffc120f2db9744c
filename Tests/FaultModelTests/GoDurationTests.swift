import Foundation
import Testing

@testable import FaultModel

@Suite("Go-style durations")
struct GoDurationTests {
  @Test(
    "parses units, compounds and fractions",
    arguments: [
      ("10m", Duration.seconds(600)),
      ("1h30m", .seconds(5_400)),
      ("1.5s", .milliseconds(1_500)),
      ("500ms", .milliseconds(500)),
      ("2h", .seconds(7_200)),
      ("1ns", .nanoseconds(1)),
      ("250us", .microseconds(250)),
      ("250µs", .microseconds(250)),  // U+00B5 micro sign
      ("250μs", .microseconds(250)),  // U+03BC Greek mu
      ("1h1m1s1ms1us1ns", .nanoseconds(3_661_001_001_001)),
      ("30m1h", .seconds(5_400)),  // any order, as in Go
      (".5h", .seconds(1_800)),
      ("2.h", .seconds(7_200)),
      ("1.0000000001s", .seconds(1)),  // below a nanosecond is truncated
      ("0s", .zero),
      ("+5s", .seconds(5)),
      ("2562047h47m16.854775807s", .nanoseconds(Int64.max)),
    ])
  func parses(text: String, expected: Duration) throws {
    #expect(try parseGoDuration(text) == expected)
  }

  @Test(
    "rejects malformed durations with a message that says what is allowed",
    arguments: [
      ("10", "\"10\" has no unit; use e.g. 10s, 10m, 1h"),
      ("0", "\"0\" has no unit; use e.g. 10s, 10m, 1h"),
      ("1.5", "\"1.5\" has no unit; use e.g. 10s, 10m, 1h"),
      ("-5s", "\"-5s\": negative durations are not allowed"),
      ("", "empty duration; use e.g. 10s, 1h30m, 1.5s, 500ms"),
      ("1h30", "\"1h30\": missing unit after \"30\"; allowed units are ns, us (µs), ms, s, m, h"),
      ("10x", "\"10x\": unknown unit \"x\"; allowed units are ns, us (µs), ms, s, m, h"),
      ("10S", "\"10S\": unknown unit \"S\"; allowed units are ns, us (µs), ms, s, m, h"),
      ("5 m", "\"5 m\": spaces are not allowed in a duration; use e.g. 10s, 1h30m, 1.5s, 500ms"),
      ("abc", "\"abc\": not a duration; use e.g. 10s, 1h30m, 1.5s, 500ms"),
      ("h", "\"h\": expected a number before \"h\"; use e.g. 10s, 1h30m, 1.5s, 500ms"),
      (".s", "\".s\": expected a number before \"s\"; use e.g. 10s, 1h30m, 1.5s, 500ms"),
      ("+", "\"+\": not a duration; use e.g. 10s, 1h30m, 1.5s, 500ms"),
      (
        "2562048h",
        "\"2562048h\": too large; the maximum is 2562047h47m16.854775807s (about 292 years)"
      ),
      (
        "99999999999999999999s",
        "\"99999999999999999999s\": too large; the maximum is 2562047h47m16.854775807s (about 292 years)"
      ),
    ])
  func rejects(text: String, message: String) {
    #expect(throws: DurationParseError(text, message)) { try parseGoDuration(text) }
    do throws(DurationParseError) {
      _ = try parseGoDuration(text)
    } catch {
      #expect(error.description == message)
      #expect(error.text == text)
    }
  }

  @Test(
    "formats canonically and round-trips",
    arguments: [
      (Duration.seconds(5_400), "1h30m"),
      (.seconds(7_200), "2h"),
      (.milliseconds(1_500), "1.5s"),
      (.milliseconds(500), "500ms"),
      (.microseconds(1_500), "1.5ms"),
      (.nanoseconds(1_500), "1.5us"),
      (.nanoseconds(7), "7ns"),
      (.milliseconds(60_500), "1m0.5s"),
      (.seconds(3_601), "1h1s"),
      (.zero, "0s"),
      (.nanoseconds(Int64.max), "2562047h47m16.854775807s"),
    ])
  func formats(duration: Duration, text: String) throws {
    #expect(formatGoDuration(duration) == text)
    #expect(try parseGoDuration(text) == duration)
  }

  @Test("negative durations format with a sign")
  func formatsNegative() {
    #expect(formatGoDuration(.seconds(-90)) == "-1m30s")
    #expect(formatGoDuration(.milliseconds(-5)) == "-5ms")
  }
}
