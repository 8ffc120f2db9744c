import FaultModel
import Foundation
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
    let recorded = RecordedEntry()
    let report = try await kernel.apply(
      experiment.fault, to: target, expectedInode: experiment.namespaceInode, force: force
    ) { plan in
      let onTarget = journal.entries().filter {
        $0.target.interface == target.interface && $0.namespace.inode == plan.namespace.inode
      }
      let previous = onTarget.first { $0.id == experiment.id } ?? onTarget.first
      let entry = JournalEntry(
        id: experiment.id, name: experiment.name, target: target, namespace: plan.namespace,
        handle: NetemKernel.handle,
        // A fault re-applied over our own qdisc keeps the foreign qdisc saved by the first one.
        replaced: plan.replacing ?? (plan.previous?.isFaultline == true ? previous?.replaced : nil),
        fault: experiment.fault, startedAt: now,
        expiresAt: experiment.duration.map { now.adding($0) })
      try journal.record(entry)
      recorded.set(entry, superseded: onTarget.filter { $0.id != experiment.id })
    }
    guard let (entry, superseded) = recorded.get() else {
      fatalError("the kernel applied without calling prepare")
    }
    for old in superseded where old.isOwnedByThisProcess || !old.ownerIsAlive {
      try? journal.remove(id: old.id)
    }
    logger.info(
      "injected",
      metadata: [
        "experiment": "\(experiment.name)", "id": "\(experiment.id)", "target": "\(target)",
        "tc": "\(report.applied.tcDescription)",
      ])
    return ActiveFault(experiment: experiment, report: report, entry: entry)
  }

  /// Cleans the journal after an apply that threw (the kernel layer already rolled back).
  public func discard(_ experiment: Experiment) {
    try? journal.remove(id: experiment.id)
  }

  /// Reverts a journaled fault (restoring a saved foreign qdisc) and removes its entry.
  ///
  /// - Throws: when the fault may still be on the kernel (the entry stays, for a retry).
  @discardableResult
  public func revert(_ entry: JournalEntry, reason: RevertReason) async throws -> RevertOutcome {
    let outcome: RevertOutcome
    do {
      outcome = try await kernel.revert(
        entry.target, restoring: entry.replaced, expectedInode: entry.namespace.inode)
    } catch let error as KernelError where error.kind.meansPathMoved {
      if let moved = await kernel.locateNamespace(inode: entry.namespace.inode) {
        logger.info(
          "namespace path moved; reverting through the new one",
          metadata: ["id": "\(entry.id)", "was": "\(entry.target.namespace)", "now": "\(moved)"])
        outcome = try await kernel.revert(
          FaultTarget(interface: entry.target.interface, namespace: moved), restoring: entry.replaced,
          expectedInode: entry.namespace.inode)
      } else {
        outcome = .nothingToRevert("network namespace net:[\(entry.namespace.inode)] is gone")
      }
    }
    try journal.remove(id: entry.id)
    logger.info(
      "reverted",
      metadata: [
        "experiment": "\(entry.name)", "id": "\(entry.id)", "target": "\(entry.target)",
        "reason": "\(reason.rawValue)", "outcome": "\(outcome)",
      ])
    return outcome
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
    do {
      return (try await kernel.inspect(entry.target, expectedInode: entry.namespace.inode), entry.target)
    } catch let error as KernelError where error.kind.meansPathMoved {
      guard let moved = await kernel.locateNamespace(inode: entry.namespace.inode) else { return nil }
      let target = FaultTarget(interface: entry.target.interface, namespace: moved)
      return (try await kernel.inspect(target, expectedInode: entry.namespace.inode), target)
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
