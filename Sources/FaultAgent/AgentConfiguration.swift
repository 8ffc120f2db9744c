import FaultModel

/// How `faultline run` runs its profiles.
public struct AgentConfiguration: Sendable {
  /// The longest a window may last (`--max-duration`, default 1h); also the length of a scheduled
  /// window whose profile has no `duration`. An unscheduled profile without `duration` is held until
  /// the agent stops.
  public var maxDuration: Duration
  /// How faultline runs (`chaos.experiment.mode`); nil (the default) derives it per profile:
  /// `sidecar` for a profile on the agent's own namespace, `daemonset` for one reaching into others.
  public var mode: AgentMode?
  /// How often every open window's target is read back (`--resync-interval`, default 30s): a fault
  /// someone removed is put back, one changed by someone else is reported as drift. Orphans in the
  /// journal are swept at the same pace.
  public var resyncInterval: Duration
  /// Retries of a fault that should be on but failed to apply (or whose targets could not be found).
  public var applyBackoff: Backoff
  /// Retries of a revert that failed.
  public var revertBackoff: Backoff
  /// How many times each revert is tried at shutdown before its journal entry is left for the next
  /// start (or the preStop hook's `faultline revert --all`).
  public var shutdownRevertAttempts: Int
  /// Addresses never faulted: the node's own IPs, from which the kubelet probes (`--node-ip`, `HOST_IP` from the Downward API's `status.hostIP`). A profile
  /// turns this off with `traffic.protectNode: false`.
  public var protectedPrefixes: [IPPrefix]
  /// How often hostname peers are resolved again while a window is open (default 30s; the system
  /// resolver does not report TTLs).
  public var peerRefreshInterval: Duration

  /// The default longest window (`--max-duration`).
  public static let defaultMaxDuration: Duration = .seconds(3600)
  /// The default time between read-backs of the open windows (`--resync-interval`).
  public static let defaultResyncInterval: Duration = .seconds(30)

  /// A configuration with the documented defaults.
  public init(
    maxDuration: Duration = defaultMaxDuration, mode: AgentMode? = nil,
    resyncInterval: Duration = defaultResyncInterval,
    applyBackoff: Backoff = Backoff(initial: .seconds(1), maximum: .seconds(60)),
    revertBackoff: Backoff = Backoff(initial: .seconds(1), maximum: .seconds(30)),
    shutdownRevertAttempts: Int = 3, protectedPrefixes: [IPPrefix] = [],
    peerRefreshInterval: Duration = .seconds(30)
  ) {
    self.maxDuration = maxDuration
    self.mode = mode
    self.resyncInterval = resyncInterval
    self.applyBackoff = applyBackoff
    self.revertBackoff = revertBackoff
    self.shutdownRevertAttempts = shutdownRevertAttempts
    self.protectedPrefixes = protectedPrefixes
    self.peerRefreshInterval = peerRefreshInterval
  }
}
