import FaultModel
import Logging

/// A pod chosen for a fault, with the network namespace to put it in.
public struct ResolvedPodTarget: Sendable, Hashable, CustomStringConvertible {
  /// The pod as the API server described it.
  public var pod: Pod
  /// The pod's network namespace, found through one of its processes.
  public var namespace: ProcessNetworkNamespace

  /// A target of `pod` in `namespace`.
  public init(pod: Pod, namespace: ProcessNetworkNamespace) {
    self.pod = pod
    self.namespace = namespace
  }

  /// `<procRoot>/<pid>/ns/net` of a process in the pod: valid while that process lives, so open it
  /// when applying (and resolve again after the pod changes).
  public var netns: NetworkNamespaceRef { .path(namespace.path) }

  /// The namespace's inode: the pod's stable identity for the namespace (the same for every
  /// container of the pod), to compare with what was applied before.
  public var netnsInode: UInt64 { namespace.inode }

  /// Where to apply a fault on `interface` (the profile's `target.interface`) inside the pod.
  public func faultTarget(interface: String) -> FaultTarget {
    FaultTarget(interface: interface, namespace: netns)
  }

  /// `default/payment-7d9f net:[4026532281] via /proc/4242/ns/net`.
  public var description: String { "\(pod.qualifiedName) \(namespace)" }
}

/// A pod that matched a selector but cannot get a fault, and why.
public struct SkippedPod: Sendable, Hashable, CustomStringConvertible {
  /// Why a matching pod is not a target.
  public enum Reason: Sendable, Hashable, CustomStringConvertible {
    /// `status.phase` is not `Running` (Pending pods have no namespace yet).
    case notRunning(phase: String)
    /// The pod is being deleted.
    case terminating
    /// `spec.hostNetwork` (or its processes are in the host's namespace): a fault there would hit
    /// the whole node, so pod selectors never target it.
    case hostNetwork
    /// No process under `procRoot` is in the pod's cgroup (containers not started yet, or the proc
    /// root is not the node's).
    case noProcess(procRoot: String)

    /// What to tell the user.
    public var description: String {
      switch self {
      case .notRunning(let phase): "phase is \(phase.isEmpty ? "unknown" : phase), not Running"
      case .terminating: "the pod is terminating"
      case .hostNetwork:
        "hostNetwork: the pod is in the node's network namespace; faultline does not inject there"
      case .noProcess(let procRoot):
        "no process of the pod found in \(procRoot) (by cgroup); containers not started, or --proc-root is "
          + "not the node's /proc"
      }
    }
  }

  /// The pod.
  public var pod: Pod
  /// Why it was skipped.
  public var reason: Reason

  /// `pod` skipped for `reason`.
  public init(pod: Pod, reason: Reason) {
    self.pod = pod
    self.reason = reason
  }

  /// `default/web-0: phase is Pending, not Running`.
  public var description: String { "\(pod.qualifiedName): \(reason)" }
}

/// What a selector resolves to on this node at one moment.
public struct PodTargetResolution: Sendable, Hashable {
  /// The chosen pods, sorted by namespace and name.
  public var targets: [ResolvedPodTarget]
  /// Matching pods that cannot be targets, sorted by namespace and name.
  public var skipped: [SkippedPod]
  /// How many pods could have been chosen (Running, with a namespace) before the mode picked
  /// ``targets`` from them.
  public var eligibleCount: Int

  /// A resolution from its parts.
  public init(targets: [ResolvedPodTarget] = [], skipped: [SkippedPod] = [], eligibleCount: Int = 0) {
    self.targets = targets
    self.skipped = skipped
    self.eligibleCount = eligibleCount
  }
}

/// Resolves a profile's ``PodSelector`` to the pods on this node and their network namespaces:
/// the pods from the API server (``KubeAPIClient``), their namespaces from `/proc`
/// (``ProcScanner``), the choice from the mode (``PodSelection``).
///
/// ```swift
/// try await KubeAPIClient.withClient(configuration: .resolve(kubeAPI: nil), logger: logger) { client in
///   let resolver = PodTargetResolver(client: client, nodeName: node, procRoot: "/host/proc")
///   let seed = PodSelection.seed(forProfile: profile.name)
///   for target in try await resolver.resolve(selector, seed: seed).targets {
///     apply(profile.fault, on: target.faultTarget(interface: profile.target.interface))
///   }
///   for try await resolution in resolver.watch(selector, seed: seed) { reconcile(resolution.targets) }
/// }
/// ```
public struct PodTargetResolver: Sendable {
  /// The API client.
  public let client: KubeAPIClient
  /// The node whose pods are resolved (`--node-name`, `NODE_NAME`).
  public let nodeName: String
  /// The scanner of the node's `/proc` (`--proc-root`).
  public let scanner: ProcScanner

  /// A resolver of the pods on `nodeName`, reading processes under `procRoot`.
  public init(client: KubeAPIClient, nodeName: String, procRoot: String = "/proc") {
    self.client = client
    self.nodeName = nodeName
    self.scanner = ProcScanner(procRoot: procRoot)
  }

  /// The API query for `selector` on this node.
  public func query(for selector: PodSelector) -> PodQuery {
    PodQuery(selector: selector, nodeName: nodeName)
  }

  /// Lists the pods `selector` matches on this node, scans `/proc`, and picks the targets.
  ///
  /// - Throws: ``KubeTargetsError`` from the API or the proc root.
  public func resolve(_ selector: PodSelector, seed: UInt64) async throws -> PodTargetResolution {
    let list = try await client.listPods(query(for: selector))
    return try resolve(selector, pods: list.items, seed: seed)
  }

  /// Picks the targets among `pods` (e.g. the last set of a watch) with a fresh scan of `/proc`,
  /// without asking the API server.
  public func resolve(_ selector: PodSelector, pods: [Pod], seed: UInt64) throws(KubeTargetsError)
    -> PodTargetResolution
  {
    Self.resolve(selector, pods: pods, scan: try scanner.scan(), seed: seed)
  }

  /// The pure core: which of `pods` match `selector`, which of those can be targets given `scan`,
  /// and which the mode picks (seeded by `seed`).
  public static func resolve(_ selector: PodSelector, pods: [Pod], scan: ProcScan, seed: UInt64)
    -> PodTargetResolution
  {
    let query = PodQuery(selector: selector, nodeName: nil)
    let matching = pods.filter { query.matches($0) }.sorted {
      ($0.namespace, $0.name, $0.uid) < ($1.namespace, $1.name, $1.uid)
    }
    var eligible: [ResolvedPodTarget] = []
    var skipped: [SkippedPod] = []
    for pod in matching {
      if pod.phase != "Running" {
        skipped.append(SkippedPod(pod: pod, reason: .notRunning(phase: pod.phase)))
      } else if pod.isTerminating {
        skipped.append(SkippedPod(pod: pod, reason: .terminating))
      } else if pod.hostNetwork {
        skipped.append(SkippedPod(pod: pod, reason: .hostNetwork))
      } else if let namespace = scan.namespace(forPodUID: pod.cgroupUID) {
        eligible.append(ResolvedPodTarget(pod: pod, namespace: namespace))
      } else if scan.hostNetworkPodUIDs.contains(pod.cgroupUID) {
        skipped.append(SkippedPod(pod: pod, reason: .hostNetwork))
      } else {
        skipped.append(SkippedPod(pod: pod, reason: .noProcess(procRoot: scan.procRoot)))
      }
    }
    let targets = PodSelection.choose(eligible, mode: selector.mode, seed: seed) { $0.pod.uid }
    return PodTargetResolution(targets: targets, skipped: skipped, eligibleCount: eligible.count)
  }

  /// Watches `selector` on this node: yields a resolution at once, then again whenever a pod event
  /// changes it (a pod appears, starts running, changes labels, goes away). Built on
  /// ``KubeAPIClient/watchPods(_:)``: the first list throws; later API failures are retried.
  ///
  /// A pod whose processes were not visible yet at its event stays in ``PodTargetResolution/skipped``
  /// until the next event; call ``resolve(_:pods:seed:)`` with ``PodTargetWatch/AsyncIterator/lastPods``
  /// to rescan without the API.
  public func watch(_ selector: PodSelector, seed: UInt64) -> PodTargetWatch {
    PodTargetWatch(resolver: self, selector: selector, seed: seed)
  }
}

/// The resolutions of one selector over time, see ``PodTargetResolver/watch(_:seed:)``.
public struct PodTargetWatch: AsyncSequence, Sendable {
  /// The targets after a change.
  public typealias Element = PodTargetResolution

  let resolver: PodTargetResolver
  let selector: PodSelector
  let seed: UInt64

  /// Resolves after each pod-set update; yields only when the resolution changed.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let resolver: PodTargetResolver
    let selector: PodSelector
    let seed: UInt64
    var pods: PodWatch.AsyncIterator
    var previous: PodTargetResolution?
    /// The pods of the last update (to re-resolve from without the API server).
    public private(set) var lastPods: [Pod] = []

    /// The next changed resolution.
    public mutating func next() async throws -> PodTargetResolution? {
      while let update = try await pods.next() {
        lastPods = update.pods
        let resolution = try resolver.resolve(selector, pods: update.pods, seed: seed)
        if resolution != previous {
          previous = resolution
          return resolution
        }
      }
      return nil
    }
  }

  /// Starts the watch; nothing is sent before the first `next()`.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(
      resolver: resolver, selector: selector, seed: seed,
      pods: resolver.client.watchPods(resolver.query(for: selector)).makeAsyncIterator())
  }
}
