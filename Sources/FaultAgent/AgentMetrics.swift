import CoreMetrics
import Synchronization

/// The agent's counters, gauges and apply-latency histogram, recorded through swift-metrics into the
/// `MetricsFactory` it is given (Prometheus for `/metrics`, OpenTelemetry for OTLP, or both through
/// `MultiplexMetricsHandler`), plus the readiness state behind `/readyz`.
///
/// The factory is injected rather than taken from the process-global `MetricsSystem`, so that each
/// test has its own registry; only `main` decides which backends exist.
///
/// One instance is shared by the injector, the scheduler and the HTTP endpoint; every method is
/// thread-safe and cheap, so it can be called on any path, including the hot one.
///
/// | metric | type | recorded by |
/// | --- | --- | --- |
/// | `faultline_injections_total{outcome="ok"\|"error"}` | counter | ``recordInjection(ok:seconds:)`` |
/// | `faultline_apply_duration_seconds` | histogram | ``recordInjection(ok:seconds:)`` |
/// | `faultline_reverts_total{reason="…"}` | counter | ``recordRevert(reason:)`` |
/// | `faultline_active_faults` | gauge | ``addActive(_:)`` |
/// | `faultline_profile_reload_errors_total` | counter | ``recordReloadError()`` |
/// | `faultline_ready` | gauge (0 or 1) | ``markReady()``, ``markNotReady()`` |
/// | `faultline_faults_pending{kind="apply"\|"revert"}` | gauge | ``setPending(applies:reverts:)`` |
/// | `faultline_drifts_total{kind="…"}` | counter | ``recordDrift(kind:)`` |
/// | `faultline_journal_entries_quarantined_total` | counter | ``recordJournalQuarantine()`` |
/// | `faultline_spans_dropped_total` | counter | ``recordSpansDropped(_:)`` |
public final class AgentMetrics: Sendable {
  /// The metric names, defined once (the docs, dashboards and tests use these words).
  public enum Name {
    /// Counter, `outcome` = `ok` | `error`: fault injections attempted.
    public static let injections = "faultline_injections_total"
    /// Histogram: seconds to apply a fault and read it back (``AgentMetrics/applyDurationBuckets``).
    public static let applyDuration = "faultline_apply_duration_seconds"
    /// Counter, `reason`: faults reverted.
    public static let reverts = "faultline_reverts_total"
    /// Gauge: faults applied on the kernel now.
    public static let activeFaults = "faultline_active_faults"
    /// Counter: profile directory reloads that failed.
    public static let reloadErrors = "faultline_profile_reload_errors_total"
    /// Gauge, 0 or 1: what `/readyz` reports.
    public static let ready = "faultline_ready"
    /// Gauge, `kind` = `apply` | `revert`: faults retried with backoff.
    public static let faultsPending = "faultline_faults_pending"
    /// Counter, `kind`: open faults found changed on the kernel by someone else.
    public static let drifts = "faultline_drifts_total"
    /// Counter: journal files moved into `quarantine/`.
    public static let journalQuarantined = "faultline_journal_entries_quarantined_total"
    /// Counter: spans the OTLP exporter gave up on.
    public static let spansDropped = "faultline_spans_dropped_total"
  }

  /// What each metric means, in one line: the `# HELP` text of the Prometheus scrape (swift-metrics
  /// instruments carry no description, so the backend takes it from here). `docs/METRICS.md`
  /// explains each at more length.
  public static let help: [String: String] = [
    Name.injections: "Fault injections attempted, by outcome.",
    Name.applyDuration:
      "Seconds to apply a fault and read it back from the kernel; failed attempts are observed too.",
    Name.reverts: "Faults reverted, by reason.",
    Name.activeFaults: "Faults applied on the kernel now.",
    Name.reloadErrors: "Reloads of the profile directory that failed; the last good profiles keep running.",
    Name.ready: "1 when the agent is ready (what /readyz reports), else 0.",
    Name.faultsPending:
      "Faults the agent could not apply (kind=apply) or revert (kind=revert) yet; retried with backoff.",
    Name.drifts: "Open faults found changed on the kernel by someone else, by kind.",
    Name.journalQuarantined: "Journal files that were not valid entries, moved into quarantine/.",
    Name.spansDropped: "Spans the OTLP exporter gave up on.",
  ]

  /// The upper bounds of the apply-latency buckets, in seconds: 100 µs to 1 s. Backends take them
  /// from here for the ``Name/applyDuration`` histogram (swift-metrics leaves buckets to the backend).
  ///
  /// An apply in the agent's own namespace takes well under a millisecond; one that enters a pod's
  /// namespace (thread, `setns`, netlink round trips, read-back) a few milliseconds, and much more on
  /// an emulated or overloaded machine.
  public static let applyDurationBuckets: [Double] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
  ]

  /// The histogram buckets per metric name, in the shape both backends' configurations take.
  public static let valueHistogramBuckets: [String: [Double]] = [Name.applyDuration: applyDurationBuckets]

  /// The revert reasons that are always exported (at 0 until they happen), so that `rate()` and
  /// `increase()` see a series from the start. Any other reason string is exported once recorded.
  public static let knownRevertReasons: [String] = [
    RevertReason.durationElapsed, .signal, .manual, .profileRemoved, .crashRecovery, .error,
  ].map(\.rawValue)

  /// The drift kinds always exported (at 0 until they happen).
  public static let knownDriftKinds = ["changed", "removed", "replaced", "target_gone"]

  /// What `/readyz` needs, and the active count the gauge is clamped from.
  private struct State {
    var ready = false
    var activeFaults = 0
    var pendingApplies: [String] = []
    var pendingReverts: [String] = []
  }

  private let factory: any MetricsFactory
  private let injectionsOK: Counter
  private let injectionsFailed: Counter
  private let applyDuration: Recorder
  private let activeFaults: Gauge
  private let reloadErrors: Counter
  private let ready: Gauge
  private let pendingApplies: Gauge
  private let pendingReverts: Gauge
  private let journalQuarantined: Counter
  private let spansDropped: Counter
  /// Counters by label value, made on first use for the values not known up front.
  private let reverts: Mutex<[String: Counter]>
  private let drifts: Mutex<[String: Counter]>
  private let state = Mutex(State())

  /// Metrics starting at zero, not ready, recorded into `factory`. Every series that exists before
  /// anything happens (known reasons and kinds included) is created now, so it is exported at 0.
  public init(factory: any MetricsFactory) {
    self.factory = factory
    injectionsOK = Counter(label: Name.injections, dimensions: [("outcome", "ok")], factory: factory)
    injectionsFailed = Counter(label: Name.injections, dimensions: [("outcome", "error")], factory: factory)
    applyDuration = Recorder(label: Name.applyDuration, dimensions: [], aggregate: true, factory: factory)
    activeFaults = Gauge(label: Name.activeFaults, dimensions: [], factory: factory)
    reloadErrors = Counter(label: Name.reloadErrors, dimensions: [], factory: factory)
    ready = Gauge(label: Name.ready, dimensions: [], factory: factory)
    pendingApplies = Gauge(label: Name.faultsPending, dimensions: [("kind", "apply")], factory: factory)
    pendingReverts = Gauge(label: Name.faultsPending, dimensions: [("kind", "revert")], factory: factory)
    journalQuarantined = Counter(label: Name.journalQuarantined, dimensions: [], factory: factory)
    spansDropped = Counter(label: Name.spansDropped, dimensions: [], factory: factory)
    reverts = Mutex(
      Dictionary(
        uniqueKeysWithValues: Self.knownRevertReasons.map {
          ($0, Counter(label: Name.reverts, dimensions: [("reason", $0)], factory: factory))
        }))
    drifts = Mutex(
      Dictionary(
        uniqueKeysWithValues: Self.knownDriftKinds.map {
          ($0, Counter(label: Name.drifts, dimensions: [("kind", $0)], factory: factory))
        }))
    // Gauges have no value until one is recorded; these have a meaningful zero from the start.
    for gauge in [activeFaults, ready, pendingApplies, pendingReverts] { gauge.record(0) }
  }

  /// Counts one injection attempt and observes how long the apply took (including the kernel
  /// read-back), in seconds. Failed attempts are observed too, so the histogram's count equals the
  /// sum of both outcomes. A negative duration counts as 0; NaN is counted but not observed.
  public func recordInjection(ok: Bool, seconds: Double) {
    (ok ? injectionsOK : injectionsFailed).increment()
    if !seconds.isNaN { applyDuration.record(max(seconds, 0)) }
  }

  /// Counts one revert, labelled with `reason` (e.g. `duration_elapsed`, `signal`, `manual`,
  /// `profile_removed`, `crash_recovery`, `error`; see ``RevertReason``).
  public func recordRevert(reason: String) {
    counter(in: reverts, name: Name.reverts, label: "reason", value: reason).increment()
  }

  /// Counts one revert for `reason` (its raw value is the label).
  public func recordRevert(_ reason: RevertReason) {
    recordRevert(reason: reason.rawValue)
  }

  /// Moves the active-faults gauge by `delta` (never below 0): a window opened (+1) or closed (-1).
  public func addActive(_ delta: Int) {
    state.withLock {
      $0.activeFaults = max($0.activeFaults + delta, 0)
      activeFaults.record($0.activeFaults)
    }
  }

  /// Counts a reload of the profile directory that failed (the last good profiles keep running).
  public func recordReloadError() {
    reloadErrors.increment()
  }

  /// Says the agent is ready: `/readyz` answers 200 from now on.
  public func markReady() {
    setReady(true)
  }

  /// Says the agent is not (or no longer) ready, e.g. while it shuts down: `/readyz` answers 503.
  public func markNotReady() {
    setReady(false)
  }

  private func setReady(_ value: Bool) {
    state.withLock {
      $0.ready = value
      ready.record(value ? 1 : 0)
    }
  }

  /// Whether ``markReady()`` was called (and ``markNotReady()`` not since).
  public var isReady: Bool { state.withLock { $0.ready } }

  /// Sets the faults the agent wants on but could not apply, and those it wants off but could not
  /// revert (one line each, saying which and why); both are retried with backoff.
  public func setPending(applies: [String], reverts: [String]) {
    state.withLock {
      $0.pendingApplies = applies
      $0.pendingReverts = reverts
      pendingApplies.record(applies.count)
      pendingReverts.record(reverts.count)
    }
  }

  /// Counts a drift the resync found on an open window (`WindowDrift.kind`).
  public func recordDrift(kind: String) {
    counter(in: drifts, name: Name.drifts, label: "kind", value: kind).increment()
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
    journalQuarantined.increment()
  }

  /// Counts spans the OTLP exporter gave up on (the telemetry layer reports each loss: a failed
  /// export, a full queue, a shutdown flush cut short). Negative counts are ignored.
  public func recordSpansDropped(_ count: Int) {
    guard count > 0 else { return }
    spansDropped.increment(by: Int64(count))
  }

  /// The counter of `name` whose `label` is `value`, made the first time that value is seen.
  private func counter(
    in counters: borrowing Mutex<[String: Counter]>, name: String, label: String, value: String
  ) -> Counter {
    counters.withLock { counters in
      if let counter = counters[value] { return counter }
      let counter = Counter(label: name, dimensions: [(label, value)], factory: factory)
      counters[value] = counter
      return counter
    }
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
