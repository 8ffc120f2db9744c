import Foundation

/// The part of a Kubernetes `v1.Pod` faultline needs; every other field of the API object is ignored.
///
/// Decodes the API server's JSON (`metadata`, `spec`, `status`); fields that are absent decode to
/// empty values, so the partial objects of watch bookmarks decode too.
public struct Pod: Sendable, Hashable, Codable, CustomStringConvertible {
  /// `metadata.name`.
  public var name: String
  /// `metadata.namespace`.
  public var namespace: String
  /// `metadata.uid`.
  public var uid: String
  /// `metadata.labels`.
  public var labels: [String: String]
  /// `metadata.annotations` (only the ones faultline reads are kept, see ``cgroupUID``).
  public var annotations: [String: String]
  /// `metadata.resourceVersion`.
  public var resourceVersion: String
  /// `metadata.deletionTimestamp` is set: the pod is terminating.
  public var isTerminating: Bool
  /// `spec.nodeName`; empty while the pod is not scheduled.
  public var nodeName: String
  /// `spec.hostNetwork`: the pod uses the node's network namespace.
  public var hostNetwork: Bool
  /// `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
  public var phase: String
  /// `status.podIPs[].ip` (both families on a dual-stack cluster), else `status.podIP`; empty until
  /// the pod has an address.
  public var podIPs: [String]

  /// The annotation kubelet puts on a static pod's mirror pod: the static pod's own UID.
  public static let mirrorAnnotation = "kubernetes.io/config.mirror"

  /// A pod from its parts.
  public init(
    name: String, namespace: String, uid: String, labels: [String: String] = [:],
    annotations: [String: String] = [:], resourceVersion: String = "", isTerminating: Bool = false,
    nodeName: String = "", hostNetwork: Bool = false, phase: String = "Running", podIPs: [String] = []
  ) {
    self.name = name
    self.namespace = namespace
    self.uid = uid
    self.labels = labels
    self.annotations = annotations
    self.resourceVersion = resourceVersion
    self.isTerminating = isTerminating
    self.nodeName = nodeName
    self.hostNetwork = hostNetwork
    self.phase = phase
    self.podIPs = podIPs
  }

  /// The UID kubelet named the pod's cgroup after: ``uid``, except for a static pod's mirror pod,
  /// whose cgroup carries the static pod's UID (the `kubernetes.io/config.mirror` annotation).
  public var cgroupUID: String {
    (annotations[Self.mirrorAnnotation].flatMap { $0.isEmpty ? nil : $0 } ?? uid).lowercased()
  }

  /// `namespace/name`.
  public var qualifiedName: String { "\(namespace)/\(name)" }

  /// `default/payment-7d9f (uid 0a1b…, Running on node-1)`.
  public var description: String {
    "\(qualifiedName) (uid \(uid), \(phase)\(nodeName.isEmpty ? "" : " on \(nodeName)"))"
  }

  private enum Keys: String, CodingKey {
    case apiVersion, kind, metadata, spec, status
  }

  private enum MetadataKeys: String, CodingKey {
    case name, namespace, uid, labels, annotations, resourceVersion, deletionTimestamp
  }

  private enum SpecKeys: String, CodingKey {
    case nodeName, hostNetwork
  }

  private enum StatusKeys: String, CodingKey {
    case phase, podIP, podIPs
  }

  private struct PodIP: Codable {
    var ip: String
  }

  /// Decodes a `v1.Pod` object.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: Keys.self)
    if container.contains(.metadata) {
      let metadata = try container.nestedContainer(keyedBy: MetadataKeys.self, forKey: .metadata)
      name = try metadata.decodeIfPresent(String.self, forKey: .name) ?? ""
      namespace = try metadata.decodeIfPresent(String.self, forKey: .namespace) ?? ""
      uid = try metadata.decodeIfPresent(String.self, forKey: .uid) ?? ""
      labels = try metadata.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
      let allAnnotations = try metadata.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
      annotations = allAnnotations.filter { $0.key == Self.mirrorAnnotation }
      resourceVersion = try metadata.decodeIfPresent(String.self, forKey: .resourceVersion) ?? ""
      isTerminating = try metadata.decodeIfPresent(String.self, forKey: .deletionTimestamp) != nil
    } else {
      (name, namespace, uid, labels, annotations, resourceVersion) = ("", "", "", [:], [:], "")
      isTerminating = false
    }
    if container.contains(.spec) {
      let spec = try container.nestedContainer(keyedBy: SpecKeys.self, forKey: .spec)
      nodeName = try spec.decodeIfPresent(String.self, forKey: .nodeName) ?? ""
      hostNetwork = try spec.decodeIfPresent(Bool.self, forKey: .hostNetwork) ?? false
    } else {
      (nodeName, hostNetwork) = ("", false)
    }
    if container.contains(.status) {
      let status = try container.nestedContainer(keyedBy: StatusKeys.self, forKey: .status)
      phase = try status.decodeIfPresent(String.self, forKey: .phase) ?? ""
      let listed = try status.decodeIfPresent([PodIP].self, forKey: .podIPs)?.map(\.ip) ?? []
      let single = try status.decodeIfPresent(String.self, forKey: .podIP)
      podIPs = listed.isEmpty ? (single.map { [$0] } ?? []) : listed
    } else {
      phase = ""
      podIPs = []
    }
  }

  /// Encodes the same shape the API server uses (only the fields kept here), e.g. for test fixtures.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Keys.self)
    try container.encode("v1", forKey: .apiVersion)
    try container.encode("Pod", forKey: .kind)
    var metadata = container.nestedContainer(keyedBy: MetadataKeys.self, forKey: .metadata)
    try metadata.encode(name, forKey: .name)
    try metadata.encode(namespace, forKey: .namespace)
    try metadata.encode(uid, forKey: .uid)
    if !labels.isEmpty { try metadata.encode(labels, forKey: .labels) }
    if !annotations.isEmpty { try metadata.encode(annotations, forKey: .annotations) }
    if !resourceVersion.isEmpty { try metadata.encode(resourceVersion, forKey: .resourceVersion) }
    if isTerminating { try metadata.encode("1970-01-01T00:00:00Z", forKey: .deletionTimestamp) }
    var spec = container.nestedContainer(keyedBy: SpecKeys.self, forKey: .spec)
    if !nodeName.isEmpty { try spec.encode(nodeName, forKey: .nodeName) }
    if hostNetwork { try spec.encode(true, forKey: .hostNetwork) }
    var status = container.nestedContainer(keyedBy: StatusKeys.self, forKey: .status)
    if !phase.isEmpty { try status.encode(phase, forKey: .phase) }
    if !podIPs.isEmpty {
      try status.encode(podIPs[0], forKey: .podIP)
      try status.encode(podIPs.map(PodIP.init), forKey: .podIPs)
    }
  }
}

/// A `v1.PodList`: the pods and the resource version to start watching from.
public struct PodList: Sendable, Hashable, Decodable {
  /// `metadata.resourceVersion` of the list.
  public var resourceVersion: String
  /// `items`.
  public var items: [Pod]

  /// A list of `items` at `resourceVersion`.
  public init(resourceVersion: String, items: [Pod]) {
    self.resourceVersion = resourceVersion
    self.items = items
  }

  private enum Keys: String, CodingKey { case metadata, items }
  private enum MetadataKeys: String, CodingKey { case resourceVersion }

  /// Decodes a `v1.PodList` object (`items: null` is an empty list).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: Keys.self)
    if container.contains(.metadata) {
      let metadata = try container.nestedContainer(keyedBy: MetadataKeys.self, forKey: .metadata)
      resourceVersion = try metadata.decodeIfPresent(String.self, forKey: .resourceVersion) ?? ""
    } else {
      resourceVersion = ""
    }
    items = try container.decodeIfPresent([Pod].self, forKey: .items) ?? []
  }
}

/// One line of a watch stream (`{"type": …, "object": …}`).
public enum PodWatchEvent: Sendable, Hashable {
  /// `ADDED`: a pod now matches the watch.
  case added(Pod)
  /// `MODIFIED`: a matching pod changed.
  case modified(Pod)
  /// `DELETED`: a pod was deleted or no longer matches.
  case deleted(Pod)
  /// `BOOKMARK`: nothing changed up to this resource version.
  case bookmark(resourceVersion: String)
  /// `ERROR`: the object is a `v1.Status`; `code` 410 (Gone) means the resource version is too old
  /// and the client must list again.
  case error(code: Int, reason: String, message: String)

  private struct Envelope: Decodable {
    var type: String
  }

  private struct StatusEnvelope: Decodable {
    struct Status: Decodable {
      var code: Int?
      var reason: String?
      var message: String?
    }
    var object: Status?
  }

  private struct PodEnvelope: Decodable {
    var object: Pod
  }

  /// Decodes one line of the stream; throws on malformed JSON or an unknown `type`.
  public init(json: some Collection<UInt8>) throws {
    let data = Data(json)
    let decoder = JSONDecoder()
    let type = try decoder.decode(Envelope.self, from: data).type
    switch type {
    case "ADDED": self = .added(try decoder.decode(PodEnvelope.self, from: data).object)
    case "MODIFIED": self = .modified(try decoder.decode(PodEnvelope.self, from: data).object)
    case "DELETED": self = .deleted(try decoder.decode(PodEnvelope.self, from: data).object)
    case "BOOKMARK":
      self = .bookmark(
        resourceVersion: try decoder.decode(PodEnvelope.self, from: data).object.resourceVersion)
    case "ERROR":
      let status = try decoder.decode(StatusEnvelope.self, from: data).object
      self = .error(code: status?.code ?? 0, reason: status?.reason ?? "", message: status?.message ?? "")
    default:
      throw DecodingError.dataCorrupted(
        DecodingError.Context(codingPath: [], debugDescription: "unknown watch event type \"\(type)\""))
    }
  }
}
