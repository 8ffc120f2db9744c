import ArgumentParser
import FaultModel

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
