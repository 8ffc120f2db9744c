import ChaosAnnotations
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

  /// The experiment, its target where the fault is now.
  public var experiment: Experiment {
    var experiment = active.experiment
    experiment.target = active.entry.target
    return experiment
  }

  /// What observers are told.
  public var summary: WindowSummary {
    WindowSummary(experiment: experiment, startedAt: active.entry.startedAt, traceparent: traceparent)
  }
}

/// How an open window's target differs from what the window applied (the periodic resync).
public enum WindowDrift: Sendable, Hashable, CustomStringConvertible {
  /// The kernel holds exactly what was applied.
  case none
  /// faultline's qdisc is gone (someone deleted it): the agent puts it back.
  case removed
  /// faultline's qdisc is there with other parameters (someone changed it): reported, left alone.
  case changed([String])
  /// Another root qdisc replaced faultline's: reported, left alone (faultline never overwrites a
  /// qdisc it did not create unless told to).
  case replaced(String)
  /// The interface or the namespace is gone.
  case targetGone(String)

  /// `chaos.experiment.drift` on the span.
  public var kind: String {
    switch self {
    case .none: "none"
    case .removed: "removed"
    case .changed: "changed"
    case .replaced: "replaced"
    case .targetGone: "target_gone"
    }
  }

  /// What to log.
  public var description: String {
    switch self {
    case .none: "no drift"
    case .removed: "faultline's qdisc was removed by someone else"
    case .changed(let mismatches):
      "faultline's qdisc was changed by someone else: \(mismatches.joined(separator: "; "))"
    case .replaced(let qdisc): "faultline's qdisc was replaced by \(qdisc)"
    case .targetGone(let why): why
    }
  }
}

/// The one path every fault window takes, for `faultline inject` and `faultline run` alike.
///
/// Opening a window starts the `chaos.experiment` span (a child of `TRACEPARENT` when set), applies
/// the fault inside a `chaos.inject` child span (journal, apply, read-back), then tells the observers
/// (annotation files, Pod patches, metrics). Closing it reverts inside a `chaos.revert` child span,
/// tells the observers and ends `chaos.experiment`. Every span carries the `chaos.experiment.*`
/// attributes (see docs/TELEMETRY.md). The spans live here, not in an observer, because they time
/// the kernel calls themselves. Observers never fail a fault: they log their own errors.
public struct FaultWindows: Sendable {
  /// Applies and reverts, journaled.
  public let injector: Injector
  /// Where spans go.
  public let tracer: any Tracer
  /// The parent of every `chaos.experiment` span (`TRACEPARENT`'s context, or top level).
  public let parent: ServiceContext
  /// Who hears of every window event, in order.
  public let observers: [any WindowObserver]
  private let logger: Logger

  /// Windows over `injector`, traced by `tracer` (default: no spans), followed by `observers`.
  public init(
    injector: Injector, tracer: any Tracer = NoOpTracer(), parent: ServiceContext = .topLevel,
    observers: [any WindowObserver] = [], logger: Logger
  ) {
    self.injector = injector
    self.tracer = tracer
    self.parent = parent
    self.observers = observers
    self.logger = logger
  }

  /// Opens a window: applies `experiment`'s fault under a new `chaos.experiment` span.
  ///
  /// On failure the fault is rolled back (by the kernel layer), the journal entry removed, both spans
  /// end with status ERROR, and the error is rethrown.
  public func open(_ experiment: Experiment, force: Bool = false) async throws -> OpenWindow {
    let openedAt = injector.clock.now
    let span = tracer.startSpan(ChaosSpanVocabulary.experimentSpan, context: parent, ofKind: .internal)
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
    let window = OpenWindow(active: active, span: span, traceparent: traceparent, openedAt: openedAt)
    await notify(.opened(window.summary))
    return window
  }

  /// Re-applies an open window's target with `fault`, in place (one qdisc replace, no gap); a new
  /// `chaos.inject` span records it under the same `chaos.experiment`.
  public func reapply(_ window: inout OpenWindow, fault: NetemFault, shaping: TrafficShaping? = nil)
    async throws
  {
    var experiment = window.experiment
    experiment.fault = fault
    if let shaping { experiment.shaping = shaping }
    experiment.namespaceInode = window.active.entry.namespace.inode
    window.span.attributes["chaos.experiment.reapplied"] = true
    Self.describeFault(fault, prefix: ChaosSpanVocabulary.netemPrefix, on: window.span)
    window.active = try await injectTraced(experiment, under: window.span, force: false)
    await notify(.reapplied(window.summary))
  }

  /// Replaces only the filters of an open window's prio trees (its peers changed: a pod came or
  /// went, a hostname resolved anew); the fault stays on. A `chaos.reshape` span records it under the
  /// window's `chaos.experiment`, with the new peers.
  public func reshape(_ window: inout OpenWindow, to shaping: TrafficShaping) async throws {
    let span = tracer.startSpan("chaos.reshape", context: window.span.context, ofKind: .internal)
    defer { span.end() }
    Self.describe(window.experiment, on: span)
    Self.describeShaping(shaping, on: span)
    do {
      window.active.entry = try await injector.reshape(window.active.entry, to: shaping)
      window.active.experiment.shaping = shaping
      Self.describeShaping(shaping, on: window.span)
    } catch {
      Self.fail(span, error)
      throw error
    }
    await notify(.reapplied(window.summary))
  }

  /// Closes a window: reverts under a `chaos.revert` span, tells the observers, ends `chaos.experiment`.
  ///
  /// - Throws: when the fault may still be on the kernel. The window stays open (its span too) so the
  ///   caller can try again; ``abandon(_:)`` ends it for good.
  @discardableResult
  public func close(_ window: OpenWindow, reason: RevertReason) async throws -> RevertOutcome {
    do {
      let outcome = try await revertTraced(window.active.entry, reason: reason, under: window.span.context) {
        Self.describe(window.experiment, on: $0)
      }
      await notify(.closed(window.summary, reason: reason, outcome: outcome))
      window.span.end()
      return outcome
    } catch {
      Self.fail(window.span, error)
      throw error
    }
  }

  /// Ends a window whose revert keeps failing (at exit): its span ends with the last error recorded;
  /// its journal entry stays for the next start or `revert --all`.
  public func abandon(_ window: OpenWindow) {
    window.span.end()
  }

  /// Compares what the kernel holds on an open window's target with what the window applied, and
  /// records a drift on the window's span. A target reached through a new path (re-resolved by inode)
  /// is updated in `window`.
  public func inspect(_ window: inout OpenWindow) async -> WindowDrift {
    let drift: WindowDrift
    do {
      guard let (state, target) = try await injector.inspect(window.active.entry) else {
        return record(
          .targetGone("network namespace net:[\(window.active.entry.namespace.inode)] is gone"), on: window)
      }
      window.active.entry.target = target
      switch state {
      case .faultline(let parameters):
        let mismatches = window.active.report.applied.mismatches(against: parameters)
        drift = mismatches.isEmpty ? .none : .changed(mismatches)
      case .foreign(let qdisc): drift = .replaced(qdisc.summary)
      case .none: drift = .removed
      case .interfaceGone:
        drift = .targetGone("interface \(target.interface) is gone from \(target.namespace)")
      }
    } catch {
      logger.warning(
        "cannot read the target back", metadata: ["id": "\(window.experiment.id)", "error": "\(error)"])
      return .none
    }
    return record(drift, on: window)
  }

  private func record(_ drift: WindowDrift, on window: OpenWindow) -> WindowDrift {
    guard drift != .none else { return drift }
    window.span.addEvent(
      SpanEvent(
        name: "chaos.drift",
        attributes: ["chaos.experiment.drift": .string(drift.kind), "message": .string(drift.description)]))
    return drift
  }

  /// Reverts the journaled faults that pass `filter` (default: those whose process is gone), each under
  /// its own `chaos.revert` span (`crash_recovery`). Returns how many were reverted and the entries
  /// whose revert failed (they stay in the journal).
  @discardableResult
  public func reconcile(where filter: @Sendable (JournalEntry) -> Bool = { !$0.ownerIsAlive }) async
    -> (reverted: Int, failed: [JournalEntry])
  {
    let entries = injector.journal.entries { path, error in
      logger.error("unreadable journal entry", metadata: ["path": "\(path)", "error": "\(error)"])
    }
    var reverted = 0
    var failed: [JournalEntry] = []
    for entry in entries where filter(entry) {
      do {
        try await revertTraced(entry, reason: .crashRecovery, under: parent) { Self.describe(entry, on: $0) }
        reverted += 1
      } catch {
        logger.error("revert failed", metadata: ["id": "\(entry.id)", "error": "\(error)"])
        failed.append(entry)
      }
    }
    return (reverted, failed)
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
      await notify(.applyFinished(ok: true, seconds: (clock.now - start).seconds))
      Self.describeFault(active.report.applied.fault, prefix: ChaosSpanVocabulary.appliedPrefix, on: inject)
      inject.attributes["chaos.experiment.verified"] = true
      span.attributes["chaos.experiment.verified"] = true
      return active
    } catch {
      await notify(.applyFinished(ok: false, seconds: (clock.now - start).seconds))
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
      await notify(.revertFinished(reason: reason, ok: true))
      return outcome
    } catch {
      await notify(.revertFinished(reason: reason, ok: false))
      Self.fail(span, error)
      throw error
    }
  }

  private func traceparent(of span: any Span) -> String? {
    var carrier: [String: String] = [:]
    tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
    return carrier["traceparent"]
  }

  /// Tells every observer, in order.
  func notify(_ event: WindowEvent) async {
    for observer in observers { await observer.observe(event) }
  }

  // MARK: - Attributes

  /// Sets the `chaos.experiment.*` attributes of an experiment on a span.
  static func describe(_ experiment: Experiment, on span: any Span) {
    var attributes = span.attributes
    attributes[ChaosSpanVocabulary.name] = experiment.name
    attributes[ChaosSpanVocabulary.id] = experiment.id
    attributes["chaos.experiment.mode"] = experiment.mode.rawValue
    if let profile = experiment.profile { attributes["chaos.experiment.profile"] = profile }
    if let schedule = experiment.schedule { attributes["chaos.experiment.schedule"] = schedule }
    if let duration = experiment.duration {
      attributes["chaos.experiment.duration_ms"] = Int64(duration.milliseconds.rounded())
    }
    describeTarget(experiment.target, into: &attributes)
    if let pod = experiment.pod {
      for (key, value) in pod.attributes { attributes[key] = value }
    }
    if let traffic = experiment.traffic {
      attributes["chaos.experiment.traffic.direction"] = traffic.direction.rawValue
      attributes["chaos.experiment.traffic.selection"] = traffic.summary
    }
    span.attributes = attributes
    if let shaping = experiment.shaping { describeShaping(shaping, on: span) }
    describeFault(experiment.fault, prefix: ChaosSpanVocabulary.netemPrefix, on: span)
  }

  /// The attributes of a journaled fault (crash recovery: the experiment span is gone).
  static func describe(_ entry: JournalEntry, on span: any Span) {
    var attributes = span.attributes
    attributes[ChaosSpanVocabulary.name] = entry.name
    attributes[ChaosSpanVocabulary.id] = entry.id
    describeTarget(entry.target, into: &attributes)
    span.attributes = attributes
    describeFault(entry.fault, prefix: ChaosSpanVocabulary.netemPrefix, on: span)
  }

  /// How many matches a span lists before it says how many more there are: a selection of
  /// hundreds of pod IPs must not make a span of hundreds of kilobytes.
  static let listedMatches = 16

  /// The resolved matches of a shaping (`chaos.experiment.traffic.faulted`, `.excluded`, `.count`).
  static func describeShaping(_ shaping: TrafficShaping, on span: any Span) {
    guard let shape = shaping.egress?.shape ?? shaping.ingress?.shape else { return }
    func list(_ matches: [FlowMatch]) -> String {
      let shown = matches.prefix(listedMatches).map(describeMatch).joined(separator: ", ")
      return matches.count > listedMatches ? shown + " (+\(matches.count - listedMatches) more)" : shown
    }
    var attributes = span.attributes
    attributes["chaos.experiment.traffic.faulted"] = list(shape.faulted)
    attributes["chaos.experiment.traffic.faulted_count"] = shape.faulted.count
    if !shape.excluded.isEmpty { attributes["chaos.experiment.traffic.excluded"] = list(shape.excluded) }
    span.attributes = attributes
  }

  /// `10.0.0.0/8 tcp/443`.
  public static func describeMatch(_ match: FlowMatch) -> String {
    var text = match.prefix.description
    if let proto = match.ipProtocol { text += " \(proto.rawValue)" }
    if let ports = match.ports {
      text += ports.lower == ports.upper ? "/\(ports.lower)" : "/\(ports.lower)-\(ports.upper)"
    }
    return text
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
    case .moduleUnavailable: "module_unavailable"
    case .invalidShape: "invalid_shape"
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
