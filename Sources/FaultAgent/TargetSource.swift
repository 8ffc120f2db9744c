import FaultModel

/// One place a profile's fault goes: an interface in a network namespace, and the pod it belongs to.
public struct WindowTarget: Sendable, Hashable, CustomStringConvertible {
  /// Stable while the target is the same: the pod UID and namespace inode for a pod (a recreated
  /// sandbox is a new target), the interface and namespace otherwise.
  public var key: String
  /// Where to apply.
  public var target: FaultTarget
  /// The inode the namespace must have, when known before the first apply (pods).
  public var namespaceInode: UInt64?
  /// The pod, in DaemonSet mode.
  public var pod: PodTarget?

  /// A fixed target (sidecar, CLI, a named namespace or path).
  public init(fixed target: FaultTarget) {
    self.key = target.description
    self.target = target
    self.namespaceInode = nil
    self.pod = nil
  }

  /// A pod's target.
  public init(pod: PodTarget) {
    self.key = "\(pod.uid)@\(pod.netnsInode)"
    self.target = pod.target
    self.namespaceInode = pod.netnsInode
    self.pod = pod
  }

  /// `default/web-0: eth0 in /proc/42/ns/net`, or the fixed target.
  public var description: String { pod.map(\.description) ?? target.description }
}

/// Where a profile's targets come from: one fixed target, or the pods a selector picks. A sidecar's
/// window is a window on a set of one; there is no second path for pods.
public protocol TargetSource: Sendable {
  /// Calls `update` with the targets now, then again whenever they change, until the calling task
  /// is cancelled (then returns, or throws `CancellationError`).
  ///
  /// - Throws: when the targets cannot be found (the agent reports the profile as pending and calls
  ///   again after a backoff).
  func follow(_ update: @Sendable ([WindowTarget]) async -> Void) async throws

  /// The targets, when they are known without asking anyone and never change: the agent then
  /// applies in the same step the window opens, with no task following them.
  var fixedTargets: [WindowTarget]? { get }
}

extension TargetSource {
  /// None: the targets must be followed.
  public var fixedTargets: [WindowTarget]? { nil }
}

/// A profile's one target, as written (sidecar mode, a named namespace, a path).
public struct FixedTargetSource: TargetSource {
  /// The target.
  public let target: FaultTarget

  /// A source of `target` alone.
  public init(_ target: FaultTarget) { self.target = target }

  /// None: the targets must be followed.
  public var fixedTargets: [WindowTarget]? { [WindowTarget(fixed: target)] }

  /// Yields each load as the source produces it (see the protocol).
  public func follow(_ update: @Sendable ([WindowTarget]) async -> Void) async throws {
    await update([WindowTarget(fixed: target)])
    // Nothing changes until the window closes and cancels this.
    let (stream, _) = AsyncStream.makeStream(of: Void.self)
    for await _ in stream {}
  }
}

/// The pods a profile's `target.pods` selects on this node, followed as they come and go.
public struct PodSelectorSource: TargetSource {
  /// The selector.
  public let selector: PodSelector
  /// The profile (its name seeds `one`, `fixed:N` and `percent:N`, as in `faultline plan`).
  public let profile: String
  /// The interface inside each pod.
  public let interface: String
  /// The pods on this node.
  public let pods: any PodTargetSource

  /// A source of the pods `selector` picks for `profile`, on `interface`.
  public init(selector: PodSelector, profile: String, interface: String, pods: any PodTargetSource) {
    self.selector = selector
    self.profile = profile
    self.interface = interface
    self.pods = pods
  }

  /// Yields each load as the source produces it (see the protocol).
  public func follow(_ update: @Sendable ([WindowTarget]) async -> Void) async throws {
    try await pods.watch(selector, profile: profile, interface: interface) { targets in
      await update(targets.map(WindowTarget.init(pod:)))
    }
  }
}

/// A source that always fails with `error`: a profile that targets pods on an agent with no
/// Kubernetes API (its windows are reported pending with this reason).
public struct UnavailableTargetSource: TargetSource {
  /// Why there are no targets.
  public let error: any Error & Sendable

  /// A source failing with `error`.
  public init(_ error: any Error & Sendable) { self.error = error }

  /// Yields each load as the source produces it (see the protocol).
  public func follow(_ update: @Sendable ([WindowTarget]) async -> Void) async throws { throw error }
}
