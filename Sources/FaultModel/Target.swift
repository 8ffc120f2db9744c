/// Which network namespace a fault goes into.
public enum NetworkNamespaceRef: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The namespace faultline itself runs in (sidecar mode).
  case current
  /// A named namespace, `/run/netns/NAME` (as `ip netns add NAME` creates).
  case named(String)
  /// Any nsfs file: `/proc/PID/ns/net` or a bind mount of one.
  case path(String)
  /// The namespace of process `PID` (`/proc/PID/ns/net`).
  case pid(Int32)

  /// Reads the CLI's `--netns` value: a path when it contains `/`, otherwise a name under `/run/netns`.
  public init(netnsArgument text: String) {
    self = text.contains("/") ? .path(text) : .named(text)
  }

  /// The nsfs file to open, or nil for the current namespace.
  public func path(procRoot: String = "/proc") -> String? {
    switch self {
    case .current: nil
    case .named(let name): "/run/netns/\(name)"
    case .path(let path): path
    case .pid(let pid): "\(procRoot)/\(pid)/ns/net"
    }
  }

  /// Whether opening this namespace reads another process's `/proc/PID/ns` (needs CAP_SYS_PTRACE).
  public var readsProcessNamespace: Bool {
    switch self {
    case .current, .named: false
    case .pid: true
    case .path(let path): path.hasPrefix("/proc/") && !path.hasPrefix("/proc/self/")
    }
  }

  /// The path, or `current` for the agent's own namespace.
  public var description: String { path() ?? "current" }
}

/// Where a fault is applied: an interface in a network namespace.
public struct FaultTarget: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The interface name, e.g. `eth0`.
  public var interface: String
  /// The namespace the interface lives in.
  public var namespace: NetworkNamespaceRef

  /// A target of `interface` in `namespace`.
  public init(interface: String = "eth0", namespace: NetworkNamespaceRef = .current) {
    self.interface = interface
    self.namespace = namespace
  }

  /// `eth0 in /proc/42/ns/net`.
  public var description: String {
    namespace == .current ? interface : "\(interface) in \(namespace)"
  }
}
