import CLinux
import FaultModel
import Glibc
import Logging
import SystemPackage

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

  /// A plan from its parts (the kernel makes these; an in-memory kernel in tests does too).
  public init(
    target: FaultTarget, namespace: NamespaceIdentity, ifindex: Int32, previous: QdiscSnapshot?,
    replacing: QdiscSnapshot?, parameters: NetemParameters
  ) {
    self.target = target
    self.namespace = namespace
    self.ifindex = ifindex
    self.previous = previous
    self.replacing = replacing
    self.parameters = parameters
  }
}

/// The outcome of an apply: what the kernel reports back, checked against the request.
public struct ApplyReport: Sendable {
  /// The plan that was carried out.
  public var plan: ApplyPlan
  /// What the kernel dumped after the change (equal to the request in every dumped field).
  public var applied: NetemParameters
  /// `qdisc netem fa17: root refcnt 2 limit 1000 delay 100ms  10ms 25% loss 5%`-style line.
  ///
  /// Written when read: formatting it (durations, percentages) costs more than the rest of an
  /// apply's own work, and a re-apply in an open window never prints it.
  public var tcLine: String { line() }

  private let line: @Sendable () -> String

  /// A report from its parts.
  public init(
    plan: ApplyPlan, applied: NetemParameters, tcLine: @autoclosure @escaping @Sendable () -> String
  ) {
    self.plan = plan
    self.applied = applied
    self.line = tcLine
  }
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
  /// The netem parameters when the root is netem, or faultline's targeted-fault tree (its netem child).
  public var netem: NetemParameters?
  /// The shape of faultline's targeted-fault tree when the root is one.
  public var shape: TrafficShape?
}

/// What a target's root qdisc is now (``NetemKernel/inspect(_:expectedInode:)``).
public enum TargetInspection: Sendable, Hashable {
  /// faultline's `fa17:` netem is the root, or its targeted-fault tree (prio `fa17:`); the netem's
  /// parameters as the kernel reports them (all zero when the tree lost its netem).
  case faultline(NetemParameters)
  /// Another root qdisc that is not the kernel's default (someone replaced or removed ours).
  case foreign(QdiscSnapshot)
  /// The kernel's default root qdisc: no faultline qdisc.
  case none
  /// The interface does not exist (any more) in the namespace.
  case interfaceGone
}

/// Applies, reads back and removes netem root qdiscs over netlink (libnl-route-3), in any network
/// namespace. No process is spawned.
///
/// Safe by default: only a root qdisc that is the kernel's default or faultline's own (handle
/// ``handle``) is replaced; a foreign one is replaced only with `force`, and then saved so revert can
/// put it back.
public struct NetemKernel: Sendable {
  /// How many netlink requests (round trips) this process has sent so far, for the benchmarks.
  public static var netlinkRequestsSent: Int { NetlinkSocket.requestsSent.load(ordering: .relaxed) }

  /// How many netlink sockets this process has open now: one per namespace where it holds a fault,
  /// plus those of operations in progress (see ``NetlinkSessions``).
  public static var openNetlinkSockets: Int { NetlinkSocket.open.load(ordering: .relaxed) }

  /// faultline's reserved qdisc handle, `fa17:`.
  public static let handle: UInt32 = 0xFA17_0000

  let logger: Logger
  let procRoot: String

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
  ///   - expectedInode: the inode of the namespace the caller means (a re-apply in an open window).
  ///     A `/proc/PID/ns/net` path follows the process, not the namespace: when it now names another
  ///     namespace (the PID was reused), nothing is touched and the apply throws
  ///     ``KernelError/Kind/namespaceChanged``. Nil: whatever the path names now.
  ///   - force: replace a foreign root qdisc (it is saved in the plan, for revert).
  ///   - prepare: called with the plan after all checks and before the kernel is changed; a throw
  ///     cancels the apply.
  /// - Throws: ``KernelError``, or what `prepare` throws.
  public func apply(
    _ fault: NetemFault, to target: FaultTarget, expectedInode: UInt64? = nil, force: Bool = false,
    prepare: @escaping @Sendable (ApplyPlan) throws -> Void = { _ in }
  ) async throws -> ApplyReport {
    let (requested, options) = try requestedParameters(fault, for: target)
    let request = RootQdiscRequest(kind: "netem", options: options, module: "sch_netem") {
      options throws(KernelError) in
      let applied = try NetemParameters(decodingOptions: options)
      return (applied, requested.mismatches(against: applied))
    }
    let (plan, applied) = try await applyRoot(
      request, to: target, expectedInode: expectedInode, force: force, parameters: requested, prepare: prepare
    )
    logger.debug(
      "applied netem",
      metadata: ["target": "\(target)", "netns": "\(plan.namespace)", "tc": "\(applied.tcDescription)"])
    return ApplyReport(plan: plan, applied: applied, tcLine: Self.netemLine(applied))
  }

  /// Installs `request` as the target's root qdisc with faultline's handle and checks the kernel's
  /// read-back of it: the steps of ``apply(_:to:expectedInode:force:prepare:)`` for any kind.
  ///
  /// Round trips: the link by name, the root before (a dump: the safety checks), the replace, whose
  /// echo is the read-back. A read-back that differs from the request puts the root back as it was.
  func applyRoot<Applied: Sendable>(
    _ request: RootQdiscRequest<Applied>, to target: FaultTarget, expectedInode: UInt64?, force: Bool,
    parameters: NetemParameters, prepare: @escaping @Sendable (ApplyPlan) throws -> Void
  ) async throws -> (ApplyPlan, Applied) {
    let logger = logger
    return try await NetlinkSessions.shared.run(
      in: target.namespace, procRoot: procRoot, hold: .take([target.interface])
    ) { identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      let interface = target.interface
      let (ifindex, previous) = try Self.interfaceAndRoot(socket, target, identity)
      let replacing = try Self.foreignRootToReplace(
        socket, ifindex: ifindex, target: target, previous, force: force)
      let before = try Self.treeBefore(socket, ifindex: ifindex, interface: interface, previous)
      let plan = ApplyPlan(
        target: target, namespace: identity, ifindex: ifindex, previous: previous, replacing: replacing,
        parameters: parameters)
      try prepare(plan)
      let echoed: QdiscSnapshot?
      do {
        if let previous, previous.isShapedRoot {
          // A targeted fault's prio root cannot become another kind in place: the tree goes first.
          try socket.deleteRoot(ifindex: ifindex, interface: interface, handle: Self.handle)
        }
        echoed = try socket.replaceRoot(
          ifindex: ifindex, interface: interface, kind: request.kind, handle: Self.handle,
          options: request.options, echo: true)
      } catch {
        // Only a tree deleted above needs putting back: a failed replace leaves the root as it was.
        if before.root?.isShapedRoot == true {
          Self.restore(socket, ifindex: ifindex, interface: interface, to: before, logger: logger)
        }
        if (error as? KernelError)?.errno == Errno.noSuchFileOrDirectory
          && Self.isUnknownKind(socket.kernelMessage)
        {
          throw request.kind == "netem"
            ? KernelError.netemUnavailable(kernelMessage: socket.kernelMessage)
            : KernelError.moduleUnavailable(request.module, kernelMessage: socket.kernelMessage)
        }
        throw error
      }
      do {
        // The kernel's echo of the change is its read-back; a dump only if it sent none.
        let after = try echoed ?? socket.rootQdisc(ifindex: ifindex, interface: interface)
        guard let after, after.handle == Self.handle, after.kind == request.kind else {
          throw KernelError.verificationFailed(
            interface: interface,
            mismatches: ["root qdisc is \(after?.summary ?? "missing") after the change"])
        }
        let (applied, mismatches) = try request.readBack(after.options)
        if !mismatches.isEmpty {
          throw KernelError.verificationFailed(interface: interface, mismatches: mismatches)
        }
        return (plan, applied)
      } catch {
        Self.restore(socket, ifindex: ifindex, interface: interface, to: before, logger: logger)
        throw error
      }
    }
  }

  /// Removes faultline's root qdisc from the target, putting `restoring` back when given.
  ///
  /// `tc qdisc del dev IF root handle fa17:` (or `tc qdisc replace … KIND` of the saved qdisc). A
  /// target whose interface or faultline qdisc is already gone is a success.
  ///
  /// - Parameter expectedInode: the inode of the namespace the fault was applied in. When given, the
  ///   caller holds that namespace by inode and decides itself whether it is gone (only it can tell
  ///   whether another path still names it, see ``NamespaceLocator``), so the path naming another
  ///   namespace throws ``KernelError/Kind/namespaceChanged`` (nothing is touched there) and a path
  ///   that cannot be opened throws ``KernelError/Kind/namespaceNotFound``. When nil, a namespace
  ///   that is gone is a success (`nothingToRevert`): the fault went with it.
  public func revert(
    _ target: FaultTarget, restoring: QdiscSnapshot? = nil, expectedInode: UInt64? = nil
  ) async throws -> RevertOutcome {
    try await revertRoot(target, restoring: restoring, expectedInode: expectedInode) { $0.isFaultline }
  }

  /// The steps of ``revert(_:restoring:expectedInode:)``, removing a root that `isOurs` accepts.
  func revertRoot(
    _ target: FaultTarget, restoring: QdiscSnapshot?, expectedInode: UInt64?,
    isOurs: @escaping @Sendable (QdiscSnapshot) -> Bool
  ) async throws -> RevertOutcome {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "reverting netem on \(target)")
    do {
      return try await NetlinkSessions.shared.run(
        in: target.namespace, procRoot: procRoot, hold: .release([target.interface])
      ) { identity, socket in
        try Self.check(identity, expectedInode: expectedInode)
        if restoring == nil, let ifindex = socket.rememberedIndex(of: target.interface) {
          // One round trip: the kernel deletes the root only when its handle is faultline's.
          do {
            try socket.deleteRoot(ifindex: ifindex, interface: target.interface, handle: Self.handle)
            return .removed
          } catch let error as KernelError where error.errno == Errno.operationNotSupportedByDevice {
            return .nothingToRevert("interface \(target.interface) is gone from \(identity.path)")
          } catch let error as KernelError
            where error.errno == Errno.invalidArgument || error.errno == Errno.noSuchFileOrDirectory
          {
            // "Invalid handle" (another root) or "Cannot delete qdisc with handle of zero" (the default).
            return .nothingToRevert("no faultline qdisc on \(target)")
          }
        }
        guard let (ifindex, root) = try socket.interfaceAndRoot(named: target.interface) else {
          return .nothingToRevert("interface \(target.interface) is gone from \(identity.path)")
        }
        guard let root, isOurs(root) else {
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
        } catch let error as KernelError where error.errno == Errno.noSuchFileOrDirectory {
          return .nothingToRevert("no faultline qdisc on \(target)")
        }
        return .removed
      }
    } catch let error as KernelError where error.kind == .namespaceNotFound && expectedInode == nil {
      return .nothingToRevert("network namespace \(target.namespace) is gone")
    }
  }

  /// What the target's root qdisc is now, for drift detection: faultline's netem (decoded), another
  /// qdisc, the kernel's default, or no interface at all.
  ///
  /// `tc qdisc show dev IF root`. Reads only. The namespace rules are those of
  /// ``revert(_:restoring:expectedInode:)`` with an `expectedInode`: the path naming another
  /// namespace throws ``KernelError/Kind/namespaceChanged``, a gone one
  /// ``KernelError/Kind/namespaceNotFound`` (the caller re-resolves it by inode).
  public func inspect(_ target: FaultTarget, expectedInode: UInt64?) async throws -> TargetInspection {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: false), for: "inspecting \(target)")
    return try await NetlinkSessions.shared.run(in: target.namespace, procRoot: procRoot, hold: .none) {
      identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      guard let (ifindex, root) = try socket.interfaceAndRoot(named: target.interface) else {
        return .interfaceGone
      }
      guard let root, !root.isKernelDefault
      else { return .none }
      guard root.isFaultline else { return .foreign(root) }
      guard root.isShapedRoot else { return .faultline(try NetemParameters(decodingOptions: root.options)) }
      return .faultline(try Self.shapedNetem(socket, ifindex: ifindex, interface: target.interface))
    }
  }

  /// A path that names the network namespace with `inode` now (a bind mount under `/run/netns`,
  /// else the lowest PID in it), or nil when nothing holds it any more: see ``NamespaceLocator``.
  ///
  /// The scan reads every `<procRoot>/PID/ns/net`: blocking file I/O proportional to the number of
  /// processes, so it runs on one of the namespace worker threads (which are idle between kernel
  /// operations) instead of holding a thread of the small cooperative pool. It needs
  /// `CAP_SYS_PTRACE` to see other users' processes; those it cannot read are skipped.
  ///
  /// Nil also closes the netlink socket this process keeps for that namespace (``NetlinkSessions``):
  /// nothing else holds it, and the caller now treats it as gone, so the socket would be all that
  /// keeps it alive.
  public func locateNamespace(inode: UInt64) async -> NetworkNamespaceRef? {
    let locator = NamespaceLocator(procRoot: procRoot)
    let found = await NamespaceThread.runBlocking { locator.locate(inode: inode) }
    if found == nil { NetlinkSessions.shared.release(inode: inode) }
    return found
  }

  /// The root qdisc of every interface in `namespace` (`tc qdisc show`).
  public func status(in namespace: NetworkNamespaceRef) async throws -> (NamespaceIdentity, [InterfaceStatus])
  {
    try Capabilities.require(
      CapabilitySet.needed(for: namespace, modifies: false), for: "reading qdiscs in netns \(namespace)")
    return try await NetlinkSessions.shared.run(in: namespace, procRoot: procRoot, hold: .none) {
      identity, socket in
      let statuses = try socket.interfaces().map { link throws(KernelError) in
        let root = try socket.rootQdisc(ifindex: link.index, interface: link.name)
        var netem = try root.flatMap { root throws(KernelError) in
          root.kind == "netem" ? try NetemParameters(decodingOptions: root.options) : nil
        }
        var shape: TrafficShape?
        if let root, root.isShapedRoot {
          netem = try Self.shapedNetem(socket, ifindex: link.index, interface: link.name)
          shape = ShapedTree.shape(
            of: try socket.filters(ifindex: link.index, interface: link.name).compactMap(\.flower))
        }
        return InterfaceStatus(
          interface: link.name, ifindex: link.index, root: root, netem: netem, shape: shape)
      }
      return (identity, statuses)
    }
  }

  /// `fault` validated and in kernel units (its distribution table included), after checking the
  /// capabilities that changing `target` needs: what every apply does before entering the namespace.
  ///
  /// Returns the parameters (to compare the read-back with) and their `TCA_OPTIONS`, encoded once per
  /// fault (``EncodedOptions``).
  func requestedParameters(_ fault: NetemFault, for target: FaultTarget) throws -> (NetemParameters, [UInt8])
  {
    let fault = try fault.validated()
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "applying netem to \(target)")
    let table = try fault.jitter > .zero ? DistributionTable.table(for: fault.distribution ?? .uniform) : nil
    let parameters = NetemParameters(fault, distribution: table)
    return (parameters, EncodedOptions.shared.options(for: fault, parameters))
  }

  /// The namespace identity and interface index of a target, checking both exist.
  public func resolve(_ target: FaultTarget) async throws -> (NamespaceIdentity, Int32) {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: false), for: "resolving \(target)")
    return try await NetlinkSessions.shared.run(in: target.namespace, procRoot: procRoot, hold: .none) {
      identity, socket in
      return (identity, try Self.interfaceIndex(socket, target, identity))
    }
  }

  /// `qdisc netem fa17: root …` for `applied`.
  static func netemLine(_ applied: NetemParameters) -> String {
    "qdisc netem \(formatHandle(handle)) root \(applied.tcDescription)"
  }

  /// Throws ``KernelError/Kind/namespaceChanged`` when the namespace entered is not the expected one.
  static func check(_ identity: NamespaceIdentity, expectedInode: UInt64?) throws(KernelError) {
    if let expectedInode, expectedInode != identity.inode {
      throw KernelError.namespaceChanged(path: identity.path, expected: expectedInode, found: identity.inode)
    }
  }

  static func interfaceIndex(
    _ socket: NetlinkSocket, _ target: FaultTarget, _ identity: NamespaceIdentity
  )
    throws(KernelError) -> Int32
  {
    if let index = try socket.interfaceIndex(named: target.interface) { return index }
    throw interfaceNotFound(socket, target, identity)
  }

  /// The target interface's index and root qdisc (one round trip); throws when there is no such
  /// interface, naming those there are.
  static func interfaceAndRoot(
    _ socket: NetlinkSocket, _ target: FaultTarget, _ identity: NamespaceIdentity
  ) throws(KernelError) -> (Int32, QdiscSnapshot?) {
    if let found = try socket.interfaceAndRoot(named: target.interface) { return found }
    throw interfaceNotFound(socket, target, identity)
  }

  private static func interfaceNotFound(
    _ socket: NetlinkSocket, _ target: FaultTarget, _ identity: NamespaceIdentity
  ) -> KernelError {
    let available = (try? socket.interfaces().map(\.name)) ?? []
    return KernelError.interfaceNotFound(
      target.interface, namespace: target.namespace == .current ? "(current)" : identity.path,
      available: available)
  }

}
