import Foundation
import NetemKernel

/// A fault window as observers see it.
public struct WindowSummary: Sendable {
  /// The experiment (its target is where the fault is now).
  public var experiment: Experiment
  /// When the fault went on.
  public var startedAt: Date
  /// The `chaos.experiment` span's W3C `traceparent`, nil when tracing is off.
  public var traceparent: String?

  /// A summary of its parts.
  public init(experiment: Experiment, startedAt: Date, traceparent: String?) {
    self.experiment = experiment
    self.startedAt = startedAt
    self.traceparent = traceparent
  }
}

/// What happens to fault windows, and to the agent that runs them, in the order it happens.
public enum WindowEvent: Sendable {
  /// The agent started (nothing of this process is open yet).
  case agentStarted
  /// The agent reconciled what earlier processes left behind and loaded its profiles.
  case ready
  /// A fault went on and was verified.
  case opened(WindowSummary)
  /// An open window's fault was replaced in place (new parameters, or put back after a drift).
  case reapplied(WindowSummary)
  /// A window's fault came off (or was found gone); `outcome` says how.
  case closed(WindowSummary, reason: RevertReason, outcome: RevertOutcome)
  /// One apply attempt ended (read-back included), successful or not, and how long it took.
  case applyFinished(ok: Bool, seconds: Double)
  /// One revert attempt ended; a failed one is retried.
  case revertFinished(reason: RevertReason, ok: Bool)
  /// The resync found an open window's target not as the window left it.
  case drift(WindowSummary, WindowDrift)
  /// The faults that should be on but are not, and those that should be off but are not (one line
  /// each, saying which and why), after any change.
  case pending(applies: [String], reverts: [String])
  /// A profile file failed to load (its last good profiles keep running).
  case reloadFailed
}

/// Something that follows fault windows: the annotation files, Pod patches, metrics.
///
/// Observers are called after the kernel change, in order, and never fail a fault: they log their
/// own errors.
public protocol WindowObserver: Sendable {
  /// Called once per event.
  func observe(_ event: WindowEvent) async
}
