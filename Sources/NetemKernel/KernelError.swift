import Glibc
import SystemPackage

/// A kernel operation that failed, with what to do about it.
///
/// Every message names the interface or namespace involved and, for netlink failures, the kernel's
/// own words (its extended ack).
public struct KernelError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The kind of failure, for callers that react differently (exit codes, retries).
  public enum Kind: Hashable, Sendable {
    /// The interface does not exist in the namespace.
    case interfaceNotFound
    /// The namespace path does not exist or is not a network namespace.
    case namespaceNotFound
    /// The namespace path now names another network namespace than the one expected (its process
    /// exited, or its PID was reused).
    case namespaceChanged
    /// The kernel has no `sch_netem`.
    case netemUnavailable
    /// The kernel lacks another module an operation needs (`ifb`, `sch_ingress`, `sch_prio`, `cls_flower`, …).
    case moduleUnavailable
    /// A traffic shape (targeted fault) that cannot be applied as written.
    case invalidShape
    /// A capability is missing.
    case missingCapability
    /// A root qdisc (or a filter at faultline's priority) faultline did not create is in the way.
    case foreignQdisc
    /// The kernel did not apply what was asked.
    case verificationFailed
    /// A distribution table is missing or malformed.
    case distribution
    /// Any other netlink or system-call failure.
    case system
  }

  /// The kind of failure.
  public let kind: Kind
  /// The errno involved, if any.
  public let errno: Errno?
  /// The full message.
  public let description: String

  private init(_ kind: Kind, errno: Errno? = nil, _ description: String) {
    self.kind = kind
    self.errno = errno
    self.description = description
  }

  /// The interface is not in the namespace; lists the ones that are.
  public static func interfaceNotFound(_ name: String, namespace: String, available: [String]) -> KernelError
  {
    KernelError(
      .interfaceNotFound, errno: .operationNotSupportedByDevice,
      "interface \(name) not found in netns \(namespace); interfaces there: "
        + (available.isEmpty ? "(none)" : available.joined(separator: ", ")))
  }

  /// The namespace path does not exist.
  public static func namespaceNotFound(_ path: String, errno: Errno) -> KernelError {
    let hint =
      path.hasPrefix("/run/netns/")
      ? "; `ip netns list` shows the named ones" : "; give /run/netns/NAME, /proc/PID/ns/net or --pid PID"
    return KernelError(
      .namespaceNotFound, errno: errno, "network namespace \(path) not found (\(errno))\(hint)")
  }

  /// The path names another network namespace than the one the caller holds a fault window in.
  ///
  /// Nothing was changed there: a PID path follows the process, not the namespace, so touching the
  /// qdisc behind it could hit an unrelated pod. The caller re-resolves the namespace by inode
  /// (``NamespaceLocator``).
  public static func namespaceChanged(path: String, expected: UInt64, found: UInt64) -> KernelError {
    KernelError(
      .namespaceChanged,
      "\(path) is now another network namespace (inode \(found), not \(expected)): the process it named "
        + "exited or its PID was reused; nothing was changed there. `lsns -t net` lists a process still in "
        + "namespace \(expected), if any: target its /proc/PID/ns/net instead")
  }

  /// The path exists but is not a network namespace.
  public static func notANamespace(_ path: String) -> KernelError {
    KernelError(
      .namespaceNotFound, errno: .invalidArgument,
      "\(path) is not a network namespace file (nsfs); give /run/netns/NAME, /proc/PID/ns/net or --pid PID")
  }

  /// The kernel has no `sch_netem`.
  public static func netemUnavailable(kernelMessage: String) -> KernelError {
    KernelError(
      .netemUnavailable, errno: .noSuchFileOrDirectory,
      "this kernel has no netem qdisc (kernel said: \(kernelMessage.isEmpty ? "ENOENT" : kernelMessage)); "
        + "load it with `modprobe sch_netem`; needs CONFIG_NET_SCH_NETEM")
  }

  /// The kernel lacks `module` (the request naming its kind failed as unknown).
  public static func moduleUnavailable(_ module: String, kernelMessage: String) -> KernelError {
    KernelError(
      .moduleUnavailable, errno: .noSuchFileOrDirectory,
      "this kernel has no \(module) module (kernel said: \(kernelMessage.isEmpty ? "ENOENT" : kernelMessage)); "
        + "load it with `modprobe \(module)` on the node (in a container, the host has to); needs "
        + "CONFIG_\(configName(module))")
  }

  /// A tc filter faultline did not create holds faultline's priority.
  public static func foreignFilter(interface: String, priority: UInt16, kind: String) -> KernelError {
    KernelError(
      .foreignQdisc,
      "the ingress of \(interface) already has a \(kind) filter at pref \(priority), faultline's reserved "
        + "priority, that faultline did not create; refusing to touch it. `tc filter show dev \(interface) "
        + "ingress` shows it")
  }

  /// A traffic shape that cannot be applied as written; `why` says what to change.
  public static func invalidShape(_ why: String) -> KernelError {
    KernelError(.invalidShape, errno: .invalidArgument, "invalid targeted fault: \(why)")
  }

  /// `sch_prio` → `NET_SCH_PRIO`, `cls_flower` → `NET_CLS_FLOWER`, `act_mirred` → `NET_ACT_MIRRED`,
  /// `ifb` → `IFB`.
  private static func configName(_ module: String) -> String {
    let upper = module.uppercased()
    for (prefix, config) in [("SCH_", "NET_SCH_"), ("CLS_", "NET_CLS_"), ("ACT_", "NET_ACT_")]
    where upper.hasPrefix(prefix) {
      return config + upper.dropFirst(prefix.count)
    }
    return upper
  }

  /// Capabilities are missing for an operation.
  public static func missingCapabilities(_ names: [String], operation: String) -> KernelError {
    KernelError(
      .missingCapability, errno: .notPermitted,
      "\(operation) needs \(names.joined(separator: ", ")), which this process lacks; run as root, or grant "
        + "them (setcap \(names.map { $0.lowercased() }.joined(separator: ",") )+ep on the binary, or "
        + "securityContext.capabilities.add: [\(names.map { $0.replacingPrefix("CAP_") }.joined(separator: ", "))] "
        + "in Kubernetes)")
  }

  /// A root qdisc faultline did not create is in the way.
  public static func foreignQdisc(interface: String, kind: String, handle: UInt32) -> KernelError {
    KernelError(
      .foreignQdisc,
      "interface \(interface) already has a root qdisc faultline did not create (\(kind) \(formatHandle(handle))); "
        + "refusing to replace it. Use --force to replace it; it is saved and restored exactly on revert")
  }

  /// The foreign qdisc has classes, which cannot be restored from its options alone.
  public static func foreignClassful(interface: String, kind: String, classes: Int) -> KernelError {
    KernelError(
      .foreignQdisc,
      "interface \(interface) has a root qdisc tree (\(kind) with \(classes) user-made classes or child qdiscs); "
        + "faultline cannot restore a tree after revert, so it will not replace it even with --force")
  }

  /// The read-back differs from the request; the change was rolled back.
  public static func verificationFailed(interface: String, mismatches: [String]) -> KernelError {
    KernelError(
      .verificationFailed,
      "the kernel did not apply what was asked on \(interface) (rolled back): "
        + mismatches.joined(separator: "; "))
  }

  /// A distribution table could not be found.
  public static func distributionUnavailable(_ name: String, searched: [String]) -> KernelError {
    KernelError(
      .distribution,
      "distribution table \(name).dist not found in \(searched.joined(separator: ", ")); install iproute2 or "
        + "set TC_LIB_DIR to the directory holding it")
  }

  /// A distribution table is malformed.
  public static func malformedDistribution(_ path: String, _ why: String) -> KernelError {
    KernelError(.distribution, "distribution table \(path) is malformed: \(why)")
  }

  /// A reply that does not parse.
  public static func malformedReply(_ why: String) -> KernelError {
    KernelError(.system, "malformed netlink reply: \(why)")
  }

  /// A failed system call or netlink request.
  public static func system(_ operation: String, errno: Errno, kernelMessage: String = "") -> KernelError {
    let detail = kernelMessage.isEmpty ? "\(errno)" : "\(kernelMessage) (\(errno))"
    if errno == .notPermitted || errno == .permissionDenied {
      return KernelError(
        .missingCapability, errno: errno,
        "\(operation) failed: \(detail); this needs CAP_NET_ADMIN in the target namespace (run as root or add the capability)"
      )
    }
    return KernelError(.system, errno: errno, "\(operation) failed: \(detail)")
  }

  /// A process exit code for this failure: 2 invalid shape (a usage error), 3 capability, 4 not found (or
  /// changed), 5 no netem or another module, 6 foreign qdisc or filter, 7 verification, 1 otherwise.
  public var exitCode: Int32 {
    switch kind {
    case .missingCapability: 3
    case .interfaceNotFound, .namespaceNotFound, .namespaceChanged: 4
    case .netemUnavailable, .moduleUnavailable: 5
    case .invalidShape: 2
    case .foreignQdisc: 6
    case .verificationFailed: 7
    case .distribution, .system: 1
    }
  }
}

/// `fa17:`: a qdisc handle as `tc` prints it.
public func formatHandle(_ handle: UInt32) -> String {
  let major = String(handle >> 16, radix: 16)
  let minor = handle & 0xFFFF
  return minor == 0 ? "\(major):" : "\(major):\(String(minor, radix: 16))"
}

extension String {
  fileprivate func replacingPrefix(_ prefix: String) -> String {
    hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
  }
}
