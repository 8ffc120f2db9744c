import SystemPackage

/// Why pods could not be resolved: configuration, the API server, or `/proc`. The ``description``
/// says what to do.
public struct KubeTargetsError: Error, Hashable, Sendable, CustomStringConvertible {
  private enum Code: Hashable, Sendable {
    case missingNodeName
    case noClusterConfiguration(String)
    case invalidAPIURL(String, String)
    case unreadable(String, String)
    case unreachable(String, String)
    case httpStatus(String, Int, String)
    case invalidResponse(String, String)
    case procUnreadable(String, Errno)
    case fileUnreadable(String, Errno)
  }

  private let code: Code

  private init(_ code: Code) { self.code = code }

  /// Neither `--node-name` nor `NODE_NAME` is set, so the node's pods cannot be listed.
  public static var missingNodeName: Self { Self(.missingNodeName) }

  /// No `--kube-api` and not inside a pod (`detail` says what is missing).
  public static func noClusterConfiguration(_ detail: String) -> Self {
    Self(.noClusterConfiguration(detail))
  }

  /// `--kube-api` is not an `http://` or `https://` URL.
  public static func invalidAPIURL(_ url: String, _ detail: String) -> Self {
    Self(.invalidAPIURL(url, detail))
  }

  /// A configuration file (service-account token or CA) cannot be read.
  public static func unreadable(_ path: String, _ detail: String) -> Self { Self(.unreadable(path, detail)) }

  /// The API server did not answer (connection refused, timeout, TLS failure).
  public static func unreachable(_ url: String, _ detail: String) -> Self { Self(.unreachable(url, detail)) }

  /// The API server answered with an error status.
  public static func httpStatus(_ url: String, status: Int, message: String) -> Self {
    Self(.httpStatus(url, status, message))
  }

  /// The API server's answer is not the JSON expected.
  public static func invalidResponse(_ url: String, _ detail: String) -> Self {
    Self(.invalidResponse(url, detail))
  }

  /// The proc root cannot be listed.
  public static func procUnreadable(_ path: String, _ errno: Errno) -> Self {
    Self(.procUnreadable(path, errno))
  }

  /// A configuration file (the service-account token) cannot be opened or read.
  public static func unreadable(_ path: String, errno: Errno) -> Self { Self(.fileUnreadable(path, errno)) }

  /// What the system said, for a failed system call.
  public var errno: Errno? {
    switch code {
    case .procUnreadable(_, let errno), .fileUnreadable(_, let errno): errno
    default: nil
    }
  }

  /// The HTTP status for ``httpStatus(_:status:message:)``, else nil.
  public var httpStatus: Int? {
    if case .httpStatus(_, let status, _) = code { return status }
    return nil
  }

  /// Whether the problem is in the configuration (flags, environment, files) rather than the
  /// cluster's answer: the CLI exits 2 for these.
  public var isConfigurationError: Bool {
    switch code {
    case .missingNodeName, .noClusterConfiguration, .invalidAPIURL, .unreadable, .fileUnreadable,
      .procUnreadable:
      true
    case .unreachable, .httpStatus, .invalidResponse: false
    }
  }

  /// What went wrong and what to do.
  public var description: String {
    switch code {
    case .missingNodeName:
      return "no node name to select this node's pods: set --node-name or NODE_NAME "
        + "(in a DaemonSet: env NODE_NAME from fieldRef spec.nodeName)"
    case .noClusterConfiguration(let detail):
      return
        "no Kubernetes API to ask: \(detail); give --kube-api URL, or run in a pod with a service account"
    case .invalidAPIURL(let url, let detail):
      return "--kube-api \(url): \(detail); expected e.g. https://10.96.0.1:443 or http://127.0.0.1:8001"
    case .unreadable(let path, let detail):
      return "cannot read \(path): \(detail)"
    case .fileUnreadable(let path, let errno):
      return "cannot read \(path): \(errno)"
    case .unreachable(let url, let detail):
      return "cannot reach the Kubernetes API at \(url): \(detail); check --kube-api (or "
        + "KUBERNETES_SERVICE_HOST/PORT) and that the API server is up"
    case .httpStatus(let url, let status, let message):
      var text = "the Kubernetes API answered \(status) to GET \(url)"
      if !message.isEmpty { text += ": \(message)" }
      if status == 401 {
        text += "; the service-account token was refused (expired or wrong cluster)"
      } else if status == 403 {
        text += "; the ServiceAccount needs a ClusterRole with get, list and watch on pods"
      }
      return text
    case .invalidResponse(let url, let detail):
      return "unexpected answer from the Kubernetes API to GET \(url): \(detail)"
    case .procUnreadable(let path, let errno):
      return "cannot list the processes in \(path): \(errno); check --proc-root (a DaemonSet mounts the "
        + "host's /proc and sets hostPID: true)"
    }
  }
}
