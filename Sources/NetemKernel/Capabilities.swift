import CLinux
import FaultModel
import Glibc
import Synchronization

/// The Linux capabilities faultline uses, read and dropped through libcap.
public struct CapabilitySet: OptionSet, Sendable, Hashable {
  /// The raw bits.
  public let rawValue: UInt8

  /// A set from raw bits.
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// `CAP_NET_ADMIN`: create and delete qdiscs.
  public static let netAdmin = CapabilitySet(rawValue: 1)
  /// `CAP_SYS_ADMIN`: `setns(2)` into another network namespace.
  public static let sysAdmin = CapabilitySet(rawValue: 2)
  /// `CAP_SYS_PTRACE`: open another process's `/proc/PID/ns/net`.
  public static let sysPtrace = CapabilitySet(rawValue: 4)

  /// All three.
  public static let all: CapabilitySet = [.netAdmin, .sysAdmin, .sysPtrace]

  fileprivate static let values: [(CapabilitySet, cap_value_t, String)] = [
    (.netAdmin, cap_value_t(CAP_NET_ADMIN), "CAP_NET_ADMIN"),
    (.sysAdmin, cap_value_t(CAP_SYS_ADMIN), "CAP_SYS_ADMIN"),
    (.sysPtrace, cap_value_t(CAP_SYS_PTRACE), "CAP_SYS_PTRACE"),
  ]

  /// `CAP_NET_ADMIN`, … for the members.
  public var names: [String] { Self.values.filter { contains($0.0) }.map(\.2) }

  /// What an operation on `namespace` needs: `CAP_NET_ADMIN` to change qdiscs (`modifies`),
  /// `CAP_SYS_ADMIN` to enter another namespace, `CAP_SYS_PTRACE` to open another process's.
  public static func needed(for namespace: NetworkNamespaceRef, modifies: Bool) -> CapabilitySet {
    var set: CapabilitySet = modifies ? [.netAdmin] : []
    if namespace != .current { set.insert(.sysAdmin) }
    if namespace.readsProcessNamespace { set.insert(.sysPtrace) }
    return set
  }
}

/// Reads and restricts this process's capabilities.
public enum Capabilities {
  /// What ``effective()`` read, until ``restrict(to:)`` changes it: every kernel operation checks
  /// its capabilities first, and they change only through ``restrict(to:)``.
  private static let known = Mutex<CapabilitySet?>(nil)

  /// The members of ``CapabilitySet`` in the effective set (read once, then remembered).
  public static func effective() -> CapabilitySet {
    if let known = known.withLock({ $0 }) { return known }
    let read = readEffective()
    known.withLock { $0 = read }
    return read
  }

  /// The members of ``CapabilitySet`` in the calling thread's effective set, from the kernel.
  private static func readEffective() -> CapabilitySet {
    guard let caps = cap_get_proc() else { return [] }
    defer { cap_free(UnsafeMutableRawPointer(caps)) }
    var result: CapabilitySet = []
    for (member, value, _) in CapabilitySet.values {
      var flag = CAP_CLEAR
      if cap_get_flag(caps, value, CAP_EFFECTIVE, &flag) == 0 && flag == CAP_SET { result.insert(member) }
    }
    return result
  }

  /// Throws a ``KernelError`` naming what `operation` needs and lacks.
  ///
  /// `operation` is described only when something is missing: every kernel operation checks first.
  public static func require(_ needed: CapabilitySet, for operation: @autoclosure () -> String)
    throws(KernelError)
  {
    let missing = needed.subtracting(effective())
    if !missing.isEmpty { throw KernelError.missingCapabilities(missing.names, operation: operation()) }
  }

  /// Drops every capability except `keep` from the permitted, effective and inheritable sets and
  /// (where allowed) from the bounding set.
  ///
  /// libcap's `cap_set_proc` changes only the calling thread, and threads inherit the set they are
  /// created with: call this from `main` before any other thread exists (before the first `await`).
  /// An unprivileged process has nothing to drop; that is not an error.
  public static func restrict(to keep: CapabilitySet = .all) {
    guard let current = cap_get_proc() else { return }
    defer { cap_free(UnsafeMutableRawPointer(current)) }
    let last = cap_max_bits()
    var keepValues: [cap_value_t] = []
    for (member, value, _) in CapabilitySet.values where keep.contains(member) {
      var flag = CAP_CLEAR
      if cap_get_flag(current, value, CAP_PERMITTED, &flag) == 0 && flag == CAP_SET {
        keepValues.append(value)
      }
    }
    // Shrink the bounding set first: that needs CAP_SETPCAP, which goes next.
    for value in 0..<cap_value_t(last) where !keep.contains(value) {
      _ = faultline_drop_bound(value)
    }
    guard let reduced = cap_init() else { return }
    defer { cap_free(UnsafeMutableRawPointer(reduced)) }
    if !keepValues.isEmpty {
      _ = cap_set_flag(reduced, CAP_PERMITTED, Int32(keepValues.count), keepValues, CAP_SET)
      _ = cap_set_flag(reduced, CAP_EFFECTIVE, Int32(keepValues.count), keepValues, CAP_SET)
    }
    _ = cap_set_proc(reduced)
    known.withLock { $0 = nil }
  }
}

extension CapabilitySet {
  fileprivate func contains(_ value: cap_value_t) -> Bool {
    Self.values.contains { contains($0.0) && $0.1 == value }
  }
}
