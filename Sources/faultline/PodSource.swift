import FaultAgent
import FaultModel
import KubeTargets
import Logging

/// `faultline run`'s pods (DaemonSet mode): the pods on this node from the Kubernetes API, mapped
/// to their network namespaces through kubelet's cgroups under `--proc-root`, picked with the
/// profile's seed exactly as `faultline plan` picks them.
struct KubePodSource: PodTargetSource {
  /// Lists, watches and maps the pods.
  let resolver: PodTargetResolver
  let logger: Logger

  func resolve(_ selector: PodSelector, profile: String, interface: String) async throws -> [PodTarget] {
    let resolution = try await resolver.resolve(selector, seed: PodSelection.seed(forProfile: profile))
    report(resolution, profile: profile)
    return resolution.targets.map { Self.podTarget($0, interface: interface) }
  }

  func watch(
    _ selector: PodSelector, profile: String, interface: String,
    update: @Sendable ([PodTarget]) async -> Void
  ) async throws {
    for try await resolution in resolver.watch(selector, seed: PodSelection.seed(forProfile: profile)) {
      report(resolution, profile: profile)
      await update(resolution.targets.map { Self.podTarget($0, interface: interface) })
    }
  }

  func annotate(_ pod: PodTarget, with annotations: [String: String?]) async throws {
    try await resolver.client.patchPodAnnotations(
      namespace: pod.namespace, name: pod.name, annotations: annotations)
  }

  /// Logs the matching pods that cannot be targets (not Running, hostNetwork, no process).
  private func report(_ resolution: PodTargetResolution, profile: String) {
    for skipped in resolution.skipped {
      logger.info("pod skipped", metadata: ["profile": "\(profile)", "pod": "\(skipped)"])
    }
    logger.debug(
      "pods resolved",
      metadata: [
        "profile": "\(profile)", "node": "\(resolver.nodeName)",
        "targets": "\(resolution.targets.map(\.description).joined(separator: "; "))",
      ])
  }

  /// The FaultAgent view of a resolved pod.
  static func podTarget(_ resolved: ResolvedPodTarget, interface: String) -> PodTarget {
    PodTarget(
      target: resolved.faultTarget(interface: interface), namespace: resolved.pod.namespace,
      name: resolved.pod.name, uid: resolved.pod.uid, netnsInode: resolved.netnsInode)
  }
}

/// The addresses of peer pods (a profile's `traffic.peers` pods, Chaos Mesh `target`), on any
/// node: listed and watched through the API server, `status.podIPs` of the Running ones.
struct KubePodAddresses: PodAddressSource {
  let client: KubeAPIClient
  let logger: Logger

  func watchAddresses(_ selector: PodSelector, update: @Sendable ([IPPrefix]) async -> Void) async throws {
    var last: [IPPrefix]?
    for try await change in client.watchPods(PodQuery(selector: selector, nodeName: nil)) {
      let addresses = addresses(of: change.pods, selector)
      if addresses != last {
        last = addresses
        await update(addresses)
      }
    }
  }

  func addresses(_ selector: PodSelector) async throws -> [IPPrefix] {
    addresses(of: try await client.listPods(PodQuery(selector: selector, nodeName: nil)).items, selector)
  }

  /// The addresses of the Running pods `selector` picks among `pods`, with its mode and seed.
  private func addresses(of pods: [Pod], _ selector: PodSelector) -> [IPPrefix] {
    let query = PodQuery(selector: selector, nodeName: nil)
    let running = pods.filter { query.matches($0) && $0.phase == "Running" && !$0.isTerminating }
      .sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
    let chosen = PodSelection.choose(
      running, mode: selector.mode, seed: PodSelection.seed(forProfile: selector.description)
    ) { $0.uid }
    return chosen.flatMap { pod in
      pod.podIPs.compactMap { text -> IPPrefix? in
        do { return try IPPrefix(parsing: text) } catch {
          logger.warning(
            "pod address unreadable", metadata: ["pod": "\(pod.qualifiedName)", "ip": "\(text)"])
          return nil
        }
      }
    }
  }
}
