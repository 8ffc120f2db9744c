import FaultModel
import Foundation
import SystemPackage
import Logging
import NetemKernel

/// Applies and reverts faults with the journal around every kernel change.
///
/// Order: checks → journal entry written and fsynced → kernel apply → read-back. Revert: kernel →
/// journal entry removed. A failed apply is rolled back by the kernel layer and its entry removed.
///
/// A namespace is held by inode. When the path a fault was applied through fails or names another
/// namespace (the pod process it named exited, or its PID was reused), the namespace is looked up
/// again by inode; only when nothing holds that inode any more is it gone, and only then, or after a
/// successful revert, is a journal entry removed.
public struct Injector: Sendable {
  /// The kernel.
  public let kernel: any KernelClient
  /// The journal.
  public let journal: Journal
  /// Stamps `startedAt` and `expiresAt`.
  public let clock: any AgentClock
  private let logger: Logger

  /// An injector over `kernel` recording in `journal`.
  public init(
    kernel: any KernelClient, journal: Journal, clock: any AgentClock = SystemClock(), logger: Logger
  ) {
    self.kernel = kernel
    self.journal = journal
    self.clock = clock
    self.logger = logger
  }

  /// Applies the experiment's fault, journaled.
  ///
  /// Entries of earlier faults on the same interface and namespace are superseded (removed) when this
  /// process or a process that is gone wrote them; an entry another live faultline holds is left to it.
  public func inject(_ experiment: Experiment, force: Bool = false) async throws -> ActiveFault {
    do {
      return try await injectOnce(experiment, at: experiment.target, force: force)
    } catch let error as KernelError where error.kind.meansPathMoved {
      guard let inode = experiment.namespaceInode, let moved = await kernel.locateNamespace(inode: inode)
      else {
        throw error
      }
      logger.info(
        "namespace path moved; applying through the new one",
        metadata: ["id": "\(experiment.id)", "was": "\(experiment.target.namespace)", "now": "\(moved)"])
      let target = FaultTarget(interface: experiment.target.interface, namespace: moved)
      return try await injectOnce(experiment, at: target, force: force)
    }
  }

  private func injectOnce(_ experiment: Experiment, at target: FaultTarget, force: Bool) async throws
    -> ActiveFault
  {
    let journal = journal
    let now = clock.now
    let shaping = experiment.shaping ?? .wholeEgress
    let recorded = RecordedEntry()
    let prepare: @Sendable (ApplyPlan) throws -> Void = { plan in
      let onTarget = journal.entries().filter {
        $0.target.interface == target.interface && $0.namespace.inode == plan.namespace.inode
      }
      let previous = onTarget.first { $0.id == experiment.id } ?? onTarget.first
      let entry = JournalEntry(
        id: experiment.id, name: experiment.name, target: target, namespace: plan.namespace,
        handle: NetemKernel.handle,
        // A fault re-applied over our own qdisc keeps the foreign qdisc saved by the first one.
        replaced: plan.replacing ?? (plan.previous?.isFaultline == true ? previous?.replaced : nil),
        fault: experiment.fault, shaping: experiment.shaping, ingress: previous?.ingress, startedAt: now,
        expiresAt: experiment.duration.map { now.adding($0) })
      try journal.record(entry)
      recorded.set(entry, superseded: onTarget.filter { $0.id != experiment.id })
    }
    var report: ApplyReport?
    switch shaping.egress {
    case nil:
      // Ingress only: the journal entry still comes before the first change.
      let (identity, ifindex) = try await kernel.resolve(target)
      if let expected = experiment.namespaceInode, expected != identity.inode {
        throw KernelError.namespaceChanged(path: identity.path, expected: expected, found: identity.inode)
      }
      try prepare(
        ApplyPlan(
          target: target, namespace: identity, ifindex: ifindex, previous: nil, replacing: nil,
          parameters: NetemParameters(experiment.fault, distribution: nil)))
    case .whole:
      report = try await kernel.apply(
        experiment.fault, to: target, expectedInode: experiment.namespaceInode, force: force, prepare: prepare
      )
    case .shaped(let shape):
      report = try await kernel.applyShaped(
        experiment.fault, shape: shape, to: target, expectedInode: experiment.namespaceInode, force: force,
        prepare: prepare)
    }
    guard let (prepared, superseded) = recorded.get() else {
      fatalError("the kernel applied without calling prepare")
    }
    var entry = prepared
    if let ingress = shaping.ingress {
      do {
        let redirect = try await kernel.redirectIngress(of: target, expectedInode: entry.namespace.inode)
        entry.ingress = redirect
        try journal.record(entry)
        let ifb = FaultTarget(interface: redirect.ifb, namespace: target.namespace)
        let ingressReport: ApplyReport
        switch ingress {
        case .whole:
          ingressReport = try await kernel.apply(
            experiment.fault, to: ifb, expectedInode: entry.namespace.inode, force: false, prepare: { _ in })
        case .shaped(let shape):
          ingressReport = try await kernel.applyShaped(
            experiment.fault, shape: shape, to: ifb, expectedInode: entry.namespace.inode, force: false,
            prepare: { _ in })
        }
        report = report ?? ingressReport
      } catch {
        // Half applied: take the egress part and the redirect back off before failing.
        logger.error(
          "ingress setup failed; rolling back", metadata: ["id": "\(experiment.id)", "error": "\(error)"])
        _ = try? await revertParts(entry, at: target)
        try? journal.remove(id: entry.id)
        throw error
      }
    }
    guard let report else { fatalError("an apply with no direction") }
    for old in superseded where old.isOwnedByThisProcess || !old.ownerIsAlive {
      try? journal.remove(id: old.id)
    }
    logger.info(
      "injected",
      metadata: [
        "experiment": "\(experiment.name)", "id": "\(experiment.id)", "target": "\(target)",
        "tc": "\(report.applied.tcDescription)",
        "traffic": "\(experiment.traffic?.summary ?? "all egress")",
      ])
    return ActiveFault(experiment: experiment, report: report, entry: entry)
  }

  /// Replaces the filters of an open fault's prio trees with those of `shaping` (its peers
  /// changed); the netem stays on. A change between whole and shaped goes through ``inject(_:force:)``.
  public func reshape(_ entry: JournalEntry, to shaping: TrafficShaping) async throws -> JournalEntry {
    var entry = entry
    let done: Bool? = try await onNamespace(of: entry) { target in
      if let shape = shaping.egress?.shape {
        try await kernel.reshape(shape, on: target, expectedInode: entry.namespace.inode)
      }
      if let shape = shaping.ingress?.shape, let redirect = entry.ingress {
        try await kernel.reshape(
          shape, on: FaultTarget(interface: redirect.ifb, namespace: target.namespace),
          expectedInode: entry.namespace.inode)
      }
      return true
    }
    guard done != nil else {
      throw KernelError.namespaceNotFound("net:[\(entry.namespace.inode)]", errno: .noSuchFileOrDirectory)
    }
    entry.shaping = shaping
    try journal.record(entry)
    return entry
  }

  /// Cleans the journal after an apply that threw (the kernel layer already rolled back).
  public func discard(_ experiment: Experiment) {
    try? journal.remove(id: experiment.id)
  }

  /// Reverts a journaled fault (restoring a saved foreign qdisc, removing the ingress redirect and
  /// its IFB) and removes its entry.
  ///
  /// - Throws: when the fault may still be on the kernel (the entry stays, for a retry).
  @discardableResult
  public func revert(_ entry: JournalEntry, reason: RevertReason) async throws -> RevertOutcome {
    let outcome =
      try await onNamespace(of: entry) { target in try await revertParts(entry, at: target) }
      ?? .nothingToRevert("network namespace net:[\(entry.namespace.inode)] is gone")
    try journal.remove(id: entry.id)
    logger.info(
      "reverted",
      metadata: [
        "experiment": "\(entry.name)", "id": "\(entry.id)", "target": "\(entry.target)",
        "reason": "\(reason.rawValue)", "outcome": "\(outcome)",
      ])
    return outcome
  }

  /// Takes every part of a fault off `target`: the root (netem or prio tree) when the fault shaped
  /// egress, the ingress redirect and its IFB when it shaped ingress.
  private func revertParts(_ entry: JournalEntry, at target: FaultTarget) async throws -> RevertOutcome {
    let shaping = entry.shaping ?? .wholeEgress
    var outcome = RevertOutcome.nothingToRevert("no faultline qdisc on \(target)")
    if shaping.egress != nil {
      outcome = try await kernel.revert(
        target, restoring: entry.replaced, expectedInode: entry.namespace.inode)
    }
    if shaping.ingress != nil {
      // An entry written before the redirect was set up names none: look for one.
      var redirect = entry.ingress
      if redirect == nil {
        redirect = try await kernel.readIngressRedirect(of: target, expectedInode: entry.namespace.inode)
      }
      if let redirect {
        try await kernel.removeIngressRedirect(redirect, in: target, expectedInode: entry.namespace.inode)
        if case .nothingToRevert = outcome { outcome = .removed }
      }
    }
    return outcome
  }

  /// Runs `body` on the namespace of `entry`: through its recorded path, or, when that path is gone
  /// or names another namespace, through a path found by inode. Nil when nothing holds the
  /// namespace any more.
  private func onNamespace<T>(of entry: JournalEntry, _ body: (FaultTarget) async throws -> T) async throws
    -> T?
  {
    do {
      return try await body(entry.target)
    } catch let error as KernelError where error.kind.meansPathMoved {
      guard let moved = await kernel.locateNamespace(inode: entry.namespace.inode) else { return nil }
      logger.info(
        "namespace path moved; going in through the new one",
        metadata: ["id": "\(entry.id)", "was": "\(entry.target.namespace)", "now": "\(moved)"])
      return try await body(FaultTarget(interface: entry.target.interface, namespace: moved))
    }
  }

  /// Reverts a target (`faultline revert`), using the journal's saved qdisc for it when there is one.
  ///
  /// - Throws: ``InjectorError`` when the fault there belongs to another faultline that is running
  ///   (it reverts its own faults; `revert --all` overrides).
  public func revert(target: FaultTarget, reason: RevertReason) async throws -> RevertOutcome {
    let (identity, _) = try await kernel.resolve(target)
    let matching = journal.entries().filter {
      $0.target.interface == target.interface && $0.namespace.inode == identity.inode
    }
    if let held = matching.first(where: { !$0.isOwnedByThisProcess && $0.ownerIsAlive }) {
      throw InjectorError.heldByLiveOwner(held)
    }
    guard let entry = matching.first else {
      return try await kernel.revert(target, restoring: nil, expectedInode: nil)
    }
    let outcome = try await revert(entry, reason: reason)
    for other in matching.dropFirst() { try? journal.remove(id: other.id) }
    return outcome
  }

  /// Reverts every journaled fault that passes `filter` (default: all, whoever owns them).
  public func revertJournaled(
    reason: RevertReason, where filter: (JournalEntry) -> Bool = { _ in true }
  ) async -> [(JournalEntry, Result<RevertOutcome, Error>)] {
    var results: [(JournalEntry, Result<RevertOutcome, Error>)] = []
    let entries = journal.entries { path, error in
      logger.error("unreadable journal entry", metadata: ["path": "\(path)", "error": "\(error)"])
    }
    for entry in entries where filter(entry) {
      do {
        results.append((entry, .success(try await revert(entry, reason: reason))))
      } catch {
        logger.error("revert failed", metadata: ["id": "\(entry.id)", "error": "\(error)"])
        results.append((entry, .failure(error)))
      }
    }
    return results
  }

  /// The target's root qdisc now, through the namespace's current path (looked up again by inode
  /// when the recorded one moved). Nil when the namespace is gone.
  public func inspect(_ entry: JournalEntry) async throws -> (TargetInspection, FaultTarget)? {
    try await onNamespace(of: entry) { target in
      (try await kernel.inspect(target, expectedInode: entry.namespace.inode), target)
    }
  }
}

/// What the injector refuses to do.
public struct InjectorError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The journal entry of the fault that is another live process's.
  public let entry: JournalEntry
  /// What to print.
  public let description: String

  /// The fault on the target belongs to another faultline process that is still running.
  public static func heldByLiveOwner(_ entry: JournalEntry) -> InjectorError {
    InjectorError(
      entry: entry,
      description:
        "\(entry.target) carries \(entry.name) (id \(entry.id)) of faultline pid \(entry.pid), which is "
        + "still running and reverts it itself; stop that process, or use revert --all")
  }
}

extension KernelError.Kind {
  /// The namespace path is gone or names another namespace: look the namespace up again by inode.
  var meansPathMoved: Bool { self == .namespaceNotFound || self == .namespaceChanged }
}

/// Carries the journal entry out of the kernel layer's `prepare` callback (another thread).
private final class RecordedEntry: @unchecked Sendable {
  private let lock = NSLock()
  private var value: (JournalEntry, [JournalEntry])?
  func set(_ entry: JournalEntry, superseded: [JournalEntry]) {
    lock.withLock { value = (entry, superseded) }
  }
  func get() -> (JournalEntry, [JournalEntry])? { lock.withLock { value } }
}
