import Foundation
import Testing

@testable import FaultModel

// Checks the cron engine against two independent references:
//
//  1. croniter (Python), run once for a few hundred generated and hand-picked expressions in six zones.
//     croniter is told to use Vixie's day-of-month/day-of-week rule (implement_cron_bug=True: when either
//     day field starts with "*", both must match). Its DST handling is not Vixie's: it fires fixed-time
//     jobs in both passes of a fall-back overlap, and after a spring-forward gap it decides catch-up by
//     whether the hour field expands to every hour rather than by Vixie's "minute or hour starts with *"
//     rule. So fire times within one offset change of a transition are left out of that comparison;
//     they are covered by the simulation below and by the explicit cases in ScheduleDSTTests.
//
//  2. A minute-by-minute simulation of Vixie cron's main loop (cron.c: virtual time vs. wall-clock time,
//     with its small/medium/negative/large jump cases) over windows around DST transitions, with wall
//     clock times from Calendar and the generator's own value sets. It covers exactly the DST instants
//     left out of (1).

// MARK: - Expression generator

/// A generated expression together with what it means, worked out independently of the parser.
private struct GeneratedExpression {
  var text: String
  /// Allowed values per field as bit masks (minute, hour, day-of-month, month, day-of-week with 7
  /// folded into 0).
  var masks: [UInt64]
  /// Whether each field's text starts with "*" (Vixie's *_STAR flags).
  var stars: [Bool]

  var isFixedTime: Bool { !stars[0] && !stars[1] }

  func matches(_ wall: WallTime) -> Bool {
    func has(_ field: Int, _ value: Int) -> Bool { masks[field] & (1 << UInt64(value)) != 0 }
    guard has(0, wall.minute), has(1, wall.hour), has(3, wall.month) else { return false }
    let dayOfMonth = has(2, wall.day)
    let dayOfWeek = has(4, wall.weekday)
    return (stars[2] || stars[4]) ? (dayOfMonth && dayOfWeek) : (dayOfMonth || dayOfWeek)
  }
}

private struct WallTime {
  var minute: Int
  var hour: Int
  var day: Int
  var month: Int
  /// 0 = Sunday.
  var weekday: Int
}

/// SplitMix64: small, fast, deterministic.
private struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

private let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
private let weekdayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

/// Per field: lowest value, highest written value, highest value that "*" stands for.
private let fieldLimits: [(low: Int, high: Int, wildcardHigh: Int)] = [
  (0, 59, 59), (0, 23, 23), (1, 31, 31), (1, 12, 12), (0, 7, 6),
]

private func mask<S: Sequence<Int>>(_ values: S, field: Int) -> UInt64 {
  values.reduce(0) { $0 | 1 << UInt64(field == 4 ? $1 % 7 : $1) }
}

private struct ExpressionGenerator {
  var rng: SeededGenerator

  mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
  mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

  /// Writes a value, now and then as a name (in random case) for months and weekdays.
  mutating func write(_ value: Int, field: Int) -> String {
    let name: String? = field == 3 ? monthNames[value - 1] : field == 4 ? weekdayNames[value % 7] : nil
    guard let name, chance(35) else { return "\(value)" }
    switch int(0...2) {
    case 0: return name
    case 1: return name.lowercased()
    default: return name.prefix(1) + name.dropFirst().lowercased()
    }
  }

  /// The end of a range. "0-SUN" would be Sunday alone (and "SUN-SUN" the whole week to croniter), so a
  /// day-of-week range from Sunday to Sunday is always written 0-7.
  mutating func writeEnd(_ start: Int, _ end: Int, field: Int) -> String {
    field == 4 && start == 0 && end == 7 ? "7" : write(end, field: field)
  }

  /// One list element that does not start with "*": A, A-B, A-B/S or A/S.
  mutating func element(field: Int) -> (String, UInt64) {
    let (low, high, wildcardHigh) = fieldLimits[field]
    switch int(0...9) {
    case 0...3:
      let value = int(low...high)
      return (write(value, field: field), mask([value], field: field))
    case 4...6:
      let a = int(low...(high - 1))
      let b = int((a + 1)...high)
      return ("\(write(a, field: field))-\(writeEnd(a, b, field: field))", mask(a...b, field: field))
    case 7...8:
      let a = int(low...(high - 2))
      let b = int((a + 1)...high)
      let step = int(2...max(2, b - a))
      let text = "\(write(a, field: field))-\(writeEnd(a, b, field: field))/\(step)"
      return (text, mask(stride(from: a, through: b, by: step), field: field))
    default:
      let a = int(low...wildcardHigh)
      let step = int(2...max(2, (wildcardHigh - low + 1) / 2))
      return (
        "\(write(a, field: field))/\(step)",
        mask(stride(from: a, through: wildcardHigh, by: step), field: field)
      )
    }
  }

  mutating func field(_ field: Int, starPercent: Int) -> (String, UInt64, Bool) {
    let (low, _, wildcardHigh) = fieldLimits[field]
    if chance(starPercent) {
      if chance(60) { return ("*", mask(low...wildcardHigh, field: field), true) }
      let step = int(2...max(2, (wildcardHigh - low + 1) / 2))
      return ("*/\(step)", mask(stride(from: low, through: wildcardHigh, by: step), field: field), true)
    }
    var parts: [String] = []
    var values: UInt64 = 0
    for _ in 0..<(chance(25) ? int(2...3) : 1) {
      let (text, bits) = element(field: field)
      parts.append(text)
      values |= bits
    }
    return (parts.joined(separator: ","), values, false)
  }

  mutating func expression() -> GeneratedExpression {
    let starPercents = [55, 35, 75, 80, 75]
    var texts: [String] = []
    var masks: [UInt64] = []
    var stars: [Bool] = []
    for index in 0..<5 {
      let (text, bits, star) = field(index, starPercent: starPercents[index])
      texts.append(text)
      masks.append(bits)
      stars.append(star)
    }
    return GeneratedExpression(text: texts.joined(separator: " "), masks: masks, stars: stars)
  }
}

/// Works out the meaning of a hand-picked expression without the engine. Only numbers, "*", "*/S",
/// "A-B", "A-B/S", "A/S" and lists (the named variants below are checked against these).
private func reference(_ text: String) -> GeneratedExpression {
  var masks: [UInt64] = []
  var stars: [Bool] = []
  for (index, field) in text.split(separator: " ").enumerated() {
    let (low, _, wildcardHigh) = fieldLimits[index]
    var bits: UInt64 = 0
    for element in field.split(separator: ",") {
      let parts = element.split(separator: "/")
      let step = parts.count == 2 ? Int(parts[1])! : 1
      var (a, b) = (low, wildcardHigh)
      if parts[0] != "*" {
        if parts[0].contains("-") {
          let ends = parts[0].split(separator: "-")
          (a, b) = (Int(ends[0])!, Int(ends[1])!)
        } else {
          a = Int(parts[0])!
          b = parts.count == 2 ? wildcardHigh : a
        }
      }
      bits |= mask(stride(from: a, through: b, by: step), field: index)
    }
    masks.append(bits)
    stars.append(field.hasPrefix("*"))
  }
  return GeneratedExpression(text: text, masks: masks, stars: stars)
}

/// Hand-picked expressions: common shapes, month-length and leap-day edges, Vixie's day rule both ways,
/// impossible dates, and times that sit in DST gaps and overlaps of the test zones.
private let handPicked: [String] = [
  "* * * * *", "0 0 * * *", "*/15 * * * *", "0 9-17 * * 1-5", "30 2 * * *", "30 1 * * *",
  "0 2 * * *", "0 3 * * *", "0,30 2 * * *", "0-59/15 2 * * *", "*/15 2 * * *", "0 */2 * * *",
  "30 * * * *", "0 0 29 2 *", "0 0 31 * *", "0 0 1 1 *", "59 23 31 12 *", "0 0 13 * 5",
  "0 0 */2 * 5", "0 12 * * 7", "0 12 * * 0", "0 0 1-7 * 1", "0,30 1-3 * * *", "5/15 * * * *",
  "0 */6 * * *", "0 0 * 1,7 *", "0 0 1 */3 *", "15 3 * * 6-7", "0 0 * * 5-7", "0 0 31 2 *",
  "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 1", "0 0 */31 * *", "0 22 * * 1-5", "*/7 * * * *",
  "0 0 15 * *", "0 * * * *", "0 0 * * 0", "0 0 1 * *", "45 23 * * *", "30 0 * * *", "0 1 * * *",
  "0-10 2 * * *", "59 1 * * *", "0 0 29 2 */7", "1-59/2 0-5 * * *", "0 0,12 1,15 * 3",
  "0 23 * * *", "30 23 * * 6", "*/20 1 * * *", "0,20,40 1 * * *", "15 2 * * *", "45 1 * * *",
  "0 0 * * 1-7", "0 0 15 * 0-6", "0 0 1-31 * 1", "0 0 * * 7",
]

/// Named spellings of expressions above, to check name handling against both references.
private let handPickedWithNames: [(named: String, numeric: String)] = [
  ("0 9-17 * * MON-FRI", "0 9-17 * * 1-5"), ("0 0 * JAN,JUL *", "0 0 * 1,7 *"),
  ("15 3 * * SAT-SUN", "15 3 * * 6-7"), ("0 0 * * fri-sun", "0 0 * * 5-7"),
  ("0 0 1 jan/3 *", "0 0 1 1/3 *"), ("0 12 * * Sun", "0 12 * * 0"), ("0 0 * * MON/2", "0 0 * * 1/2"),
]

private let referenceZones = [
  "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo",
]

private func allExpressions() -> [GeneratedExpression] {
  var generator = ExpressionGenerator(rng: SeededGenerator(state: 0x5EED_C0FF_EE15_2024))
  var expressions = handPicked.map(reference)
  for (named, numeric) in handPickedWithNames {
    var expression = reference(numeric)
    expression.text = named
    expressions.append(expression)
  }
  var seen = Set(expressions.map(\.text))
  while expressions.count < 360 {
    let expression = generator.expression()
    if seen.insert(expression.text).inserted { expressions.append(expression) }
  }
  return expressions
}

/// Offset changes of `zone` in [from, to): instant, offset before and after (seconds).
private func transitions(_ zone: TimeZone, from: Double, to: Double) -> [(
  at: Double, before: Int, after: Int
)] {
  var result: [(at: Double, before: Int, after: Int)] = []
  var cursor = Date(timeIntervalSince1970: from)
  while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next.timeIntervalSince1970 < to {
    let at = next.timeIntervalSince1970
    result.append((at, zone.secondsFromGMT(for: next - 1), zone.secondsFromGMT(for: next)))
    cursor = next
  }
  return result
}

private let year2016 = 1_451_606_400.0  // 2016-01-01T00:00:00Z
private let year2030 = 1_893_456_000.0  // 2030-01-01T00:00:00Z
private let year2032 = 1_956_528_000.0  // 2032-01-01T00:00:00Z

// MARK: - croniter

private struct ReferenceCase: Codable {
  var expr: String
  var zone: String
  var start: Double
  var count: Int
}

private struct ReferenceResult: Codable {
  var fires: [Double]
  var error: String?
}

private let croniterScript = #"""
  import json, sys
  try:
      from croniter import croniter
  except ImportError as exc:
      print(f"croniter is not importable: {exc}", file=sys.stderr)
      sys.exit(3)
  from datetime import datetime
  from zoneinfo import ZoneInfo

  cases = json.load(open(sys.argv[1]))
  zones = {}
  results = []
  for case in cases:
      tz = zones.setdefault(case["zone"], ZoneInfo(case["zone"]))
      fires, error = [], None
      try:
          it = croniter(case["expr"], datetime.fromtimestamp(case["start"], tz), implement_cron_bug=True)
          for _ in range(case["count"]):
              fires.append(it.get_next(datetime).timestamp())
      except Exception as exc:  # CroniterBadDateError for expressions that never match
          error = f"{type(exc).__name__}: {exc}"
      results.append({"fires": fires, "error": error})
  json.dump(results, open(sys.argv[2], "w"))
  """#

private let installHint = "install croniter: pip install croniter (make test does this)"

/// Runs the croniter script once for all cases. Records an issue and returns nil when python3 or
/// croniter is missing, so that the test fails instead of passing silently.
private func runCroniter(_ cases: [ReferenceCase]) throws -> [ReferenceResult]? {
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("faultline-croniter-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  let script = directory.appendingPathComponent("reference.py")
  let input = directory.appendingPathComponent("cases.json")
  let output = directory.appendingPathComponent("results.json")
  let errors = directory.appendingPathComponent("stderr.txt")
  try croniterScript.write(to: script, atomically: true, encoding: .utf8)
  try JSONEncoder().encode(cases).write(to: input)
  _ = FileManager.default.createFile(atPath: errors.path, contents: nil)

  let python = ProcessInfo.processInfo.environment["FAULTLINE_PYTHON"] ?? "python3"
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = [python, script.path, input.path, output.path]
  process.standardOutput = FileHandle.nullDevice
  process.standardError = try FileHandle(forWritingTo: errors)
  do {
    try process.run()
  } catch {
    Issue.record("\(installHint) (could not start \(python): \(error))")
    return nil
  }
  process.waitUntilExit()
  let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
  guard process.terminationStatus == 0 else {
    let cause =
      switch process.terminationStatus {
      case 127: "\(python) was not found on PATH"
      case 3: "\(python) cannot import croniter"
      default: "\(python) exited with status \(process.terminationStatus)"
      }
    Issue.record("\(installHint) (\(cause)) \(stderr)")
    return nil
  }
  return try JSONDecoder().decode([ReferenceResult].self, from: Data(contentsOf: output))
}

private func iso(_ seconds: Double) -> String {
  Date(timeIntervalSince1970: seconds).formatted(.iso8601)
}

@Suite("Cron engine against independent references")
struct ScheduleReferenceTests {
  @Test("agrees with croniter on hundreds of expressions in six time zones")
  func agreesWithCroniter() throws {
    let expressions = allExpressions()
    let firesPerCase = 12
    var rng = SeededGenerator(state: 42)
    var cases: [ReferenceCase] = []
    var schedules: [Schedule] = []
    for zoneName in referenceZones {
      let zone = try #require(TimeZone(identifier: zoneName))
      let zoneTransitions = transitions(zone, from: year2016, to: year2032)
      for expression in expressions {
        var start: Double
        if !zoneTransitions.isEmpty && Int.random(in: 0..<3, using: &rng) == 0 {
          // Shortly before a transition, so that fires right around it are exercised too.
          let transition = zoneTransitions.randomElement(using: &rng)!.at
          start = transition - Double.random(in: 0...(40 * 3600), using: &rng)
        } else {
          start = Double.random(in: year2016...year2030, using: &rng)
        }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: start = (start / 60).rounded(.down) * 60  // on a minute boundary, maybe a fire time
        case 1: start = start.rounded(.down)
        default: break  // fractional seconds
        }
        cases.append(ReferenceCase(expr: expression.text, zone: zoneName, start: start, count: firesPerCase))
        schedules.append(try Schedule(parsing: expression.text))
      }
    }

    guard let results = try runCroniter(cases) else { return }
    try #require(results.count == cases.count)

    var compared = 0
    var excluded = 0
    var neverFire = 0
    var mismatches: [String] = []
    for (index, testCase) in cases.enumerated() {
      let zone = TimeZone(identifier: testCase.zone)!
      let start = Date(timeIntervalSince1970: testCase.start)
      let reference = results[index]
      let ours = schedules[index].fires(after: start, anchor: start, timeZone: zone, count: firesPerCase + 8)
        .map(\.timeIntervalSince1970)
      guard let referenceEnd = reference.fires.last else {
        // croniter found nothing within its 50-year search: the expression never matches.
        neverFire += 1
        if !ours.isEmpty {
          mismatches.append(
            "\(testCase.expr) in \(testCase.zone): croniter \(reference.error ?? "-"), we fire")
        }
        continue
      }
      // Compare over the span both lists cover.
      let end = ours.count == firesPerCase + 8 ? min(referenceEnd, ours.last!) : referenceEnd
      // DST instants: croniter's DST rules are not Vixie's (see the top of this file); these instants
      // are checked against the Vixie simulation instead.
      let windows = transitions(zone, from: testCase.start - 86_400, to: end + 86_400).map { transition in
        let change = Double(abs(transition.after - transition.before))
        return (transition.at - change)...(transition.at + change)
      }
      func kept(_ fires: [Double]) -> [Int64] {
        fires.filter { fire in
          fire > testCase.start && fire <= end && !windows.contains { $0.contains(fire) }
        }
        .map { Int64($0.rounded()) }
      }
      let theirs = kept(reference.fires)
      let mine = kept(ours)
      excluded += reference.fires.filter { fire in windows.contains { $0.contains(fire) } }.count
      compared += theirs.count
      if theirs != mine {
        mismatches.append(
          "\(testCase.expr) in \(testCase.zone) after \(iso(testCase.start)) (\(testCase.start)):\n"
            + "  croniter \(theirs.map { iso(Double($0)) })\n  ours     \(mine.map { iso(Double($0)) })")
      }
    }
    #expect(
      mismatches.isEmpty,
      "\(mismatches.count) of \(cases.count) cases differ:\n\(mismatches.prefix(8).joined(separator: "\n"))")
    #expect(compared > cases.count * 9, "too few fire times compared: \(compared) (\(excluded) excluded)")
    print(
      "croniter comparison: \(expressions.count) expressions x \(referenceZones.count) zones = "
        + "\(cases.count) cases (\(neverFire) never fire), \(compared) fire times compared, "
        + "\(excluded) in DST windows left to the Vixie simulation")
  }

  @Test("follows a simulation of Vixie cron's clock handling around DST transitions")
  func agreesWithVixieSimulation() throws {
    let expressions = Array(allExpressions().prefix(handPicked.count + handPickedWithNames.count + 140))
    var windows: [(zone: String, transition: Double)] = []
    for zoneName in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo"] {
      let zone = try #require(TimeZone(identifier: zoneName))
      // Two springs and two falls per zone (Sao Paulo stopped DST in 2019).
      let from = zoneName == "America/Sao_Paulo" ? 1_483_228_800.0 : 1_704_067_200.0  // 2017 or 2024
      for transition in transitions(zone, from: from, to: from + 2 * 366 * 86_400).prefix(4) {
        windows.append((zoneName, transition.at))
      }
    }
    windows.append(("Pacific/Apia", 1_325_239_200))  // 2011-12-30 skipped: a 24-hour jump, not DST
    windows.append(("Europe/Moscow", 1_414_274_400))  // 2014-10-26: +04 to +03 for good, an overlap

    var utc = Calendar(identifier: .gregorian)
    utc.timeZone = TimeZone(identifier: "UTC")!
    let parts: Set<Calendar.Component> = [.minute, .hour, .day, .month, .weekday]
    func wallTime(_ components: DateComponents) -> WallTime {
      WallTime(
        minute: components.minute!, hour: components.hour!, day: components.day!, month: components.month!,
        weekday: components.weekday! - 1)
    }
    /// A wall-clock minute that no real minute shows (skipped by a jump); Vixie still evaluates jobs at
    /// it. Its fields are those of the local minute number read as UTC.
    func skippedWallTime(localMinute: Int) -> WallTime {
      wallTime(utc.dateComponents(parts, from: Date(timeIntervalSince1970: Double(localMinute * 60))))
    }

    var mismatches: [String] = []
    var checkedFires = 0
    for (zoneName, transition) in windows {
      let zone = TimeZone(identifier: zoneName)!
      var calendar = Calendar(identifier: .gregorian)
      calendar.timeZone = zone
      let first = (transition / 60).rounded(.down) * 60 - 30 * 3600
      let minutes = 60 * 60
      // The wall clock at each real minute (from Calendar) and its local minute number.
      var wall: [WallTime] = []
      var local: [Int] = []
      for step in 0...minutes {
        let date = Date(timeIntervalSince1970: first + Double(step * 60))
        wall.append(wallTime(calendar.dateComponents(parts, from: date)))
        local.append(Int((date.timeIntervalSince1970 + Double(zone.secondsFromGMT(for: date))) / 60))
      }

      for expression in expressions {
        // Vixie cron.c main loop, waking up once per real minute.
        var simulated: [Double] = []
        var virtualTime = local[0]
        for index in 1...minutes {
          let running = local[index]
          let diff = running - virtualTime
          var fired = false
          if diff == 1 {
            virtualTime = running
            fired = expression.matches(wall[index])
          } else if diff > 180 || diff < -180 {  // large: the clock was reset; run what is due now
            virtualTime = running
            fired = expression.matches(wall[index])
          } else if diff > 5 {  // medium: DST began; wildcard jobs now, fixed-time jobs catch up
            fired = !expression.isFixedTime && expression.matches(wall[index])
            while virtualTime < running {
              virtualTime += 1
              if expression.isFixedTime && expression.matches(skippedWallTime(localMinute: virtualTime)) {
                fired = true
              }
            }
          } else if diff > 0 {  // small: woke up late; every job catches up
            while virtualTime < running {
              virtualTime += 1
              if expression.matches(skippedWallTime(localMinute: virtualTime)) { fired = true }
            }
          } else {  // negative: DST ended; only wildcard jobs until the clock catches up
            fired = !expression.isFixedTime && expression.matches(wall[index])
          }
          if fired { simulated.append(first + Double(index * 60)) }
        }

        let schedule = try Schedule(parsing: expression.text)
        let startDate = Date(timeIntervalSince1970: first)
        var ours: [Double] = []
        var cursor = startDate
        while let next = schedule.nextFire(after: cursor, anchor: startDate, timeZone: zone),
          next.timeIntervalSince1970 <= first + Double(minutes * 60)
        {
          ours.append(next.timeIntervalSince1970)
          cursor = next
        }
        checkedFires += simulated.count
        if ours != simulated {
          let onlyVixie = Set(simulated).subtracting(ours).sorted().prefix(4).map(iso)
          let onlyOurs = Set(ours).subtracting(simulated).sorted().prefix(4).map(iso)
          mismatches.append(
            "\(expression.text) in \(zoneName) near \(iso(transition)): "
              + "only Vixie \(onlyVixie), only ours \(onlyOurs)"
          )
        }
      }
    }
    #expect(
      mismatches.isEmpty, "\(mismatches.count) differ:\n\(mismatches.prefix(8).joined(separator: "\n"))")
    #expect(checkedFires > 10_000)
    print(
      "Vixie simulation: \(expressions.count) expressions x \(windows.count) transition windows, "
        + "\(checkedFires) fire times")
  }
}
