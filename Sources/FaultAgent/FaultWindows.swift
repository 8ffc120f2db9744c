import FaultModel
import Foundation
import Instrumentation
import Logging
import NetemKernel
import Tracing

/// A fault window that is open: on the kernel, journaled, published, and traced.
public struct OpenWindow: Sendable {
  /// The fault on the kernel and its journal entry.
  public var active: ActiveFault
  /// The `chaos.experiment` span covering the window.
  public let span: any Span
  /// The span's W3C `traceparent` (`00-<trace>-<span>-<flags>`), nil when tracing is off.
  public let traceparent: String?
  /// When the window opened (the start of the apply).
  public let openedAt: Date

  /// The experiment.
  public var experiment: Experiment { active.experiment }
}

/// The one path every fault window takes, for `faultline inject` and `faultline run` alike.
///
/// Opening a window starts the `chaos.experiment` span (a child of `TRACEPARENT` when set), applies
/// the fault inside a `chaos.inject` child span (journal, apply, read-back), then publishes the
/// experiment to the annotation file with the span's `traceparent`. Closing it reverts inside a
/// `chaos.revert` child span, republishes the annotation file and ends `chaos.experiment`. Every
/// span carries the `chaos.experiment.*` attributes (see docs/TELEMETRY.md). Telemetry and the
/// annotation file never fail a fault: their errors are logged.
public struct FaultWindows: Sendable {
  /// Applies and reverts, journaled.
  public let injector: Injector
  /// Where spans go.
  public let tracer: any Tracer
  /// The parent of every `chaos.experiment` span (`TRACEPARENT`'s context, or top level).
  public let parent: ServiceContext
  /// The annotation file, if published.
  public let annotations: AnnotationWriter?
  /// Counters (Prometheus `/metrics`), if kept.
  public let metrics: (any WindowMetrics)?
  private let logger: Logger

  /// Windows over `injector`, traced by `tracer` (default: no spans), publishing to `annotations`.
  public init(
    injector: Injector, tracer: any Tracer = NoOpTracer(), parent: ServiceContext = .topLevel,
    annotations: AnnotationWriter? = nil, metrics: (any WindowMetrics)? = nil, logger: Logger
  ) {
    self.injector = injector
    self.tracer = tracer
    self.parent = parent
    self.annotations = annotations
    self.metrics = metrics
    self.logger = logger
  }

  /// Opens a window: applies `experiment`'s fault under a new `chaos.experiment` span.
  ///
  /// On failure the fault is rolled back (by the kernel layer), the journal entry removed, both spans
  /// end with status ERROR, and the error is rethrown.
  public func open(_ experiment: Experiment, force: Bool = false) async throws -> OpenWindow {
    let openedAt = Date()
    let span = tracer.startSpan("chaos.experiment", context: parent, ofKind: .internal)
    Self.describe(experiment, on: span)
    let traceparent = traceparent(of: span)
    let active: ActiveFault
    do {
      active = try await injectTraced(experiment, under: span, force: force)
    } catch {
      injector.discard(experiment)
      Self.fail(span, error)
      span.end()
      throw error
    }
    await publish { try await $0.started(experiment, at: active.entry.startedAt, traceparent: traceparent) }
    updateActiveGauge(by: 1)
    return OpenWindow(active: active, span: span, traceparent: traceparent, openedAt: openedAt)
  }

  /// Re-applies an open window's target with new fault parameters, in place (one qdisc replace, no
  /// gap); a new `chaos.inject` span records it under the same `chaos.experiment`.
  public func reapply(_ window: inout OpenWindow, fault: NetemFault) async throws {
    var experiment = window.experiment
    experiment.fault = fault
    window.span.attributes["chaos.experiment.reapplied"] = true
    Self.describeFault(fault, prefix: "chaos.experiment.netem.", on: window.span)
    window.active = try await injectTraced(experiment, under: window.span, force: false)
    let (active, traceparent) = (window.active, window.traceparent)
    await publish {
      try await $0.started(active.experiment, at: active.entry.startedAt, traceparent: traceparent)
    }
  }

  /// Closes a window: reverts under a `chaos.revert` span, republishes, ends `chaos.experiment`.
  @discardableResult
  public func close(_ window: OpenWindow, reason: RevertReason) async throws -> RevertOutcome {
    defer { window.span.end() }
    let id = window.experiment.id
    do {
      let outcome = try await revertTraced(window.active.entry, reason: reason, under: window.span.context) {
        Self.describe(window.experiment, on: $0)
      }
      await publish { try await $0.ended(id: id) }
      updateActiveGauge(by: -1)
      return outcome
    } catch {
      Self.fail(window.span, error)
      await publish { try await $0.ended(id: id) }
      updateActiveGauge(by: -1)
      throw error
    }
  }

  /// Reverts faults journaled by processes that are gone, each under its own `chaos.revert` span
  /// (`crash_recovery`), and returns how many there were.
  @discardableResult
  public func reconcile(where filter: @Sendable (JournalEntry) -> Bool = { !$0.ownerIsAlive }) async -> Int {
    let entries = injector.journal.entries { path, error in
      logger.error("unreadable journal entry", metadata: ["path": "\(path)", "error": "\(error)"])
    }
    var count = 0
    for entry in entries where filter(entry) {
      count += 1
      do {
        try await revertTraced(entry, reason: .crashRecovery, under: parent) { Self.describe(entry, on: $0) }
      } catch {
        logger.error("revert failed", metadata: ["id": "\(entry.id)", "error": "\(error)"])
      }
    }
    return count
  }

  /// Reverts every fault this process journaled (graceful shutdown), each with a `chaos.revert` span.
  public func revertOwn(reason: RevertReason, windows: [OpenWindow]) async -> Int {
    var count = 0
    for window in windows {
      do {
        try await close(window, reason: reason)
        count += 1
      } catch {
        logger.error("revert failed", metadata: ["id": "\(window.experiment.id)", "error": "\(error)"])
      }
    }
    return count
  }

  // MARK: - Spans

  private func injectTraced(_ experiment: Experiment, under span: any Span, force: Bool) async throws
    -> ActiveFault
  {
    let inject = tracer.startSpan("chaos.inject", context: span.context, ofKind: .internal)
    defer { inject.end() }
    Self.describe(experiment, on: inject)
    let clock = ContinuousClock()
    let start = clock.now
    do {
      let active = try await injector.inject(experiment, force: force)
      metrics?.recordInjection(ok: true, seconds: (clock.now - start).seconds)
      Self.describeFault(active.report.applied.fault, prefix: "chaos.experiment.applied.", on: inject)
      inject.attributes["chaos.experiment.verified"] = true
      span.attributes["chaos.experiment.verified"] = true
      return active
    } catch {
      metrics?.recordInjection(ok: false, seconds: (clock.now - start).seconds)
      if let kernel = error as? KernelError, kernel.kind == .verificationFailed {
        inject.attributes["chaos.experiment.verified"] = false
        span.attributes["chaos.experiment.verified"] = false
      }
      Self.fail(inject, error)
      throw error
    }
  }

  @discardableResult
  private func revertTraced(
    _ entry: JournalEntry, reason: RevertReason, under context: ServiceContext,
    describe: (any Span) -> Void
  ) async throws -> RevertOutcome {
    let span = tracer.startSpan("chaos.revert", context: context, ofKind: .internal)
    defer { span.end() }
    describe(span)
    span.attributes["chaos.experiment.revert.reason"] = reason.rawValue
    do {
      let outcome = try await injector.revert(entry, reason: reason)
      span.attributes["chaos.experiment.revert.outcome"] = Self.outcomeName(outcome)
      metrics?.recordRevert(reason: reason.rawValue)
      return outcome
    } catch {
      metrics?.recordRevert(reason: RevertReason.error.rawValue)
      Self.fail(span, error)
      throw error
    }
  }

  private func traceparent(of span: any Span) -> String? {
    var carrier: [String: String] = [:]
    tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
    return carrier["traceparent"]
  }

  private func publish(_ body: (AnnotationWriter) async throws -> Void) async {
    guard let annotations else { return }
    do { try await body(annotations) } catch {
      logger.warning(
        "cannot write the annotation file",
        metadata: ["path": "\(annotations.url.path)", "error": "\(error)"])
    }
  }

  private func updateActiveGauge(by delta: Int) {
    metrics?.addActive(delta)
  }

  // MARK: - Attributes

  /// Sets the `chaos.experiment.*` attributes of an experiment on a span.
  static func describe(_ experiment: Experiment, on span: any Span) {
    var attributes = span.attributes
    attributes["chaos.experiment.name"] = experiment.name
    attributes["chaos.experiment.id"] = experiment.id
    attributes["chaos.experiment.mode"] = experiment.mode.rawValue
    if let profile = experiment.profile { attributes["chaos.experiment.profile"] = profile }
    if let schedule = experiment.schedule { attributes["chaos.experiment.schedule"] = schedule }
    if let duration = experiment.duration {
      attributes["chaos.experiment.duration_ms"] = Int64(duration.milliseconds.rounded())
    }
    describeTarget(experiment.target, into: &attributes)
    for (key, value) in experiment.attributes { attributes[key] = value }
    span.attributes = attributes
    describeFault(experiment.fault, prefix: "chaos.experiment.netem.", on: span)
  }

  /// The attributes of a journaled fault (crash recovery: the experiment span is gone).
  static func describe(_ entry: JournalEntry, on span: any Span) {
    var attributes = span.attributes
    attributes["chaos.experiment.name"] = entry.name
    attributes["chaos.experiment.id"] = entry.id
    describeTarget(entry.target, into: &attributes)
    span.attributes = attributes
    describeFault(entry.fault, prefix: "chaos.experiment.netem.", on: span)
  }

  private static func describeTarget(_ target: FaultTarget, into attributes: inout SpanAttributes) {
    attributes["chaos.experiment.target.interface"] = target.interface
    attributes["chaos.experiment.target.netns"] = target.namespace.description
    attributes["network.interface.name"] = target.interface
  }

  /// Sets one attribute per set field of `fault`, in plain units, under `prefix`. Decimals are
  /// rounded to 6 places: the kernel stores percentages as fractions of 2³², so a read-back 5% is
  /// 5.0000000058 before rounding.
  static func describeFault(_ fault: NetemFault, prefix: String, on span: any Span) {
    var attributes = span.attributes
    for (name, value) in fault.plainFields {
      switch value {
      case .int(let v): attributes[prefix + name] = v
      case .double(let v): attributes[prefix + name] = (v * 1e6).rounded() / 1e6
      case .string(let v): attributes[prefix + name] = v
      case .bool(let v): attributes[prefix + name] = v
      }
    }
    span.attributes = attributes
  }

  private static func fail(_ span: any Span, _ error: any Error) {
    span.attributes["error.type"] = errorType(error)
    span.recordError(error)
    span.setStatus(SpanStatus(code: .error, message: "\(error)"))
  }

  /// `error.type`: the kernel error's kind (`interface_not_found`, …) or the Swift type name.
  static func errorType(_ error: any Error) -> String {
    guard let kernel = error as? KernelError else { return String(describing: type(of: error)) }
    return switch kernel.kind {
    case .interfaceNotFound: "interface_not_found"
    case .namespaceNotFound: "namespace_not_found"
    case .namespaceChanged: "namespace_changed"
    case .netemUnavailable: "netem_unavailable"
    case .missingCapability: "missing_capability"
    case .foreignQdisc: "foreign_qdisc"
    case .verificationFailed: "verification_failed"
    case .distribution: "distribution"
    case .system: "system"
    }
  }

  private static func outcomeName(_ outcome: RevertOutcome) -> String {
    switch outcome {
    case .removed: "removed"
    case .restored: "restored"
    case .nothingToRevert: "nothing_to_revert"
    }
  }
}

/// What ``FaultWindows`` counts: injections, reverts, the faults active now.
public protocol WindowMetrics: Sendable {
  /// One apply (read-back included) that succeeded or failed, and how long it took.
  func recordInjection(ok: Bool, seconds: Double)
  /// One revert, by `chaos.experiment.revert.reason` (`error` when it failed).
  func recordRevert(reason: String)
  /// The number of active faults changed by `delta`.
  func addActive(_ delta: Int)
  /// The agent is ready (reconciled, profiles loaded).
  func markReady()
  /// A profile file failed to load (the last good version keeps running).
  func recordReloadError()
}

/// Writes into a `[String: String]` carrier.
struct DictionaryInjector: Instrumentation.Injector {
  func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
    carrier[key] = value
  }
}

extension Duration {
  /// The duration in seconds, as a Double.
  var seconds: Double {
    let (s, atto) = components
    return Double(s) + Double(atto) / 1e18
  }
}

extension AgentMetrics: WindowMetrics {}
