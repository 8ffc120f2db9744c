import Foundation

/// What a crash soak saw, in test-clock seconds, and the rule that says which faults outlived their
/// window by more than the restart time: a fault may stay until its window's scheduled end plus the
/// time an agent takes to start and reconcile (a live agent starved of CPU is allowed no more than
/// a restarted one), or, when the agent was killed while it was there, until the restarted agent had
/// reconciled. Anything longer, beyond `slack`, is overlong.
///
/// A fault's end is the last sample that saw it, taken when the sample started: a fault seen then is
/// certainly there then, so a slow `tc` under TCG cannot make a fault look longer than it was.
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
  /// first that did not (nil while it is still there), the last that saw it, and the last sample
  /// before it that did not (the fault appeared somewhere after that one).
  struct Presence {
    var profile: String
    var start: Double
    var end: Double?
    var lastSeen: Double
    var absentBefore: Double
  }

  /// A presence that lasted past what the rule allows, and by how much.
  struct Overrun {
    var presence: Presence
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
          profile: profile, start: time, end: nil, lastSeen: time, absentBefore: lastAbsent[profile] ?? 0))
    case (true, let index?): presences[index].lastSeen = time
    case (false, let index?): presences[index].end = time
    case (false, nil): break
    }
    if !present { lastAbsent[profile] = time }
  }

  /// Every presence that outlived its window by more than `restartTime` (plus `slack`).
  func overruns(restartTime: Double) -> [Overrun] {
    presences.compactMap { presence in
      let end = presence.lastSeen
      // The fire that opened it: seen at most one window before the fault showed, and not after it
      // by more than the sampling slack.
      let windowEnd =
        fires.filter {
          $0.profile == presence.profile && $0.seen <= presence.start + slack
            && $0.seen >= presence.start - windowLength - slack
        }.map(\.until).max() ?? presence.start
      // A kill while the fault may have been there (after the last sample that did not see it) lets
      // it stay until the next agent reconciled; a kill with no reconcile after it allows nothing
      // (that agent never cleaned up).
      let restartEnd =
        kills.filter { $0.at >= presence.absentBefore && $0.at <= end }.compactMap(\.ready).max()
        ?? windowEnd
      let allowed = max(windowEnd + restartTime, restartEnd) + slack
      return end > allowed
        ? Overrun(presence: presence, allowedUntil: allowed, seconds: end - allowed) : nil
    }
  }
}
