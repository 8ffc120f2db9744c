import Foundation

/// What a crash soak saw, in test-clock seconds, and the rule that says which faults outlived their
/// window by more than the restart time. Every sample that saw a fault must be explained by one of:
/// - a window opened by then (seen at most `slack` after the sample), until that window's scheduled
///   end plus the time an agent takes to start and reconcile (a live agent starved of CPU is allowed
///   no more than a restarted one);
/// - a kill while the fault may have been there, until the restarted agent had reconciled.
/// A sample later than every explanation, beyond `slack`, is an overrun.
///
/// Each sample is judged by the windows opened up to it, not only by the one that opened the
/// presence: the sampler pauses (it reads only the log while it waits to kill within milliseconds of
/// a window opening), and a reconcile or a revert can be followed by the next window before a
/// sample sees the gap, so one presence can span several windows. A sample is timed when it started:
/// a fault seen then is certainly there then, so a slow `tc` under TCG cannot lengthen a fault.
struct SoakTimeline {
  /// A window the agent logged as opened: when the test read the `fire` line, and its `until`.
  struct Fire {
    var profile: String
    var seen: Double
    var until: Double
  }

  /// A `kill -9`, and when the next agent said it had reconciled (nil if it never did).
  struct Kill {
    var at: Double
    var ready: Double?
  }

  /// A run of samples in which a namespace had a fault: from the first sample that saw it to the
  /// first that did not (nil while it is still there), every sample that saw it, and the last
  /// sample before it that did not (the fault appeared somewhere after that one).
  struct Presence {
    var profile: String
    var start: Double
    var end: Double?
    var seen: [Double]
    var absentBefore: Double

    /// `seen` is never empty: a presence starts with the sample that saw it.
    var lastSeen: Double { seen.last! }
  }

  /// A presence seen at `at`, later than the rule allowed (`allowedUntil`), by `seconds`: its worst
  /// sample.
  struct Overrun {
    var presence: Presence
    var at: Double
    var allowedUntil: Double
    var seconds: Double
  }

  var fires: [Fire] = []
  var kills: [Kill] = []
  var presences: [Presence] = []
  /// Per profile, the last sample that saw no fault.
  private var lastAbsent: [String: Double] = [:]
  /// The longest a window may open before its fault shows, and how late a sample may be.
  var slack: Double
  /// The length of a window, to find the fire that opened a presence.
  var windowLength: Double

  init(windowLength: Double, slack: Double) {
    self.windowLength = windowLength
    self.slack = slack
  }

  /// Records one sample, started at `time`, of whether `profile`'s namespace has a fault.
  mutating func sample(_ profile: String, present: Bool, at time: Double) {
    let open = presences.lastIndex { $0.profile == profile && $0.end == nil }
    switch (present, open) {
    case (true, nil):
      presences.append(
        Presence(
          profile: profile, start: time, end: nil, seen: [time], absentBefore: lastAbsent[profile] ?? 0))
    case (true, let index?): presences[index].seen.append(time)
    case (false, let index?): presences[index].end = time
    case (false, nil): break
    }
    if !present { lastAbsent[profile] = time }
  }

  /// Every presence with a sample later than its explanations allow (by more than `slack`), each
  /// by its worst sample.
  func overruns(restartTime: Double) -> [Overrun] {
    presences.compactMap { presence in
      presence.seen.map { time in
        let allowed = allowedUntil(presence, at: time, restartTime: restartTime)
        return Overrun(presence: presence, at: time, allowedUntil: allowed, seconds: time - allowed)
      }.filter { $0.seconds > 0 }.max { $0.seconds < $1.seconds }
    }
  }

  /// How long the explanations known at `time` let `presence` stay.
  private func allowedUntil(_ presence: Presence, at time: Double, restartTime: Double) -> Double {
    // The windows opened by then: from at most one window before the fault first showed (its fire
    // may be read late) to the sample, give or take the sampling slack.
    let windowEnd =
      fires.filter {
        $0.profile == presence.profile && $0.seen <= time + slack
          && $0.seen >= presence.start - windowLength - slack
      }.map(\.until).max() ?? presence.start
    // A kill while the fault may have been there (after the last sample that did not see it) lets
    // it stay until the next agent reconciled; a kill with no reconcile after it allows nothing
    // (that agent never cleaned up).
    let restartEnd =
      kills.filter { $0.at >= presence.absentBefore && $0.at <= time }.compactMap(\.ready).max() ?? windowEnd
    return max(windowEnd + restartTime, restartEnd) + slack
  }

  /// The fires, kills and samples of `overrun`'s profile around it, for a failure message: what the
  /// judge saw, so that a failure in CI can be read without rerunning it.
  func explain(_ overrun: Overrun) -> String {
    let presence = overrun.presence
    let from = presence.absentBefore - windowLength
    let to = (presence.end ?? presence.lastSeen) + 1
    func format(_ value: Double) -> String { String(format: "%.2f", value) }
    var lines = [
      "\(presence.profile): seen from \(format(presence.start)) (absent at \(format(presence.absentBefore))) to "
        + "\(format(presence.lastSeen)) (gone at \(presence.end.map(format) ?? "never")); worst sample "
        + "\(format(overrun.at)), allowed until \(format(overrun.allowedUntil))"
    ]
    lines.append(
      "  samples that saw it: " + presence.seen.map(format).joined(separator: " "))
    for fire in fires where fire.profile == presence.profile && (from...to).contains(fire.seen) {
      lines.append("  fire seen \(format(fire.seen)), until \(format(fire.until))")
    }
    for kill in kills where (from...to).contains(kill.at) {
      lines.append("  kill at \(format(kill.at)), reconciled \(kill.ready.map(format) ?? "never")")
    }
    return lines.joined(separator: "\n")
  }
}
