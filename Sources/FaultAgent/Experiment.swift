import FaultModel
import Foundation
import NetemKernel

/// Why a fault was reverted (`chaos.experiment.revert.reason`).
public enum RevertReason: String, Sendable, Hashable, Codable {
  /// Its window ended.
  case durationElapsed = "duration_elapsed"
  /// SIGINT or SIGTERM.
  case signal
  /// `faultline revert`.
  case manual
  /// Its profile was deleted or changed, or its target left the profile's selection.
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

/// One fault window on one target: what, where, how long.
public struct Experiment: Sendable, Hashable {
  /// Unique per window and target (`chaos.experiment.id`).
  public var id: String
  /// The experiment (profile) name.
  public var name: String
  /// Where. For a pod, the path is only how to reach the namespace now; ``namespaceInode`` is which
  /// namespace it must be.
  public var target: FaultTarget
  /// The inode of the namespace the fault belongs in, when known before the first apply (pods).
  public var namespaceInode: UInt64?
  /// The pod the target is in (DaemonSet mode), for span attributes and per-pod publishing.
  public var pod: PodTarget?
  /// What.
  public var fault: NetemFault
  /// Which traffic, as the profile or the flags select it (nil: the whole interface's egress).
  public var traffic: TrafficSelector?
  /// The kernel shapes for ``traffic`` with its peers resolved now (nil: a whole-interface egress
  /// netem, the default).
  public var shaping: TrafficShaping?
  /// How long (nil: until stopped).
  public var duration: Duration?
  /// How faultline runs.
  public var mode: AgentMode
  /// The profile file it came from, if any.
  public var profile: String?
  /// The schedule text, if any.
  public var schedule: String?

  /// An experiment; `id` defaults to a fresh random id.
  public init(
    id: String = Experiment.newID(), name: String, target: FaultTarget, namespaceInode: UInt64? = nil,
    pod: PodTarget? = nil, fault: NetemFault, traffic: TrafficSelector? = nil, shaping: TrafficShaping? = nil,
    duration: Duration? = nil, mode: AgentMode = .cli, profile: String? = nil, schedule: String? = nil
  ) {
    self.id = id
    self.name = name
    self.target = target
    self.namespaceInode = namespaceInode
    self.pod = pod
    self.fault = fault
    self.traffic = traffic
    self.shaping = shaping
    self.duration = duration
    self.mode = mode
    self.profile = profile
    self.schedule = schedule
  }

  /// A random 16-byte hex id.
  public static func newID() -> String {
    let digits = Array("0123456789abcdef".utf8)
    var bytes = [UInt8]()
    bytes.reserveCapacity(32)
    for _ in 0..<16 {
      let byte = UInt8.random(in: 0...255)
      bytes.append(digits[Int(byte >> 4)])
      bytes.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// A fault that is on the kernel now.
public struct ActiveFault: Sendable {
  /// The experiment.
  public var experiment: Experiment
  /// What the kernel reported back.
  public var report: ApplyReport
  /// Its journal entry (its target is where the fault is now, after any re-resolution).
  public var entry: JournalEntry
}
