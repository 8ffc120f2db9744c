import Synchronization

/// The agent's counters, gauges and apply-latency histogram, rendered for Prometheus by
/// ``prometheusText()`` (served at `/metrics`), plus the readiness flag behind `/readyz`.
///
/// One instance is shared by the injector, the scheduler and the HTTP endpoint; every method is
/// thread-safe (one `Mutex`) and cheap, so it can be called on any path, including the hot one.
///
/// | metric | type | recorded by |
/// | --- | --- | --- |
/// | `faultline_injections_total{outcome="ok"\|"error"}` | counter | ``recordInjection(ok:seconds:)`` |
/// | `faultline_apply_duration_seconds` | histogram | ``recordInjection(ok:seconds:)`` |
/// | `faultline_reverts_total{reason="…"}` | counter | ``recordRevert(reason:)`` |
/// | `faultline_active_faults` | gauge | ``setActive(_:)``, ``incrementActive()``, ``decrementActive()`` |
/// | `faultline_profile_reload_errors_total` | counter | ``recordReloadError()`` |
/// | `faultline_ready` | gauge (0 or 1) | ``markReady()``, ``markNotReady()`` |
/// | `faultline_faults_pending{kind="apply"\|"revert"}` | gauge | ``setPending(applies:reverts:)`` |
/// | `faultline_drifts_total{kind="…"}` | counter | ``recordDrift(kind:)`` |
/// | `faultline_journal_entries_quarantined_total` | counter | ``recordJournalQuarantine()`` |
/// | `faultline_spans_dropped_total` | counter | ``recordSpansDropped(_:)`` |
public final class AgentMetrics: Sendable {
  /// The default upper bounds of the apply-latency buckets, in seconds: 100 µs to 1 s.
  ///
  /// An apply in the agent's own namespace takes well under a millisecond; one that enters a pod's
  /// namespace (thread, `setns`, netlink round trips, read-back) a few milliseconds, and much more on
  /// an emulated or overloaded machine.
  public static let defaultApplyDurationBuckets: [Double] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
  ]

  /// The revert reasons that are always exported (at 0 until they happen), so that `rate()` and
  /// `increase()` see a series from the start. Any other reason string is exported once recorded.
  public static let knownRevertReasons: [String] = [
    RevertReason.durationElapsed, .signal, .manual, .profileRemoved, .crashRecovery, .error,
  ].map(\.rawValue)

  /// The values at one instant.
  public struct Snapshot: Sendable, Hashable {
    /// Successful injections (applied and verified).
    public var injectionsOK: UInt64
    /// Failed injections.
    public var injectionsFailed: UInt64
    /// Reverts by reason (only the reasons recorded at least once).
    public var reverts: [String: UInt64]
    /// Faults on the kernel now.
    public var activeFaults: Int
    /// Profile directory reloads that failed.
    public var reloadErrors: UInt64
    /// Whether the agent said it is ready.
    public var ready: Bool
    /// The buckets' upper bounds (seconds), ascending; the implicit `+Inf` bucket is not listed.
    public var bucketBounds: [Double]
    /// Cumulative observation counts: `bucketCounts[i]` counts applies that took at most
    /// `bucketBounds[i]` seconds.
    public var bucketCounts: [UInt64]
    /// Number of observed applies (the `+Inf` bucket).
    public var applyCount: UInt64
    /// Sum of the observed apply durations, in seconds.
    public var applySeconds: Double
    /// Faults that should be on but are not (each line says which and why), retried with backoff.
    public var pendingApplies: [String]
    /// Faults that should be off but whose revert failed, retried with backoff.
    public var pendingReverts: [String]
    /// Drifts found by the resync, by kind (`removed`, `changed`, `replaced`, `target_gone`).
    public var drifts: [String: UInt64]
    /// Journal files moved aside into `quarantine/` because they were not valid entries.
    public var journalQuarantined: UInt64
    /// Spans the OTLP exporter gave up on.
    public var spansDropped: UInt64
  }

  private struct State {
    var injectionsOK: UInt64 = 0
    var injectionsFailed: UInt64 = 0
    var reverts: [String: UInt64] = [:]
    var activeFaults = 0
    var reloadErrors: UInt64 = 0
    var ready = false
    /// Non-cumulative: `perBucket[i]` counts observations in `(bounds[i-1], bounds[i]]`; the last
    /// element is the `+Inf` overflow.
    var perBucket: [UInt64]
    var applyCount: UInt64 = 0
    var applySeconds = 0.0
    var pendingApplies: [String] = []
    var pendingReverts: [String] = []
    var drifts: [String: UInt64] = [:]
    var journalQuarantined: UInt64 = 0
    var spansDropped: UInt64 = 0
  }

  private let bounds: [Double]
  private let state: Mutex<State>

  /// Metrics starting at zero, not ready, with the given apply-latency bucket bounds in seconds
  /// (sorted and de-duplicated; non-finite bounds are dropped, `+Inf` is always implied).
  public init(applyDurationBuckets: [Double] = AgentMetrics.defaultApplyDurationBuckets) {
    let bounds = Array(Set(applyDurationBuckets.filter(\.isFinite))).sorted()
    self.bounds = bounds
    self.state = Mutex(State(perBucket: Array(repeating: 0, count: bounds.count + 1)))
  }

  /// Counts one injection attempt and observes how long the apply took (including the kernel
  /// read-back), in seconds. Failed attempts are observed too, so the histogram's count equals the
  /// sum of both outcomes. A negative duration counts as 0; NaN is counted but not observed.
  public func recordInjection(ok: Bool, seconds: Double) {
    let bucket = seconds.isNaN ? nil : bounds.firstIndex { max(seconds, 0) <= $0 } ?? bounds.count
    state.withLock { state in
      if ok { state.injectionsOK &+= 1 } else { state.injectionsFailed &+= 1 }
      if let bucket {
        state.perBucket[bucket] &+= 1
        state.applyCount &+= 1
        state.applySeconds += max(seconds, 0)
      }
    }
  }

  /// Counts one revert, labelled with `reason` (e.g. `duration_elapsed`, `signal`, `manual`,
  /// `profile_removed`, `crash_recovery`, `error`; see ``RevertReason``).
  public func recordRevert(reason: String) {
    state.withLock { $0.reverts[reason, default: 0] &+= 1 }
  }

  /// Counts one revert for `reason` (its raw value is the label).
  public func recordRevert(_ reason: RevertReason) {
    recordRevert(reason: reason.rawValue)
  }

  /// Sets the number of faults on the kernel now (negative values count as 0).
  public func setActive(_ n: Int) {
    state.withLock { $0.activeFaults = max(n, 0) }
  }

  /// Moves the active-faults gauge by `delta` (never below 0).
  public func addActive(_ delta: Int) {
    state.withLock { $0.activeFaults = max($0.activeFaults + delta, 0) }
  }

  /// Adds one active fault.
  public func incrementActive() {
    state.withLock { $0.activeFaults += 1 }
  }

  /// Removes one active fault (never below 0).
  public func decrementActive() {
    state.withLock { $0.activeFaults = max($0.activeFaults - 1, 0) }
  }

  /// Counts a reload of the profile directory that failed (the last good profiles keep running).
  public func recordReloadError() {
    state.withLock { $0.reloadErrors &+= 1 }
  }

  /// Says the agent is ready: `/readyz` answers 200 from now on.
  public func markReady() {
    state.withLock { $0.ready = true }
  }

  /// Says the agent is not (or no longer) ready, e.g. while it shuts down: `/readyz` answers 503.
  public func markNotReady() {
    state.withLock { $0.ready = false }
  }

  /// Whether ``markReady()`` was called (and ``markNotReady()`` not since).
  public var isReady: Bool { state.withLock { $0.ready } }

  /// Sets the faults the agent wants on but could not apply, and those it wants off but could not
  /// revert (one line each, saying which and why); both are retried with backoff.
  public func setPending(applies: [String], reverts: [String]) {
    state.withLock {
      $0.pendingApplies = applies
      $0.pendingReverts = reverts
    }
  }

  /// Counts a drift the resync found on an open window (`WindowDrift.kind`).
  public func recordDrift(kind: String) {
    state.withLock { $0.drifts[kind, default: 0] &+= 1 }
  }

  /// What `/readyz` answers: ready once ``markReady()`` was called and while no fault is pending;
  /// otherwise the reasons, one per line.
  public var readiness: (ready: Bool, detail: [String]) {
    state.withLock { state in
      guard state.ready else { return (false, ["starting: crash reconcile and first profile load"]) }
      let detail =
        state.pendingApplies.map { "not applied: \($0)" } + state.pendingReverts.map { "not reverted: \($0)" }
      return (detail.isEmpty, detail)
    }
  }

  /// Counts one journal file moved aside (``Journal`` reports it through its `onQuarantine`).
  public func recordJournalQuarantine() {
    state.withLock { $0.journalQuarantined &+= 1 }
  }

  /// Counts spans the OTLP exporter gave up on (the telemetry layer reports each loss: a failed
  /// export, a full queue, a shutdown flush cut short). Negative counts are ignored.
  public func recordSpansDropped(_ count: Int) {
    guard count > 0 else { return }
    state.withLock { $0.spansDropped &+= UInt64(count) }
  }

  /// A consistent copy of every value.
  public func snapshot() -> Snapshot {
    let bounds = self.bounds
    return state.withLock { state in
      var cumulative: [UInt64] = []
      cumulative.reserveCapacity(bounds.count)
      var running: UInt64 = 0
      for index in bounds.indices {
        running &+= state.perBucket[index]
        cumulative.append(running)
      }
      return Snapshot(
        injectionsOK: state.injectionsOK, injectionsFailed: state.injectionsFailed, reverts: state.reverts,
        activeFaults: state.activeFaults, reloadErrors: state.reloadErrors, ready: state.ready,
        bucketBounds: bounds, bucketCounts: cumulative, applyCount: state.applyCount,
        applySeconds: state.applySeconds, pendingApplies: state.pendingApplies,
        pendingReverts: state.pendingReverts, drifts: state.drifts,
        journalQuarantined: state.journalQuarantined, spansDropped: state.spansDropped)
    }
  }

  /// The metrics in the Prometheus text exposition format 0.0.4 (serve it with
  /// `Content-Type: text/plain; version=0.0.4`): a `# HELP` and a `# TYPE` line per family, then its
  /// samples; label values escaped; histogram buckets cumulative, ending with `le="+Inf"`.
  public func prometheusText() -> String {
    let s = snapshot()
    var out = ""
    out.reserveCapacity(2048)

    family(&out, "faultline_injections_total", "counter", "Fault injections attempted, by outcome.")
    sample(&out, "faultline_injections_total", [("outcome", "ok")], Double(s.injectionsOK))
    sample(&out, "faultline_injections_total", [("outcome", "error")], Double(s.injectionsFailed))

    family(&out, "faultline_reverts_total", "counter", "Faults reverted, by reason.")
    let reasons = Set(Self.knownRevertReasons).union(s.reverts.keys).sorted()
    for reason in reasons {
      sample(&out, "faultline_reverts_total", [("reason", reason)], Double(s.reverts[reason] ?? 0))
    }

    family(&out, "faultline_active_faults", "gauge", "Faults applied on the kernel now.")
    sample(&out, "faultline_active_faults", [], Double(s.activeFaults))

    family(
      &out, "faultline_apply_duration_seconds", "histogram",
      "Time to apply a fault and read it back from the kernel, in seconds.")
    for (bound, count) in zip(s.bucketBounds, s.bucketCounts) {
      sample(&out, "faultline_apply_duration_seconds_bucket", [("le", Self.format(bound))], Double(count))
    }
    sample(&out, "faultline_apply_duration_seconds_bucket", [("le", "+Inf")], Double(s.applyCount))
    sample(&out, "faultline_apply_duration_seconds_sum", [], s.applySeconds)
    sample(&out, "faultline_apply_duration_seconds_count", [], Double(s.applyCount))

    family(
      &out, "faultline_profile_reload_errors_total", "counter",
      "Reloads of the profile directory that failed; the last good profiles keep running.")
    sample(&out, "faultline_profile_reload_errors_total", [], Double(s.reloadErrors))

    family(&out, "faultline_ready", "gauge", "1 when the agent is ready (what /readyz reports), else 0.")
    sample(&out, "faultline_ready", [], s.ready ? 1 : 0)

    family(
      &out, "faultline_faults_pending", "gauge",
      "Faults the agent wants on but could not apply, or off but could not revert; retried with backoff.")
    sample(&out, "faultline_faults_pending", [("kind", "apply")], Double(s.pendingApplies.count))
    sample(&out, "faultline_faults_pending", [("kind", "revert")], Double(s.pendingReverts.count))

    family(
      &out, "faultline_drifts_total", "counter",
      "Open faults found changed on the kernel by someone else, by kind; removed ones are put back.")
    for kind in Set(Self.knownDriftKinds).union(s.drifts.keys).sorted() {
      sample(&out, "faultline_drifts_total", [("kind", kind)], Double(s.drifts[kind] ?? 0))
    }

    family(
      &out, "faultline_journal_entries_quarantined_total", "counter",
      "Journal files that were not valid entries, moved into the state directory's quarantine/.")
    sample(&out, "faultline_journal_entries_quarantined_total", [], Double(s.journalQuarantined))

    family(
      &out, "faultline_spans_dropped_total", "counter",
      "Spans the OTLP exporter gave up on: an export that failed after its retries, a full queue, or a "
        + "shutdown flush cut short.")
    sample(&out, "faultline_spans_dropped_total", [], Double(s.spansDropped))
    return out
  }

  /// The drift kinds always exported (at 0 until they happen).
  public static let knownDriftKinds = ["changed", "removed", "replaced", "target_gone"]

  // MARK: - Text format

  private func family(_ out: inout String, _ name: String, _ type: String, _ help: String) {
    out += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type)\n"
  }

  private func sample(_ out: inout String, _ name: String, _ labels: [(String, String)], _ value: Double) {
    out += name
    if !labels.isEmpty {
      out += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
    }
    out += " " + Self.format(value) + "\n"
  }

  /// A sample value or bucket bound as Prometheus writes it: integers without a fraction
  /// (`1`, `42`), others in Swift's shortest round-trip form (`0.00025`), `+Inf`, `-Inf`, `NaN`.
  static func format(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
  }

  /// `\` → `\\`, newline → `\n`, `"` → `\"` (label values).
  static func escapeLabelValue(_ value: String) -> String { escape(value, quotes: true) }

  /// `\` → `\\`, newline → `\n` (HELP text).
  static func escapeHelp(_ text: String) -> String { escape(text, quotes: false) }

  private static func escape(_ text: String, quotes: Bool) -> String {
    var escaped = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\\": escaped.append(contentsOf: #"\\"#.unicodeScalars)
      case "\n": escaped.append(contentsOf: #"\n"#.unicodeScalars)
      case "\"" where quotes: escaped.append(contentsOf: #"\""#.unicodeScalars)
      default: escaped.append(scalar)
      }
    }
    return String(escaped)
  }
}

extension AgentMetrics: WindowObserver {
  /// Acts on the events this observer follows; ignores the rest.
  public func observe(_ event: WindowEvent) async {
    switch event {
    case .applyFinished(let ok, let seconds): recordInjection(ok: ok, seconds: seconds)
    case .revertFinished(let reason, let ok):
      recordRevert(reason: ok ? reason.rawValue : RevertReason.error.rawValue)
    case .opened: addActive(1)
    case .closed: addActive(-1)
    case .drift(_, let drift): recordDrift(kind: drift.kind)
    case .pending(let applies, let reverts): setPending(applies: applies, reverts: reverts)
    case .ready: markReady()
    case .reloadFailed: recordReloadError()
    case .reapplied, .agentStarted: return
    }
  }
}
