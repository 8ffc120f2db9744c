import ArgumentParser
import FaultAgent
import FaultModel
import Foundation
import NetemKernel

/// `faultline revert`: remove faultline's qdisc from an interface, or everything in the journal.
struct Revert: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Remove faultline's netem qdisc (restoring a qdisc it replaced), or with --all every fault in the journal."
  )

  @Option(name: .long, help: "The interface.") var interface: String = "eth0"
  @OptionGroup var namespace: NamespaceOptions
  @Flag(help: "Revert every fault recorded in the journal (the DaemonSet's preStop hook).") var all = false
  @Option(name: .customLong("state-dir"), help: "Journal directory.") var stateDir: String = Journal
    .defaultDirectory
  @Option(help: "Output format.") var output: OutputFormat = .text

  mutating func run() async throws {
    let logger = makeLogger()
    let injector = Injector(
      kernel: NetemKernel(logger: logger), journal: Journal(directory: stateDir, logger: logger),
      logger: logger)
    if all {
      let results = await injector.revertJournaled(reason: .manual)
      var failed = 0
      for (entry, result) in results {
        switch result {
        case .success(let outcome):
          report(entry.target, outcome)
        case .failure(let error):
          failed += 1
          FileHandle.standardError.write(
            Data("faultline: \(entry.target): \(CLIError(error).message)\n".utf8))
        }
      }
      if results.isEmpty && output == .text {
        print("nothing to revert: the journal in \(stateDir) is empty")
      }
      if failed > 0 { throw CLIError(message: "\(failed) of \(results.count) reverts failed", code: 1) }
      return
    }
    let target = FaultTarget(interface: interface, namespace: namespace.namespace)
    let outcome = try await exitOnError { try await injector.revert(target: target, reason: .manual) }
    report(target, outcome)
  }

  private func report(_ target: FaultTarget, _ outcome: RevertOutcome) {
    switch output {
    case .text: print("\(target): \(describe(outcome))")
    case .json:
      printJSON(["interface": target.interface, "netns": "\(target.namespace)", "outcome": describe(outcome)])
    }
  }
}
