import ArgumentParser
import ChaosAnnotations
import Foundation
import FaultAgent
import FaultModel
import KubeTargets

/// `--netns NAME|PATH` / `--pid PID`: where the interface lives.
struct NamespaceOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "Network namespace: a name under /run/netns, or a path such as /proc/PID/ns/net.",
      valueName: "NAME|PATH"))
  var netns: String?

  @Option(name: .long, help: "Use the network namespace of process PID.")
  var pid: Int32?

  mutating func validate() throws {
    if netns != nil && pid != nil { throw ValidationError("give either --netns or --pid, not both") }
    if let netns, netns.isEmpty { throw ValidationError("--netns is empty") }
    if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id, not \(pid)") }
  }

  var namespace: NetworkNamespaceRef {
    if let pid { return .pid(pid) }
    if let netns { return NetworkNamespaceRef(netnsArgument: netns) }
    return .current
  }
}

/// `--output text|json`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}

/// `--annotations FILE` and `--annotation-compat-key KEY`: the file app middleware reads.
struct AnnotationOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Annotation file app middleware reads (default: $FAULTLINE_ANNOTATIONS or /var/run/faultline/annotations).",
      valueName: "FILE"))
  var annotations: String = AnnotationWriter.defaultPath

  @Option(
    name: .customLong("annotation-compat-key"),
    help: ArgumentHelp(
      "Extra key carrying the experiment name(s), e.g. chaos-mesh.org/experiment.", valueName: "KEY"))
  var annotationCompatKey: String?

  /// The compat key is written before `=` unquoted, as kubelet writes keys, so it must be a
  /// Kubernetes annotation key: anything else could break the file's lines for every reader. Called
  /// first in `run()` (not `validate()`, whose errors ArgumentParser exits with its own code), so a
  /// bad key exits 2 before anything changes.
  func checkCompatKey() throws {
    if let key = annotationCompatKey, !AnnotationFormat.isValidKey(key) {
      throw CLIError(
        message: "--annotation-compat-key \"\(key)\" is not a Kubernetes annotation key; use an optional "
          + "DNS prefix and a name of letters, digits, '-', '_' and '.', e.g. chaos-mesh.org/experiment",
        code: CLIError.badInput)
    }
  }

  /// The writer of that file.
  var writer: AnnotationWriter { AnnotationWriter(path: annotations, compatKey: annotationCompatKey) }
}

/// `--kube-api`, `--node-name`, `--proc-root`: where pods are listed and how they are reached.
struct KubeOptions: ParsableArguments {
  @Option(
    name: .customLong("kube-api"),
    help: ArgumentHelp(
      "Kubernetes API URL (http:// allowed); default: in-cluster service account.", valueName: "URL"))
  var kubeAPI: String?

  @Option(
    name: .customLong("node-name"),
    help: ArgumentHelp(
      "This node's name, for profiles that target pods (default: $NODE_NAME).", valueName: "N"))
  var nodeName: String?

  @Option(
    name: .customLong("proc-root"),
    help: ArgumentHelp("Where the node's processes are (the host's /proc in a DaemonSet).", valueName: "DIR"))
  var procRoot: String = "/proc"

  /// The settings these flags (and `NODE_NAME`) give.
  var configuration: KubeTargetsConfiguration {
    KubeTargetsConfiguration(kubeAPI: kubeAPI, nodeName: nodeName, procRoot: procRoot)
  }
}

/// `--to`, `--direction`, `--port`, `--protocol`, `--exclude`, `--exclude-port`: which traffic of the
/// interface the fault applies to (FaultModel's `TrafficSelector(flags:)` parses and checks them).
struct TrafficOptions: ParsableArguments {
  @Option(
    name: .customLong("to"),
    help: ArgumentHelp(
      "Fault only traffic with this peer: a CIDR, an address, or a host name with optional ports "
        + "(re-resolved while the fault holds). Repeatable.",
      valueName: "CIDR|ADDRESS|HOST[:PORT]"))
  var peers: [String] = []

  @Option(
    help: ArgumentHelp(
      "egress (to the peers, default), ingress (from the peers) or both.", valueName: "egress|ingress|both"))
  var direction: String?

  @Option(
    name: .customLong("port"),
    help: ArgumentHelp(
      "Fault only this peer port or range (TCP and UDP unless --protocol). Repeatable.",
      valueName: "P|LOW-HIGH"))
  var ports: [String] = []

  @Option(
    name: .customLong("protocol"),
    help: ArgumentHelp(
      "Fault only this protocol (icmp means ICMPv6 for IPv6 peers).", valueName: "tcp|udp|icmp|any"))
  var transport: String?

  @Option(
    name: .customLong("exclude"),
    help: ArgumentHelp("Never fault traffic with this CIDR or address. Repeatable.", valueName: "CIDR"))
  var excludedPeers: [String] = []

  @Option(
    name: .customLong("exclude-port"),
    help: ArgumentHelp("Never fault this peer port or range. Repeatable.", valueName: "P|LOW-HIGH"))
  var excludedPorts: [String] = []

  /// The selection, or nil when no traffic flag is given; a bad flag is a `CLIError` with exit code 2.
  func selector() throws -> TrafficSelector? {
    let flags = TrafficFlags(
      to: peers, direction: direction, ports: ports, transport: transport, exclude: excludedPeers,
      excludePorts: excludedPorts)
    do {
      return try TrafficSelector(flags: flags)
    } catch {
      throw CLIError(message: error.description, code: CLIError.badInput)
    }
  }
}

/// `--node-ip IP` (repeatable, default `HOST_IP`): the node's own addresses, never faulted, so kubelet
/// probes keep passing.
struct NodeIPOptions: ParsableArguments {
  @Option(
    name: .customLong("node-ip"),
    help: ArgumentHelp(
      "The node's own IP(s), never faulted (kubelet probes come from there); repeatable. "
        + "Default: $HOST_IP (the Downward API's status.hostIP).", valueName: "IP"),
    transform: ArgumentValues.prefix)
  var nodeIPs: [IPPrefix] = []

  /// `--node-ip`, else `HOST_IP`, as prefixes.
  func protectedPrefixes() throws -> [IPPrefix] {
    guard nodeIPs.isEmpty else { return nodeIPs }
    guard let host = ProcessInfo.processInfo.environment["HOST_IP"], !host.isEmpty else { return [] }
    do { return [try IPPrefix(parsing: host)] } catch {
      throw CLIError(message: "HOST_IP: \(error)", code: CLIError.badInput)
    }
  }
}
