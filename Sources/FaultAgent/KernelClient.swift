import FaultModel
import NetemKernel

/// What the agent needs from the kernel: the seam between deciding and doing.
///
/// ``NetemKernel`` is the production conformer (netlink through libnl-route-3). The agent's tests use
/// an in-memory kernel that holds state per namespace and interface and can be told to fail, to lose a
/// qdisc or to move a namespace, so every scheduling, reload and recovery path runs on the host in
/// seconds. Every call that names a namespace by path also takes the inode the caller expects there:
/// a path is only a hint (a pod's `/proc/PID/ns/net` dies with that process), the inode is the identity.
public protocol KernelClient: Sendable {
  /// Replaces the target's root qdisc with faultline's netem and reads it back
  /// (`tc qdisc replace dev IF root handle fa17: netem …`, then `tc qdisc show dev IF`).
  ///
  /// `prepare` runs after every check and before the kernel changes (the journal entry is written
  /// there). Throws `namespaceChanged` when the path names a namespace other than `expectedInode`.
  func apply(
    _ fault: NetemFault, to target: FaultTarget, expectedInode: UInt64?, force: Bool,
    prepare: @escaping @Sendable (ApplyPlan) throws -> Void
  ) async throws -> ApplyReport

  /// Removes faultline's root qdisc, putting `restoring` back when given (`tc qdisc del dev IF root`).
  ///
  /// With `expectedInode`, a path that is gone throws `namespaceNotFound` and a path naming another
  /// namespace throws `namespaceChanged`: only the caller can tell, by looking the inode up, whether
  /// the namespace is really gone.
  func revert(_ target: FaultTarget, restoring: QdiscSnapshot?, expectedInode: UInt64?) async throws
    -> RevertOutcome

  /// The target's root qdisc now (`tc qdisc show dev IF root`), for the periodic resync.
  func inspect(_ target: FaultTarget, expectedInode: UInt64?) async throws -> TargetInspection

  /// The target's namespace identity and interface index, checking both exist.
  func resolve(_ target: FaultTarget) async throws -> (NamespaceIdentity, Int32)

  /// A path naming the network namespace with `inode` now, or nil when nothing holds it any more.
  func locateNamespace(inode: UInt64) async -> NetworkNamespaceRef?

  /// Replaces the target's root with faultline's prio tree: the packets `shape` selects go through
  /// a netem child with `fault`, the rest pass untouched (`tc qdisc replace … root handle fa17: prio`,
  /// a netem under `fa17:2`, flower filters), read back like ``apply(_:to:expectedInode:force:prepare:)``.
  func applyShaped(
    _ fault: NetemFault, shape: TrafficShape, to target: FaultTarget, expectedInode: UInt64?, force: Bool,
    prepare: @escaping @Sendable (ApplyPlan) throws -> Void
  ) async throws -> ApplyReport

  /// Replaces only the filters of the target's prio tree (the peers changed); the netem stays on.
  func reshape(_ shape: TrafficShape, on target: FaultTarget, expectedInode: UInt64?) async throws

  /// Redirects the target's ingress to faultline's IFB device in the same namespace (created if
  /// needed), sharing a foreign `clsact`/`ingress` qdisc rather than replacing it.
  func redirectIngress(of target: FaultTarget, expectedInode: UInt64?) async throws -> IngressRedirect

  /// Removes exactly what `redirect` records (the filter, the qdisc if faultline added it, the IFB).
  func removeIngressRedirect(_ redirect: IngressRedirect, in target: FaultTarget, expectedInode: UInt64?)
    async throws

  /// faultline's ingress redirect on the target now, nil when there is none.
  func readIngressRedirect(of target: FaultTarget, expectedInode: UInt64?) async throws -> IngressRedirect?
}

extension NetemKernel: KernelClient {}
