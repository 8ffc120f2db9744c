import FaultModel

/// Which pods to list or watch: the API path and the `fieldSelector` / `labelSelector` parameters.
///
/// The API server filters with the selectors; ``matches(_:)`` applies the same filter on the client
/// (the watch does, so a pod whose labels change is dropped even when the server sends `MODIFIED`).
public struct PodQuery: Sendable, Hashable, CustomStringConvertible {
  /// The namespace (`/api/v1/namespaces/NS/pods`), or nil for every namespace (`/api/v1/pods`).
  public var namespace: String?
  /// Only pods in these namespaces (checked on the client; for a query across several namespaces
  /// with ``namespace`` nil). Empty: any namespace.
  public var namespaces: Set<String>
  /// Only pods scheduled on this node (`fieldSelector=spec.nodeName=NODE`).
  public var nodeName: String?
  /// Only pods with all these labels (`labelSelector=k=v,…`, equality only).
  public var labels: [String: String]

  /// A query of pods on `nodeName` with `labels`, in `namespace` (nil: all namespaces).
  public init(
    namespace: String? = nil, namespaces: Set<String> = [], nodeName: String? = nil,
    labels: [String: String] = [:]
  ) {
    self.namespace = namespace
    self.namespaces = namespaces
    self.nodeName = nodeName
    self.labels = labels
  }

  /// The query for a profile's pod selector on one node: the namespaced path when the selector names
  /// one namespace, else the cluster-wide path with the namespaces checked on the client.
  public init(selector: PodSelector, nodeName: String?) {
    let namespaces = Set(selector.namespaces)
    self.init(
      namespace: namespaces.count == 1 ? namespaces.first : nil, namespaces: namespaces, nodeName: nodeName,
      labels: selector.labels)
  }

  /// `/api/v1/namespaces/NS/pods` or `/api/v1/pods`.
  public var path: String {
    if let namespace { return "/api/v1/namespaces/\(percentEncoded(namespace))/pods" }
    return "/api/v1/pods"
  }

  /// `app=payment,tier=web` (keys sorted), or empty for every pod.
  public var labelSelector: String {
    labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
  }

  /// `spec.nodeName=NODE`, or nil for every node.
  public var fieldSelector: String? {
    nodeName.map { "spec.nodeName=\($0)" }
  }

  /// The path and query string of a list (`resourceVersion` nil) or, with `watch`, of a watch from
  /// `resourceVersion` that the server ends after `timeoutSeconds`.
  public func requestTarget(watch: Bool = false, resourceVersion: String? = nil, timeoutSeconds: Int? = nil)
    -> String
  {
    var items: [(String, String)] = []
    if let fieldSelector { items.append(("fieldSelector", fieldSelector)) }
    if !labels.isEmpty { items.append(("labelSelector", labelSelector)) }
    if watch {
      items.append(("watch", "1"))
      if let resourceVersion, !resourceVersion.isEmpty { items.append(("resourceVersion", resourceVersion)) }
      items.append(("allowWatchBookmarks", "true"))
      if let timeoutSeconds { items.append(("timeoutSeconds", String(timeoutSeconds))) }
    }
    guard !items.isEmpty else { return path }
    return path + "?" + items.map { "\($0.0)=\(percentEncoded($0.1))" }.joined(separator: "&")
  }

  /// Whether `pod` satisfies the query (namespace, node, every label).
  public func matches(_ pod: Pod) -> Bool {
    if let namespace, pod.namespace != namespace { return false }
    if !namespaces.isEmpty, !namespaces.contains(pod.namespace) { return false }
    if let nodeName, pod.nodeName != nodeName { return false }
    return labels.allSatisfy { pod.labels[$0.key] == $0.value }
  }

  /// `pods in default on node-1 with app=payment`.
  public var description: String {
    let place =
      namespace.map { "in \($0)" }
      ?? (namespaces.isEmpty ? "in all namespaces" : "in \(namespaces.sorted().joined(separator: ","))")
    var text = "pods \(place)"
    if let nodeName { text += " on \(nodeName)" }
    if !labels.isEmpty { text += " with \(labelSelector)" }
    return text
  }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`).
func percentEncoded(_ text: String) -> String {
  var result = ""
  for byte in text.utf8 {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
      UInt8(ascii: "~"):
      result.unicodeScalars.append(Unicode.Scalar(byte))
    default:
      let hex = Array("0123456789ABCDEF")
      result += "%\(hex[Int(byte >> 4)])\(hex[Int(byte & 0xF)])"
    }
  }
  return result
}
