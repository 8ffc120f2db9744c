import ArgumentParser
import FaultAgent
import FaultModel
import Foundation
import KubeTargets
import NetemKernel

/// `faultline plan`: what each profile would target now, without touching any qdisc.
struct Plan: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Resolve every profile to its targets (pods on this node and their network namespaces) "
      + "without touching any qdisc.",
    discussion: """
      Profiles with target.pods are resolved like the daemon does: the pods on this node that match \
      (from the Kubernetes API: --kube-api, or the pod's service account), their network namespaces \
      through kubelet's cgroups in --proc-root, then the selection mode (one, fixed:N, percent:N pick \
      the same pods as `faultline run`, seeded by the profile name). Other profiles print their plain \
      target. Matching pods that cannot be targets (not Running, hostNetwork, no process found) are \
      reported on stderr.

      JSON output (--output json) is one array of objects: profile, pod (namespace/name), uid, netns, \
      netnsInode, interface, fault, traffic (the selection's summary).

      Example: faultline plan --profiles /etc/faultline/profiles --node-name "$NODE_NAME" --output json
      """)

  @Option(help: ArgumentHelp("The profile directory (or one file).", valueName: "DIR"))
  var profiles: String

  @OptionGroup var kubeOptions: KubeOptions
  @OptionGroup var nodeIPOptions: NodeIPOptions

  @Option(help: "Output format: text (one line per target) or json (an array).")
  var output: OutputFormat = .text

  mutating func run() async throws {
    guard FileManager.default.fileExists(atPath: profiles) else {
      throw CLIError(message: "--profiles: \(profiles): no such file or directory", code: CLIError.badInput)
    }
    let loaded = ProfileFiles.load(paths: [profiles])
    guard loaded.issues.isEmpty else {
      for issue in loaded.issues { note(issue.description) }
      throw CLIError(
        message: "\(loaded.issues.count) problem\(plural(loaded.issues.count)) in the profiles "
          + "(see faultline validate \(profiles))", code: 1)
    }
    let settings = kubeOptions.configuration
    var entries: [PlanEntry] = []
    let podProfiles = loaded.profiles.filter { $0.pods != nil }
    var resolutions: [String: PodTargetResolution] = [:]
    if !podProfiles.isEmpty {
      do {
        let node = try settings.requireNodeName()
        let api = try settings.apiConfiguration()
        let logger = makeLogger()
        resolutions = try await KubeAPIClient.withClient(configuration: api, logger: logger) { client in
          let resolver = PodTargetResolver(client: client, nodeName: node, procRoot: settings.procRoot)
          var results: [String: PodTargetResolution] = [:]
          for profile in podProfiles {
            results[profile.name] = try await resolver.resolve(
              profile.pods!, seed: PodSelection.seed(forProfile: profile.name))
          }
          return results
        }
        for profile in podProfiles {
          let resolution = resolutions[profile.name]!
          for skipped in resolution.skipped { note("\(profile.name): skipped \(skipped)") }
          if resolution.targets.isEmpty {
            note("\(profile.name): no pod selected on node \(node) (\(profile.pods!))")
          }
        }
      } catch let error as KubeTargetsError {
        throw CLIError(message: error.description, code: error.isConfigurationError ? CLIError.badInput : 1)
      } catch let error as CLIError {
        throw error
      } catch {
        throw CLIError(error)
      }
    }
    let peers = await resolvePeers(loaded.profiles, settings: settings)
    let node = try nodeIPOptions.protectedPrefixes()
    func protected(_ profile: Profile) -> [IPPrefix] { (profile.traffic?.protectNode ?? true) ? node : [] }
    for profile in loaded.profiles {
      if profile.pods != nil {
        for target in resolutions[profile.name]?.targets ?? [] {
          var entry = PlanEntry(profile: profile, pod: target)
          entry.shaping = TrafficPlan.shaping(
            profile.traffic, resolved: peers[profile.name] ?? [], protected: protected(profile))
          entries.append(entry)
        }
      } else {
        var entry = PlanEntry(profile: profile, procRoot: settings.procRoot)
        entry.shaping = TrafficPlan.shaping(
          profile.traffic, resolved: peers[profile.name] ?? [], protected: protected(profile))
        entries.append(entry)
      }
    }
    switch output {
    case .text:
      for entry in entries { print(entry.text) }
    case .json:
      let data = try JSONSerialization.data(
        withJSONObject: entries.map(\.json), options: [.sortedKeys, .withoutEscapingSlashes])
      print(String(decoding: data, as: UTF8.self))
    }
    fflush(nil)
  }

  /// Each profile's peers as they resolve now: addresses as written, hostnames through the system
  /// resolver, pods through the API server (when one is configured).
  private func resolvePeers(_ profiles: [Profile], settings: KubeTargetsConfiguration) async -> [String:
    [ResolvedPeer]]
  {
    func resolve(_ pods: (any PodAddressSource)?) async -> [String: [ResolvedPeer]] {
      var result: [String: [ResolvedPeer]] = [:]
      for profile in profiles {
        guard let traffic = profile.traffic else { continue }
        let (peers, problems) = await PeerResolution.resolveOnce(
          traffic, hosts: SystemHostResolver(), pods: pods)
        for problem in problems { note("\(profile.name): \(problem)") }
        result[profile.name] = peers
      }
      return result
    }
    let needsAPI = profiles.contains { $0.traffic.map { PeerResolution.isDynamic($0) } ?? false }
    guard needsAPI, let api = try? settings.apiConfiguration() else { return await resolve(nil) }
    let logger = makeLogger()
    do {
      return try await KubeAPIClient.withClient(configuration: api, logger: logger) { client in
        await resolve(KubePodAddresses(client: client, logger: logger))
      }
    } catch {
      note("cannot reach the Kubernetes API for peer pods: \(error)")
      return await resolve(nil)
    }
  }

  /// `faultline: plan: MESSAGE` on stderr.
  private func note(_ message: String) {
    FileHandle.standardError.write(Data("faultline: plan: \(message)\n".utf8))
  }
}

/// One target of one profile, as `faultline plan` prints it.
private struct PlanEntry {
  var profile: Profile
  var pod: Pod?
  var netns: String
  var netnsInode: UInt64?
  /// How the traffic would be shaped with the peers resolved now (nil: none resolved yet).
  var shaping: TrafficShaping? = .wholeEgress

  init(profile: Profile, pod target: ResolvedPodTarget) {
    self.profile = profile
    self.pod = target.pod
    self.netns = target.namespace.path
    self.netnsInode = target.netnsInode
  }

  init(profile: Profile, procRoot: String) {
    self.profile = profile
    self.pod = nil
    let path = profile.target.namespace.path(procRoot: procRoot)
    self.netns = path ?? "current"
    var info = stat()
    if stat(path ?? "/proc/self/ns/net", &info) == 0 { self.netnsInode = UInt64(info.st_ino) }
  }

  var json: [String: Any] {
    var object: [String: Any] = [
      "profile": profile.name, "netns": netns, "interface": profile.target.interface,
      "fault": jsonObject(profile.fault.plainFields), "traffic": trafficSummary(profile.traffic),
    ]
    if let netnsInode { object["netnsInode"] = NSNumber(value: netnsInode) }
    if let pod {
      object["pod"] = pod.qualifiedName
      object["uid"] = pod.uid
    }
    if let traffic = profile.traffic { object["traffic"] = traffic.summary }
    if profile.traffic != nil || isShaped {
      object["faulted"] = matches(\.faulted)
      object["excluded"] = matches(\.excluded)
    }
    return object
  }

  var text: String {
    var parts = [profile.name]
    if let pod { parts.append("pod \(pod.qualifiedName) (uid \(pod.uid))") }
    var place = "\(profile.target.interface) in \(netns)"
    if let netnsInode { place += " (net:[\(netnsInode)])" }
    parts.append(place)
    parts.append(profile.fault.summary)
    if let traffic = profile.traffic { parts.append(traffic.summary) }
    if profile.traffic != nil || isShaped {
      let faulted = matches(\.faulted)
      parts.append(faulted.isEmpty ? "no peer resolved yet" : "faulted: " + faulted.joined(separator: ", "))
      let excluded = matches(\.excluded)
      if !excluded.isEmpty { parts.append("spared: " + excluded.joined(separator: ", ")) }
    }
    return parts.joined(separator: "  ")
  }

  /// Whether the fault goes through a prio tree (a selection, or the node spared).
  private var isShaped: Bool { shaping?.egress?.shape != nil || shaping?.ingress?.shape != nil }

  /// The flower matches of both directions, as text.
  private func matches(_ list: KeyPath<TrafficShape, [FlowMatch]>) -> [String] {
    let shapes = [shaping?.egress?.shape, shaping?.ingress?.shape].compactMap { $0 }
    return shapes.flatMap { shape in
      shape[keyPath: list].map {
        "\(shape.side == .source ? "from" : "to") \(FaultWindows.describeMatch($0))"
      }
    }
  }
}
