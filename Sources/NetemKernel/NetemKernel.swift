import CLinux
import FaultModel
import Glibc
import Logging

/// What an apply is about to do, handed to the caller before the kernel is touched (so it can be
/// journaled first).
public struct ApplyPlan: Sendable {
  /// The target.
  public var target: FaultTarget
  /// The namespace the target resolved to.
  public var namespace: NamespaceIdentity
  /// The interface index.
  public var ifindex: Int32
  /// The root qdisc before the change (nil: none reported).
  public var previous: QdiscSnapshot?
  /// The foreign root qdisc that will be replaced (only with `force`), to restore on revert.
  public var replacing: QdiscSnapshot?
  /// What will be sent, in kernel units.
  public var parameters: NetemParameters
}

/// The outcome of an apply: what the kernel reports back, checked against the request.
public struct ApplyReport: Sendable {
  /// The plan that was carried out.
  public var plan: ApplyPlan
  /// What the kernel dumped after the change (equal to the request in every dumped field).
  public var applied: NetemParameters
  /// `qdisc netem fa17: root refcnt 2 limit 1000 delay 100ms  10ms 25% loss 5%`-style line.
  public var tcLine: String
}

/// The outcome of a revert.
public enum RevertOutcome: Sendable, Hashable {
  /// faultline's qdisc was deleted; the kernel's default is back.
  case removed
  /// faultline's qdisc was replaced by the saved foreign qdisc.
  case restored(QdiscSnapshot)
  /// There was nothing of faultline's to revert (the reason says why); a success.
  case nothingToRevert(String)
}

/// One interface's root qdisc, for `faultline status`.
public struct InterfaceStatus: Sendable {
  /// The interface name.
  public var interface: String
  /// Its index.
  public var ifindex: Int32
  /// Its root qdisc.
  public var root: QdiscSnapshot?
  /// The netem parameters when the root is netem.
  public var netem: NetemParameters?
}

/// Applies, reads back and removes netem root qdiscs over netlink (libnl-route-3), in any network
/// namespace. No process is spawned.
///
/// Safe by default: only a root qdisc that is the kernel's default or faultline's own (handle
/// ``handle``) is replaced; a foreign one is replaced only with `force`, and then saved so revert can
/// put it back.
public struct NetemKernel: Sendable {
  /// faultline's reserved qdisc handle, `fa17:`.
  public static let handle: UInt32 = 0xFA17_0000

  private let logger: Logger
  private let procRoot: String

  /// A kernel interface that logs to `logger` and resolves `--pid` under `procRoot`.
  public init(logger: Logger = Logger(label: "faultline.kernel"), procRoot: String = "/proc") {
    self.logger = logger
    self.procRoot = procRoot
  }

  /// Applies `fault` as the root qdisc of the target, then reads it back and compares.
  ///
  /// `tc qdisc replace dev IF root handle fa17: netem …` followed by `tc qdisc show dev IF`. A change
  /// the kernel does not reflect exactly is rolled back and reported.
  ///
  /// - Parameters:
  ///   - force: replace a foreign root qdisc (it is saved in the plan, for revert).
  ///   - prepare: called with the plan after all checks and before the kernel is changed; a throw
  ///     cancels the apply.
  /// - Throws: ``KernelError``, or what `prepare` throws.
  public func apply(
    _ fault: NetemFault, to target: FaultTarget, force: Bool = false,
    prepare: @escaping @Sendable (ApplyPlan) throws -> Void = { _ in }
  ) async throws -> ApplyReport {
    let fault = try fault.validated()
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "applying netem to \(target)")
    let table = try fault.jitter > .zero ? DistributionTable.table(for: fault.distribution ?? .uniform) : nil
    let requested = NetemParameters(fault, distribution: table)
    let logger = logger
    return try await NamespaceThread.run(in: target.namespace, procRoot: procRoot) { identity in
      let socket = try NetlinkSocket()
      let ifindex = try Self.interfaceIndex(socket, target, identity)
      let previous = try socket.rootQdisc(ifindex: ifindex, interface: target.interface)
      var replacing: QdiscSnapshot?
      if let previous, !previous.isKernelDefault, !previous.isFaultline {
        guard force else {
          throw KernelError.foreignQdisc(
            interface: target.interface, kind: previous.kind, handle: previous.handle)
        }
        let classes = try socket.userChildren(ifindex: ifindex, interface: target.interface, under: previous)
        if classes > 0 {
          throw KernelError.foreignClassful(
            interface: target.interface, kind: previous.kind, classes: classes)
        }
        replacing = previous
      }
      let plan = ApplyPlan(
        target: target, namespace: identity, ifindex: ifindex, previous: previous, replacing: replacing,
        parameters: requested)
      try prepare(plan)
      do {
        try socket.replaceRoot(
          ifindex: ifindex, interface: target.interface, kind: "netem", handle: Self.handle,
          options: requested.encodedOptions())
      } catch let error as KernelError
        where error.errno == ENOENT
        && (socket.kernelMessage.isEmpty || socket.kernelMessage.contains("qdisc kind is unknown"))
      {
        throw KernelError.netemUnavailable(kernelMessage: socket.kernelMessage)
      }
      let after: QdiscSnapshot?
      let applied: NetemParameters
      do {
        after = try socket.rootQdisc(ifindex: ifindex, interface: target.interface)
        guard let after, after.isFaultline else {
          throw KernelError.verificationFailed(
            interface: target.interface,
            mismatches: ["root qdisc is \(after?.summary ?? "missing") after the change"])
        }
        applied = try NetemParameters(decodingOptions: after.options)
        let mismatches = requested.mismatches(against: applied)
        if !mismatches.isEmpty {
          throw KernelError.verificationFailed(interface: target.interface, mismatches: mismatches)
        }
      } catch {
        Self.rollback(socket, ifindex: ifindex, interface: target.interface, to: previous, logger: logger)
        throw error
      }
      logger.debug(
        "applied netem",
        metadata: ["target": "\(target)", "netns": "\(identity)", "tc": "\(applied.tcDescription)"])
      return ApplyReport(
        plan: plan, applied: applied,
        tcLine: "qdisc netem \(formatHandle(Self.handle)) root \(applied.tcDescription)")
    }
  }

  /// Removes faultline's root qdisc from the target, putting `restoring` back when given.
  ///
  /// `tc qdisc del dev IF root handle fa17:` (or `tc qdisc replace … KIND` of the saved qdisc). A
  /// target whose namespace, interface or faultline qdisc is already gone is a success.
  ///
  /// - Parameter expectedInode: when given, a namespace whose inode differs (the path now names
  ///   another namespace, e.g. a reused PID) is left alone.
  public func revert(
    _ target: FaultTarget, restoring: QdiscSnapshot? = nil, expectedInode: UInt64? = nil
  ) async throws -> RevertOutcome {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "reverting netem on \(target)")
    do {
      return try await NamespaceThread.run(in: target.namespace, procRoot: procRoot) { identity in
        if let expectedInode, expectedInode != identity.inode {
          return .nothingToRevert(
            "\(identity.path) is now another namespace (inode \(identity.inode), not \(expectedInode))")
        }
        let socket = try NetlinkSocket()
        guard let ifindex = try socket.interfaceIndex(named: target.interface) else {
          return .nothingToRevert("interface \(target.interface) is gone from \(identity.path)")
        }
        guard let root = try socket.rootQdisc(ifindex: ifindex, interface: target.interface), root.isFaultline
        else {
          return .nothingToRevert("no faultline qdisc on \(target)")
        }
        if let restoring {
          try socket.replaceRoot(
            ifindex: ifindex, interface: target.interface, kind: restoring.kind, handle: restoring.handle,
            options: restoring.options)
          return .restored(restoring)
        }
        do {
          try socket.deleteRoot(ifindex: ifindex, interface: target.interface, handle: Self.handle)
        } catch let error as KernelError where error.errno == ENOENT {
          return .nothingToRevert("no faultline qdisc on \(target)")
        }
        return .removed
      }
    } catch let error as KernelError where error.kind == .namespaceNotFound {
      return .nothingToRevert("network namespace \(target.namespace) is gone")
    }
  }

  /// The root qdisc of every interface in `namespace` (`tc qdisc show`).
  public func status(in namespace: NetworkNamespaceRef) async throws -> (NamespaceIdentity, [InterfaceStatus])
  {
    try Capabilities.require(
      CapabilitySet.needed(for: namespace, modifies: false), for: "reading qdiscs in netns \(namespace)")
    return try await NamespaceThread.run(in: namespace, procRoot: procRoot) { identity in
      let socket = try NetlinkSocket()
      let statuses = try socket.interfaces().map { link throws(KernelError) in
        let root = try socket.rootQdisc(ifindex: link.index, interface: link.name)
        let netem = try root.flatMap { root throws(KernelError) in
          root.kind == "netem" ? try NetemParameters(decodingOptions: root.options) : nil
        }
        return InterfaceStatus(interface: link.name, ifindex: link.index, root: root, netem: netem)
      }
      return (identity, statuses)
    }
  }

  /// The namespace identity and interface index of a target, checking both exist.
  public func resolve(_ target: FaultTarget) async throws -> (NamespaceIdentity, Int32) {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: false), for: "resolving \(target)")
    return try await NamespaceThread.run(in: target.namespace, procRoot: procRoot) { identity in
      let socket = try NetlinkSocket()
      return (identity, try Self.interfaceIndex(socket, target, identity))
    }
  }

  private static func interfaceIndex(
    _ socket: NetlinkSocket, _ target: FaultTarget, _ identity: NamespaceIdentity
  )
    throws(KernelError) -> Int32
  {
    if let index = try socket.interfaceIndex(named: target.interface) { return index }
    let available = (try? socket.interfaces().map(\.name)) ?? []
    throw KernelError.interfaceNotFound(
      target.interface, namespace: target.namespace == .current ? "(current)" : identity.path,
      available: available)
  }

  /// Puts the root qdisc back as it was before a failed apply; logs (does not throw) on failure.
  private static func rollback(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, to previous: QdiscSnapshot?, logger: Logger
  ) {
    do {
      if let previous, !previous.isKernelDefault {
        try socket.replaceRoot(
          ifindex: ifindex, interface: interface, kind: previous.kind, handle: previous.handle,
          options: previous.options)
      } else {
        try socket.deleteRoot(ifindex: ifindex, interface: interface, handle: handle)
      }
    } catch {
      logger.error("rollback failed", metadata: ["interface": "\(interface)", "error": "\(error)"])
    }
  }
}
