import Foundation

// Finding the next fire time of a cron expression in a time zone.
//
// Wall-clock times are handled as "local seconds": the wall time read as if it were UTC, counted from
// 1970-01-01 00:00. Calendar arithmetic on them is plain proleptic Gregorian (days-from-civil), which is
// exact and far faster than asking Calendar for every candidate. The time zone enters only through
// TimeZone.secondsFromGMT(for:) and TimeZone.nextDaylightSavingTimeTransition(after:), which Foundation
// reports for every offset change (DST and standard-offset changes alike).
//
// The search walks the zone's offset segments (the spans between two transitions) forward from the start
// instant. Inside a segment the offset is constant, so local = instant + offset is monotonic and the
// next matching wall time is found field by field (month, then day, hour, minute), skipping whole
// non-matching months, days and hours; no minute-by-minute scan.
//
// DST, as Vixie cron does it (cron.c: it compares the wall-clock minute it wakes up at with the minute
// it expected, "virtual time", and treats a jump of up to 3 hours as DST):
//   * Spring forward (a gap of less than 3 hours): wildcard jobs (minute or hour field starting with
//     "*") fire only at wall times that exist. Fixed-time jobs (neither field starts with "*") whose
//     time falls into the skipped interval fire once, at the transition instant, i.e. right after the
//     jump (several skipped times, or a skipped time plus the first time after the jump, coalesce into
//     one fire). For a gap of at most 4 minutes Vixie catches up on every job, wildcard ones included.
//   * Fall back (an overlap of up to 3 hours and 1 minute): wildcard jobs fire at every wall time, so in
//     both passes of the repeated interval. Fixed-time jobs fire only in the first pass.
// Larger jumps are clock resets to Vixie, not DST: no catch-up in a gap and no suppression in an
// overlap. Time-zone offset changes of that size (e.g. Pacific/Apia skipping 2011-12-30) are handled
// the same way: every wall time that exists fires, each time it occurs, and skipped ones don't.

/// Vixie's limits, in seconds of offset change: gaps below 3 hours catch up fixed-time jobs, gaps of at
/// most 4 minutes catch up every job, overlaps of at most 3 hours 1 minute suppress fixed-time repeats.
private let fixedCatchUpLimit: Int64 = 3 * 3600 - 60
private let allCatchUpLimit: Int64 = 4 * 60
private let repeatSuppressionLimit: Int64 = 3 * 3600 + 60

/// How far the search goes before giving up (the Gregorian calendar repeats every 400 years, weekdays
/// included, so anything that can ever match does so within that span).
private let searchYears: Int64 = 401

extension CronSpec {
  /// The first fire time strictly after `date` in `timeZone`, or nil if there is none.
  func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
    let start = date.timeIntervalSince1970
    guard canMatchSomeDay, start.isFinite, abs(start) < 1e12 else { return nil }
    let horizon = start + Double(searchYears) * 366 * 86_400

    // Begin a little before `start` so that a transition just before it (whose repeated or skipped
    // wall times may lie after `start`) is known.
    let probe = Date(timeIntervalSince1970: start - Double(repeatSuppressionLimit) - 60)
    var offset = Int64(timeZone.secondsFromGMT(for: probe))
    var segmentStart: Int64?  // transition instant that starts the segment; nil for the first
    var previousOffset: Int64?
    var segmentEnd = nextTransition(after: probe, in: timeZone)

    while true {
      if let fire = fireInSegment(
        after: start, start: segmentStart, end: segmentEnd, offset: offset, previousOffset: previousOffset)
      {
        return Date(timeIntervalSince1970: fire)
      }
      guard let transition = segmentEnd, Double(transition) < horizon else { return nil }
      previousOffset = offset
      offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(transition))))
      segmentStart = transition
      segmentEnd = nextTransition(after: Date(timeIntervalSince1970: Double(transition)), in: timeZone)
      if let next = segmentEnd, next <= transition {
        segmentEnd = nextTransition(after: Date(timeIntervalSince1970: Double(transition + 1)), in: timeZone)
      }
    }
  }

  private func nextTransition(after date: Date, in timeZone: TimeZone) -> Int64? {
    guard let transition = timeZone.nextDaylightSavingTimeTransition(after: date) else { return nil }
    return Int64(transition.timeIntervalSince1970.rounded())
  }

  /// The first fire instant (seconds since 1970) strictly after `after` within the segment
  /// [start, end) of constant UTC offset `offset`, entered from a segment with `previousOffset`.
  private func fireInSegment(
    after: Double, start: Int64?, end: Int64?, offset: Int64, previousOffset: Int64?
  ) -> Double? {
    if let end, Double(end) <= after { return nil }
    // Smallest whole-minute wall time whose instant is strictly after `after`.
    var low = Int64(((after + Double(offset)) / 60).rounded(.down)) * 60 + 60
    if let start {
      low = max(low, start + offset)
      if let previousOffset {
        let change = offset - previousOffset
        if change > 0 && Double(start) > after
          && (change <= allCatchUpLimit || (isFixedTime && change <= fixedCatchUpLimit))
        {
          // Spring forward: a job due in the skipped wall interval fires right after the jump.
          if nextWallTime(atOrAfter: start + previousOffset, before: start + offset) != nil {
            return Double(start)
          }
        } else if change < 0 && -change <= repeatSuppressionLimit && isFixedTime {
          // Fall back: the repeated wall interval already ran in the first pass.
          low = max(low, start + previousOffset)
        }
      }
    }
    let high = end.map { $0 + offset } ?? Int64.max
    guard let wall = nextWallTime(atOrAfter: low, before: high) else { return nil }
    return Double(wall - offset)
  }

  /// The first matching wall time (local seconds, whole minute) in [low, high), skipping by field.
  func nextWallTime(atOrAfter low: Int64, before high: Int64) -> Int64? {
    let first = ceilDiv(low, 60) * 60
    guard first < high else { return nil }
    var dayNumber = floorDiv(first, 86_400)
    let secondOfDay = first - dayNumber * 86_400
    var hour = Int(secondOfDay / 3_600)
    var minute = Int(secondOfDay % 3_600 / 60)
    var (year, month, day) = civilFromDays(dayNumber)
    let lastYear = year + searchYears

    func startMonth(_ newYear: Int64, _ newMonth: Int) {
      (year, month, day, hour, minute) = (newYear, newMonth, 1, 0, 0)
      dayNumber = daysFromCivil(year, month, 1)
    }
    func nextDay() {
      day += 1
      dayNumber += 1
      (hour, minute) = (0, 0)
    }

    while year <= lastYear {
      if dayNumber * 86_400 >= high { return nil }
      if months & (1 << UInt64(month)) == 0 {
        if let next = nextBit(months, from: month + 1, through: 12) {
          startMonth(year, next)
        } else {
          startMonth(year + 1, nextBit(months, from: 1, through: 12) ?? 1)
        }
        continue
      }
      if day > daysIn(year, month) {
        if month == 12 { startMonth(year + 1, 1) } else { startMonth(year, month + 1) }
        continue
      }
      if !dayMatches(day: day, weekday: weekday(dayNumber)) {
        nextDay()
        continue
      }
      guard let matchingHour = nextBit(hours, from: hour, through: 23) else {
        nextDay()
        continue
      }
      if matchingHour != hour { (hour, minute) = (matchingHour, 0) }
      guard let matchingMinute = nextBit(minutes, from: minute, through: 59) else {
        (hour, minute) = (hour + 1, 0)
        continue
      }
      let wall = dayNumber * 86_400 + Int64(hour * 3_600 + matchingMinute * 60)
      return wall < high ? wall : nil
    }
    return nil
  }

  private func dayMatches(day: Int, weekday: Int) -> Bool {
    let dayOfMonthMatches = daysOfMonth & (1 << UInt64(day)) != 0
    let dayOfWeekMatches = daysOfWeek & (1 << UInt64(weekday)) != 0
    return daysMatchEither
      ? (dayOfMonthMatches || dayOfWeekMatches) : (dayOfMonthMatches && dayOfWeekMatches)
  }
}

/// The lowest set bit in `from...through`, if any.
private func nextBit(_ bits: UInt64, from: Int, through: Int) -> Int? {
  guard from <= through, from < 64 else { return nil }
  let masked = bits & (UInt64.max << UInt64(from))
  guard masked != 0 else { return nil }
  let bit = masked.trailingZeroBitCount
  return bit <= through ? bit : nil
}

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
  let q = a / b
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

private func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 {
  -floorDiv(-a, b)
}

/// 0 = Sunday ... 6 = Saturday, for days since 1970-01-01 (a Thursday).
private func weekday(_ dayNumber: Int64) -> Int {
  Int(((dayNumber % 7) + 11) % 7)
}

private func isLeapYear(_ year: Int64) -> Bool {
  year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

private func daysIn(_ year: Int64, _ month: Int) -> Int {
  switch month {
  case 2: isLeapYear(year) ? 29 : 28
  case 4, 6, 9, 11: 30
  default: 31
  }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
private func daysFromCivil(_ year: Int64, _ month: Int, _ day: Int) -> Int64 {
  let y = month <= 2 ? year - 1 : year
  let era = (y >= 0 ? y : y - 399) / 400
  let yearOfEra = y - era * 400
  let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
  let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
  let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01).
private func civilFromDays(_ dayNumber: Int64) -> (year: Int64, month: Int, day: Int) {
  let z = dayNumber + 719_468
  let era = (z >= 0 ? z : z - 146_096) / 146_097
  let dayOfEra = z - era * 146_097
  let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
  let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
  let shiftedMonth = (5 * dayOfYear + 2) / 153
  let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
  let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
  return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}
