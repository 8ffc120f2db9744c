import FaultModel
import Foundation

/// One pod chosen for a fault: where to apply it and which pod it is.
public struct PodTarget: Sendable, Hashable, CustomStringConvertible {
  /// The interface inside the pod and the pod's network namespace (a `<procRoot>/<pid>/ns/net` path).
  public var target: FaultTarget
  /// The pod's Kubernetes namespace (`k8s.namespace.name`).
  public var namespace: String
  /// The pod's name (`k8s.pod.name`).
  public var name: String
  /// The pod's UID (`k8s.pod.uid`); names its per-pod annotation file.
  public var uid: String
  /// The inode of the pod's network namespace: when it changes (the pod sandbox was recreated) the
  /// pod's window is closed and opened again.
  public var netnsInode: UInt64

  /// A target of `target` for the pod `namespace/name` with `uid`.
  public init(target: FaultTarget, namespace: String, name: String, uid: String, netnsInode: UInt64) {
    self.target = target
    self.namespace = namespace
    self.name = name
    self.uid = uid
    self.netnsInode = netnsInode
  }

  /// `default/payment-7d9f`.
  public var qualifiedName: String { "\(namespace)/\(name)" }

  /// `default/payment-7d9f: eth0 in /proc/4242/ns/net`.
  public var description: String { "\(qualifiedName): \(target)" }

  /// The span attributes of the pod (`k8s.pod.name`, `k8s.namespace.name`, `k8s.pod.uid`).
  public var attributes: [String: String] {
    ["k8s.pod.name": name, "k8s.namespace.name": namespace, "k8s.pod.uid": uid]
  }
}

/// Where `faultline run` finds the pods a profile's `target.pods` selects (DaemonSet mode).
///
/// The agent implements it over the Kubernetes API and the node's `/proc`; FaultAgent only sees this
/// protocol, so the scheduler can be tested without a cluster. Both functions must pick pods with the
/// profile's own seed, so that `one`, `fixed:N` and `percent:N` pick what `faultline plan` shows.
public protocol PodTargetSource: Sendable {
  /// The pods `selector` selects on this node now, with `interface` as each target's interface.
  ///
  /// - Parameter profile: the profile name (the selection seed).
  func resolve(_ selector: PodSelector, profile: String, interface: String) async throws -> [PodTarget]

  /// Calls `update` with the selected pods at once and again whenever they change, until the calling
  /// task is cancelled (then it returns or throws `CancellationError`).
  ///
  /// - Throws: when the pods cannot be listed at the start; later failures are retried inside.
  func watch(
    _ selector: PodSelector, profile: String, interface: String,
    update: @Sendable ([PodTarget]) async -> Void
  ) async throws

  /// Sets (nil: removes) `chaos.experiment/*` annotations on the Pod object (`--annotate-pods`).
  func annotate(_ pod: PodTarget, with annotations: [String: String?]) async throws
}

extension PodTargetSource {
  /// The default does nothing (a source without an API server to write to).
  public func annotate(_ pod: PodTarget, with annotations: [String: String?]) async throws {}
}

/// The Pod-object annotations for an experiment window on a pod (nil values remove keys).
public func podObjectAnnotations(
  _ experiment: Experiment?, start: Date, traceparent: String?
) -> [String: String?] {
  let keys = [
    "chaos.experiment/name", "chaos.experiment/id", "chaos.experiment/traceparent",
    "chaos.experiment/started-at", "chaos.experiment/ends-at", "chaos.experiment/interface",
    "chaos.experiment/fault",
  ]
  var result: [String: String?] = Dictionary(uniqueKeysWithValues: keys.map { ($0, nil) })
  result["chaos.experiment/active"] = "false"
  guard let experiment else { return result }
  let published = AnnotationWriter.Published(experiment: experiment, start: start, traceparent: traceparent)
  for (key, value) in AnnotationWriter.annotations(for: [published], compatKey: nil) { result[key] = value }
  return result
}

/// A per-pod annotation file's location: `<directory>/<pod-uid>/annotations`, which the pod's app
/// container mounts with `subPathExpr: $(POD_UID)`; nil when `uid` is not a pod UID
/// (``isPodUID(_:)``), so that nothing from the API server becomes a path component unchecked.
public func podAnnotationsPath(directory: String, uid: String) -> String? {
  guard isPodUID(uid) else { return nil }
  return (directory.hasSuffix("/") ? directory : directory + "/") + uid + "/annotations"
}

/// Whether `uid` has the shape of a Kubernetes pod UID: a UUID in its 36-character form
/// (`8-4-4-4-12` hex digits, what the API server assigns) or 32 hex digits (the hash kubelet gives
/// static pods).
public func isPodUID(_ uid: String) -> Bool {
  let bytes = Array(uid.utf8)
  func isHex(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
      || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
      || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
  }
  switch bytes.count {
  case 32:
    return bytes.allSatisfy(isHex)
  case 36:
    return bytes.enumerated().allSatisfy { index, byte in
      [8, 13, 18, 23].contains(index) ? byte == UInt8(ascii: "-") : isHex(byte)
    }
  default:
    return false
  }
}
