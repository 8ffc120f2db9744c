import FaultModel
import Foundation
import Logging
import NetemKernel

/// Why a fault was reverted (`chaos.experiment.revert.reason`).
public enum RevertReason: String, Sendable, Hashable, Codable {
  /// Its window ended.
  case durationElapsed = "duration_elapsed"
  /// SIGINT or SIGTERM.
  case signal
  /// `faultline revert`.
  case manual
  /// Its profile was deleted or changed.
  case profileRemoved = "profile_removed"
  /// A previous process left it behind.
  case crashRecovery = "crash_recovery"
  /// Something failed.
  case error
}

/// How faultline was started (`chaos.experiment.mode`).
public enum AgentMode: String, Sendable, Hashable, Codable {
  /// `faultline inject`.
  case cli
  /// `faultline run` in the pod's own namespace.
  case sidecar
  /// `faultline run` reaching into pods' namespaces.
  case daemonset
}

/// One fault window to run: what, where, how long.
public struct Experiment: Sendable, Hashable {
  /// Unique per window (`chaos.experiment.id`).
  public var id: String
  /// The experiment (profile) name.
  public var name: String
  /// Where.
  public var target: FaultTarget
  /// What.
  public var fault: NetemFault
  /// How long (nil: until stopped).
  public var duration: Duration?
  /// How faultline runs.
  public var mode: AgentMode
  /// The profile file it came from, if any.
  public var profile: String?
  /// The schedule text, if any.
  public var schedule: String?
  /// Extra span attributes describing the target, e.g. `k8s.pod.name` for a pod.
  public var attributes: [String: String]

  /// An experiment; `id` defaults to a fresh random id.
  public init(
    id: String = Experiment.newID(), name: String, target: FaultTarget, fault: NetemFault,
    duration: Duration? = nil, mode: AgentMode = .cli, profile: String? = nil, schedule: String? = nil,
    attributes: [String: String] = [:]
  ) {
    self.id = id
    self.name = name
    self.target = target
    self.fault = fault
    self.duration = duration
    self.mode = mode
    self.profile = profile
    self.schedule = schedule
    self.attributes = attributes
  }

  /// A random 16-byte hex id.
  public static func newID() -> String {
    (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
  }
}

/// A fault that is on the kernel now.
public struct ActiveFault: Sendable {
  /// The experiment.
  public var experiment: Experiment
  /// What the kernel reported back.
  public var report: ApplyReport
  /// Its journal entry.
  public var entry: JournalEntry
}

/// Applies and reverts faults with the journal around every kernel change.
///
/// Order: checks → journal entry written and fsynced → kernel apply → read-back. Revert: kernel →
/// journal entry removed. A failed apply is rolled back by the kernel layer and its entry removed.
public struct Injector: Sendable {
  /// The kernel interface.
  public let kernel: NetemKernel
  /// The journal.
  public let journal: Journal
  private let logger: Logger

  /// An injector over `kernel` recording in `journal`.
  public init(kernel: NetemKernel, journal: Journal, logger: Logger) {
    self.kernel = kernel
    self.journal = journal
    self.logger = logger
  }

  /// Applies the experiment's fault, journaled.
  public func inject(_ experiment: Experiment, force: Bool = false, now: Date = Date()) async throws
    -> ActiveFault
  {
    let journal = journal
    // The entry of a fault already on this target (ours, e.g. an in-place change of parameters).
    let onTarget = journal.entries().filter { $0.target == experiment.target }
    let previous = onTarget.first { $0.id == experiment.id } ?? onTarget.first
    let recorded = RecordedEntry()
    let report = try await kernel.apply(experiment.fault, to: experiment.target, force: force) { plan in
      let entry = JournalEntry(
        id: experiment.id, name: experiment.name, target: experiment.target, namespace: plan.namespace,
        handle: NetemKernel.handle,
        // A fault re-applied over our own qdisc keeps the foreign qdisc saved by the first one.
        replaced: plan.replacing ?? (plan.previous?.isFaultline == true ? previous?.replaced : nil),
        fault: experiment.fault, startedAt: now,
        expiresAt: experiment.duration.map { now.addingTimeInterval(Double($0.nanoseconds) / 1e9) })
      try journal.record(entry)
      recorded.set(entry)
    }
    guard let entry = recorded.get() else { fatalError("the kernel applied without calling prepare") }
    if let previous, previous.id != entry.id, previous.namespace.inode == entry.namespace.inode {
      try? journal.remove(id: previous.id)
    }
    logger.info(
      "injected",
      metadata: [
        "experiment": "\(experiment.name)", "id": "\(experiment.id)", "target": "\(experiment.target)",
        "tc": "\(report.applied.tcDescription)",
      ])
    return ActiveFault(experiment: experiment, report: report, entry: entry)
  }

  /// Cleans the journal after an apply that threw (the kernel layer already rolled back).
  public func discard(_ experiment: Experiment) {
    try? journal.remove(id: experiment.id)
  }

  /// Reverts a journaled fault (restoring a saved foreign qdisc) and removes its entry.
  @discardableResult
  public func revert(_ entry: JournalEntry, reason: RevertReason) async throws -> RevertOutcome {
    let outcome = try await kernel.revert(
      entry.target, restoring: entry.replaced, expectedInode: entry.namespace.inode)
    try journal.remove(id: entry.id)
    logger.info(
      "reverted",
      metadata: [
        "experiment": "\(entry.name)", "id": "\(entry.id)", "target": "\(entry.target)",
        "reason": "\(reason.rawValue)", "outcome": "\(outcome)",
      ])
    return outcome
  }

  /// Reverts a target, using the journal's saved qdisc for it when there is one.
  public func revert(target: FaultTarget, reason: RevertReason) async throws -> RevertOutcome {
    let (identity, _) = try await kernel.resolve(target)
    let matching = journal.entries().filter {
      $0.target.interface == target.interface && $0.namespace.inode == identity.inode
    }
    guard let entry = matching.first else { return try await kernel.revert(target) }
    let outcome = try await revert(entry, reason: reason)
    for other in matching.dropFirst() { try? journal.remove(id: other.id) }
    return outcome
  }

  /// Reverts every journaled fault whose owner passes `filter` (default: all).
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
}

/// Carries the journal entry out of the kernel layer's `prepare` callback (another thread).
private final class RecordedEntry: @unchecked Sendable {
  private let lock = NSLock()
  private var entry: JournalEntry?
  func set(_ value: JournalEntry) { lock.withLock { entry = value } }
  func get() -> JournalEntry? { lock.withLock { entry } }
}
