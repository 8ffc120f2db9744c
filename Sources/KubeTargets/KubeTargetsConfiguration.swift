import Foundation

/// The DaemonSet-mode settings shared by `faultline plan` and `faultline run`, built from flags and
/// the environment.
public struct KubeTargetsConfiguration: Sendable, Hashable {
  /// The API server. Flag `--kube-api URL`; default: the pod's in-cluster configuration
  /// (`KUBERNETES_SERVICE_HOST`/`_PORT`, token and CA under ``KubeAPIConfiguration/serviceAccountDirectory``).
  public var kubeAPI: String?
  /// The node whose pods are targets. Flag `--node-name`; env `NODE_NAME`; no default.
  public var nodeName: String?
  /// The procfs to find pods' processes in. Flag `--proc-root`; default `/proc` (a DaemonSet mounts
  /// the host's, e.g. at `/host/proc`, with `hostPID: true`).
  public var procRoot: String

  /// Settings from the flags, falling back to `environment` (`NODE_NAME`).
  public init(
    kubeAPI: String? = nil, nodeName: String? = nil, procRoot: String? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) {
    self.kubeAPI = kubeAPI.flatMap { $0.isEmpty ? nil : $0 }
    self.nodeName = (nodeName ?? environment["NODE_NAME"]).flatMap { $0.isEmpty ? nil : $0 }
    self.procRoot = procRoot.flatMap { $0.isEmpty ? nil : $0 } ?? "/proc"
  }

  /// ``nodeName``, or ``KubeTargetsError/missingNodeName`` ("set --node-name or NODE_NAME").
  public func requireNodeName() throws(KubeTargetsError) -> String {
    guard let nodeName else { throw .missingNodeName }
    return nodeName
  }

  /// The API configuration: ``kubeAPI`` or the in-cluster one.
  public func apiConfiguration(
    environment: [String: String] = ProcessInfo.processInfo.environment,
    serviceAccountDirectory: String = KubeAPIConfiguration.serviceAccountDirectory
  ) throws(KubeTargetsError) -> KubeAPIConfiguration {
    try KubeAPIConfiguration.resolve(
      kubeAPI: kubeAPI, environment: environment, serviceAccountDirectory: serviceAccountDirectory)
  }
}
