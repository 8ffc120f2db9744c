import ArgumentParser
import FaultAgent
import FaultModel
import Foundation
import NetemKernel

/// `faultline status`: the root qdisc of every interface, and the journal.
struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show each interface's root qdisc (faultline's netem decoded) in a network namespace.")

  @OptionGroup var namespace: NamespaceOptions
  @Option(help: "Output format.") var output: OutputFormat = .text

  mutating func run() async throws {
    let kernel = NetemKernel(logger: makeLogger())
    let (identity, interfaces) = try await exitOnError { try await kernel.status(in: namespace.namespace) }
    switch output {
    case .text:
      print("netns \(identity)")
      for item in interfaces {
        guard let root = item.root else {
          print("  \(item.interface): no qdisc")
          continue
        }
        let owner = root.isFaultline ? "faultline" : root.isKernelDefault ? "kernel default" : "foreign"
        var line = "  \(item.interface): \(root.summary) root (\(owner))"
        if let netem = item.netem { line += " \(netem.tcDescription)" }
        print(line)
      }
    case .json:
      let list: [[String: Any]] = interfaces.map { item in
        var object: [String: Any] = ["interface": item.interface, "ifindex": Int(item.ifindex)]
        if let root = item.root {
          object["qdisc"] = root.kind
          object["handle"] = formatHandle(root.handle)
          object["faultline"] = root.isFaultline
        }
        if let netem = item.netem {
          object["netem"] = jsonObject(netem.fault.plainFields)
          object["tc"] = netem.tcDescription
        }
        return object
      }
      printJSON(["netns": identity.path, "netns_inode": Int(identity.inode), "interfaces": list])
    }
  }
}
