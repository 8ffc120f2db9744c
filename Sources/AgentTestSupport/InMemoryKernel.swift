import FaultAgent
import FaultModel
import Foundation
import NetemKernel
import Synchronization
import SystemPackage

/// A kernel held in memory, for testing the agent on the host without root: namespaces (by inode)
/// reached through paths, interfaces with one root qdisc each, and every call recorded.
///
/// It keeps the contract of ``NetemKernel``: a path that names another namespace than the caller
/// expects throws `namespaceChanged`; a gone path throws `namespaceNotFound` when the caller gave
/// an inode (and is `nothing to revert` when it did not); a foreign root is replaced only with
/// `force`; `prepare` runs before the change. Tests move paths (a process exits, a PID is reused),
/// delete qdiscs behind the agent's back, and queue failures.
public final class InMemoryKernel: KernelClient {
  /// A root qdisc.
  public enum Root: Sendable, Hashable {
    /// The kernel's default.
    case kernelDefault
    /// faultline's netem with these parameters.
    case faultline(NetemParameters)
    /// faultline's prio tree: the packets `shape` selects go through a netem with these parameters.
    case shaped(NetemParameters, TrafficShape)
    /// Someone else's.
    case foreign(QdiscSnapshot)

    /// The netem parameters, when it is faultline's.
    public var netem: NetemParameters? {
      switch self {
      case .faultline(let parameters), .shaped(let parameters, _): parameters
      case .kernelDefault, .foreign: nil
      }
    }

    /// The shape, when it is faultline's prio tree.
    public var shape: TrafficShape? {
      if case .shaped(_, let shape) = self { return shape }
      return nil
    }
  }

  /// A recorded call.
  public struct Call: Sendable, Hashable, CustomStringConvertible {
    /// `apply`, `revert`, `inspect`, `resolve` or `locate`.
    public var operation: Operation
    /// The interface (empty for `locate`).
    public var interface: String
    /// The namespace path used.
    public var path: String

    /// What to print.
    public var description: String { "\(operation.rawValue) \(interface) in \(path)" }
  }

  /// The kernel operations.
  public enum Operation: String, Sendable, Hashable {
    case apply, revert, inspect, resolve, locate, reshape, redirect, unredirect
  }

  private struct State {
    var paths: [String: UInt64] = [:]
    var redirects: [UInt64: [String: IngressRedirect]] = [:]
    var namespaces: [UInt64: [String: Root]] = [:]
    var calls: [Call] = []
    var failures: [(operation: Operation, interface: String?, error: KernelError)] = []
    /// Suspends the next matching call until the test releases it.
    var gates: [(operation: Operation, gate: Gate)] = []
  }

  private let state = Mutex(State())

  /// The path the current namespace is known by.
  public static let currentPath = "/proc/self/ns/net"

  /// A kernel whose current namespace (inode 1) has `interfaces`.
  public init(currentInterfaces: [String] = ["eth0"]) {
    state.withLock { state in
      state.paths[Self.currentPath] = 1
      state.namespaces[1] = Dictionary(
        uniqueKeysWithValues: currentInterfaces.map { ($0, Root.kernelDefault) })
    }
  }

  // MARK: - Setting the scene

  /// Adds a namespace `inode` with `interfaces`, reachable through `path`.
  public func addNamespace(inode: UInt64, path: String, interfaces: [String] = ["eth0"]) {
    state.withLock { state in
      state.namespaces[inode] = Dictionary(uniqueKeysWithValues: interfaces.map { ($0, Root.kernelDefault) })
      state.paths[path] = inode
    }
  }

  /// Makes `path` name namespace `inode` (another process of it, or a reused PID), or nothing (nil:
  /// the process exited).
  public func setPath(_ path: String, to inode: UInt64?) {
    state.withLock { $0.paths[path] = inode }
  }

  /// Deletes namespace `inode` and every path to it (the pod is gone).
  public func deleteNamespace(inode: UInt64) {
    state.withLock { state in
      state.namespaces[inode] = nil
      state.paths = state.paths.filter { $0.value != inode }
    }
  }

  /// Adds or removes an interface.
  public func setInterface(_ name: String, in inode: UInt64, present: Bool) {
    state.withLock { state in
      state.namespaces[inode]?[name] = present ? .kernelDefault : nil
    }
  }

  /// Sets a root qdisc directly (someone else's `tc`).
  public func setRoot(_ root: Root, interface: String, in inode: UInt64) {
    state.withLock { $0.namespaces[inode]?[interface] = root }
  }

  /// The root qdisc of `interface` in namespace `inode` (nil: no such interface or namespace).
  public func root(_ interface: String, in inode: UInt64 = 1) -> Root? {
    state.withLock { $0.namespaces[inode]?[interface] }
  }

  /// Makes the next `times` calls of `operation` (on `interface`, or any) fail with `error`.
  public func fail(_ operation: Operation, interface: String? = nil, times: Int = 1, with error: KernelError)
  {
    state.withLock { state in
      for _ in 0..<times { state.failures.append((operation, interface, error)) }
    }
  }

  /// Holds the next call of `operation` at its start until the returned gate is opened.
  public func hold(_ operation: Operation) -> Gate {
    let gate = Gate()
    state.withLock { $0.gates.append((operation, gate)) }
    return gate
  }

  /// faultline's ingress redirect of `interface` in namespace `inode`, if any.
  public func redirect(_ interface: String, in inode: UInt64 = 1) -> IngressRedirect? {
    state.withLock { $0.redirects[inode]?[interface] }
  }

  /// Every call so far, in order.
  public var calls: [Call] { state.withLock { $0.calls } }

  /// The calls of one operation.
  public func calls(_ operation: Operation) -> [Call] { calls.filter { $0.operation == operation } }

  // MARK: - KernelClient

  /// Applies as ``NetemKernel/apply(_:to:expectedInode:force:prepare:)`` does, in memory.
  public func apply(
    _ fault: NetemFault, to target: FaultTarget, expectedInode: UInt64?, force: Bool,
    prepare: @escaping @Sendable (ApplyPlan) throws -> Void
  ) async throws -> ApplyReport {
    try await begin(.apply, target)
    let fault = try fault.validated()
    let parameters = NetemParameters(fault, distribution: nil)
    let (identity, previous) = try state.withLock { state throws -> (NamespaceIdentity, Root) in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      guard let root = state.namespaces[identity.inode]?[target.interface] else {
        throw KernelError.interfaceNotFound(
          target.interface, namespace: identity.path,
          available: state.namespaces[identity.inode].map { Array($0.keys).sorted() } ?? [])
      }
      return (identity, root)
    }
    var replacing: QdiscSnapshot?
    var previousSnapshot: QdiscSnapshot?
    switch previous {
    case .kernelDefault: break
    case .faultline(let old), .shaped(let old, _):
      previousSnapshot = QdiscSnapshot(
        kind: "netem", handle: NetemKernel.handle, options: old.encodedOptions())
    case .foreign(let qdisc):
      guard force else {
        throw KernelError.foreignQdisc(interface: target.interface, kind: qdisc.kind, handle: qdisc.handle)
      }
      replacing = qdisc
      previousSnapshot = qdisc
    }
    let plan = ApplyPlan(
      target: target, namespace: identity, ifindex: 2, previous: previousSnapshot, replacing: replacing,
      parameters: parameters)
    try prepare(plan)
    state.withLock { $0.namespaces[identity.inode]?[target.interface] = .faultline(parameters) }
    return ApplyReport(
      plan: plan, applied: parameters,
      tcLine: "qdisc netem \(formatHandle(NetemKernel.handle)) root \(parameters.tcDescription)")
  }

  /// Reverts as ``NetemKernel/revert(_:restoring:expectedInode:)`` does, in memory.
  public func revert(_ target: FaultTarget, restoring: QdiscSnapshot?, expectedInode: UInt64?) async throws
    -> RevertOutcome
  {
    try await begin(.revert, target)
    return try state.withLock { state throws -> RevertOutcome in
      let identity: NamespaceIdentity
      do {
        identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      } catch let error as KernelError where error.kind == .namespaceNotFound && expectedInode == nil {
        return .nothingToRevert("network namespace \(target.namespace) is gone")
      }
      guard let root = state.namespaces[identity.inode]?[target.interface] else {
        return .nothingToRevert("interface \(target.interface) is gone from \(identity.path)")
      }
      guard root.netem != nil else { return .nothingToRevert("no faultline qdisc on \(target)") }
      if let restoring {
        state.namespaces[identity.inode]?[target.interface] = .foreign(restoring)
        return .restored(restoring)
      }
      state.namespaces[identity.inode]?[target.interface] = .kernelDefault
      return .removed
    }
  }

  /// Reads the root as ``NetemKernel/inspect(_:expectedInode:)`` does, in memory.
  public func inspect(_ target: FaultTarget, expectedInode: UInt64?) async throws -> TargetInspection {
    try await begin(.inspect, target)
    return try state.withLock { state throws -> TargetInspection in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      switch state.namespaces[identity.inode]?[target.interface] {
      case nil: return .interfaceGone
      case .kernelDefault: return .none
      case .faultline(let parameters), .shaped(let parameters, _): return .faultline(parameters)
      case .foreign(let qdisc): return .foreign(qdisc)
      }
    }
  }

  /// The namespace identity and a made-up interface index.
  public func resolve(_ target: FaultTarget) async throws -> (NamespaceIdentity, Int32) {
    try await begin(.resolve, target)
    return try state.withLock { state throws -> (NamespaceIdentity, Int32) in
      let identity = try Self.enter(state, target.namespace, expectedInode: nil)
      guard state.namespaces[identity.inode]?[target.interface] != nil else {
        throw KernelError.interfaceNotFound(target.interface, namespace: identity.path, available: [])
      }
      return (identity, 2)
    }
  }

  /// The first path (sorted) that names namespace `inode` now.
  public func locateNamespace(inode: UInt64) async -> NetworkNamespaceRef? {
    state.withLock { state in
      state.calls.append(Call(operation: .locate, interface: "", path: "inode \(inode)"))
      guard state.namespaces[inode] != nil else { return nil }
      return state.paths.filter { $0.value == inode && $0.key != Self.currentPath }.keys.sorted().first
        .map(NetworkNamespaceRef.path)
    }
  }

  /// Applies as ``NetemKernel/applyShaped(_:shape:to:expectedInode:force:prepare:)`` does, in memory.
  public func applyShaped(
    _ fault: NetemFault, shape: TrafficShape, to target: FaultTarget, expectedInode: UInt64?, force: Bool,
    prepare: @escaping @Sendable (ApplyPlan) throws -> Void
  ) async throws -> ApplyReport {
    let report = try await apply(
      fault, to: target, expectedInode: expectedInode, force: force, prepare: prepare)
    try state.withLock { state throws in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      state.namespaces[identity.inode]?[target.interface] = .shaped(report.applied, shape)
    }
    return report
  }

  /// Replaces the filters as ``NetemKernel/reshape(_:on:expectedInode:)`` does, in memory.
  public func reshape(_ shape: TrafficShape, on target: FaultTarget, expectedInode: UInt64?) async throws {
    try await begin(.reshape, target)
    try state.withLock { state throws in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      guard case .shaped(let parameters, _) = state.namespaces[identity.inode]?[target.interface] else {
        throw KernelError.verificationFailed(
          interface: target.interface, mismatches: ["no faultline prio tree"])
      }
      state.namespaces[identity.inode]?[target.interface] = .shaped(parameters, shape)
    }
  }

  /// Sets up the redirect and its IFB as ``NetemKernel/redirectIngress(of:expectedInode:)`` does.
  public func redirectIngress(of target: FaultTarget, expectedInode: UInt64?) async throws -> IngressRedirect
  {
    try await begin(.redirect, target)
    return try state.withLock { state throws -> IngressRedirect in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      guard state.namespaces[identity.inode]?[target.interface] != nil else {
        throw KernelError.interfaceNotFound(target.interface, namespace: identity.path, available: [])
      }
      if let existing = state.redirects[identity.inode]?[target.interface] { return existing }
      let redirect = IngressRedirect(
        interface: target.interface, ifb: "fl-\(target.interface)", createdQdisc: true, qdiscKind: "clsact",
        filterPriority: 0xFA17)
      state.redirects[identity.inode, default: [:]][target.interface] = redirect
      state.namespaces[identity.inode]?[redirect.ifb] = .kernelDefault
      return redirect
    }
  }

  /// Removes the redirect and its IFB as ``NetemKernel/removeIngressRedirect(_:in:expectedInode:)`` does.
  public func removeIngressRedirect(
    _ redirect: IngressRedirect, in target: FaultTarget, expectedInode: UInt64?
  )
    async throws
  {
    try await begin(.unredirect, target)
    try state.withLock { state throws in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      state.redirects[identity.inode]?[redirect.interface] = nil
      state.namespaces[identity.inode]?[redirect.ifb] = nil
    }
  }

  /// The redirect set up on the target, as ``NetemKernel/readIngressRedirect(of:expectedInode:)`` reads it.
  public func readIngressRedirect(of target: FaultTarget, expectedInode: UInt64?) async throws
    -> IngressRedirect?
  {
    try state.withLock { state throws -> IngressRedirect? in
      let identity = try Self.enter(state, target.namespace, expectedInode: expectedInode)
      return state.redirects[identity.inode]?[target.interface]
    }
  }

  // MARK: - Internals

  private func begin(_ operation: Operation, _ target: FaultTarget) async throws {
    let path = target.namespace.path() ?? Self.currentPath
    let (failure, gate) = state.withLock { state -> (KernelError?, Gate?) in
      state.calls.append(Call(operation: operation, interface: target.interface, path: path))
      var gate: Gate?
      if let index = state.gates.firstIndex(where: { $0.operation == operation }) {
        gate = state.gates.remove(at: index).gate
      }
      guard
        let index = state.failures.firstIndex(where: {
          $0.operation == operation && ($0.interface == nil || $0.interface == target.interface)
        })
      else { return (nil, gate) }
      return (state.failures.remove(at: index).error, gate)
    }
    if let gate { await gate.arrive() }
    if let failure { throw failure }
  }

  private static func enter(_ state: State, _ namespace: NetworkNamespaceRef, expectedInode: UInt64?) throws
    -> NamespaceIdentity
  {
    let path = namespace.path() ?? currentPath
    guard let inode = state.paths[path], state.namespaces[inode] != nil else {
      throw KernelError.namespaceNotFound(path, errno: .noSuchFileOrDirectory)
    }
    if let expectedInode, expectedInode != inode {
      throw KernelError.namespaceChanged(path: path, expected: expectedInode, found: inode)
    }
    return NamespaceIdentity(path: path, inode: inode)
  }
}

/// A point where a kernel call waits until the test lets it go on.
public final class Gate: Sendable {
  private struct State {
    var arrived = false
    var opened = false
    var waiter: CheckedContinuation<Void, Never>?
  }

  private let state = Mutex(State())

  /// Whether a call is waiting here (or went through).
  public var hasArrived: Bool { state.withLock { $0.arrived } }

  /// Lets the waiting call (or the next one) go on.
  public func open() {
    let waiter = state.withLock { state in
      state.opened = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  func arrive() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let go = state.withLock { state in
        state.arrived = true
        if state.opened { return true }
        state.waiter = continuation
        return false
      }
      if go { continuation.resume() }
    }
  }
}
