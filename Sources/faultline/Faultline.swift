import ArgumentParser
import Glibc
import Foundation

/// The `faultline` command.
struct Faultline: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "faultline",
    abstract: "Network faults (netem) over netlink, for Linux and Kubernetes.",
    discussion: """
      faultline applies netem faults (delay, loss, duplication, corruption, reordering, rate limits) to \
      network interfaces through netlink — no `tc` processes — in any network namespace, records them in a \
      crash-safe journal, and reverts them when they end.
      """,
    version: faultlineVersion,
    subcommands: [
      Inject.self, Revert.self, Status.self, Validate.self, ScheduleCommand.self, Run.self, Plan.self,
      Analyze.self,
    ]
  )
}

/// The release version.
let faultlineVersion = "0.1.0"

extension Faultline {
  /// `AsyncParsableCommand.main()`, with faultline's error mapping. (Called from top-level code,
  /// `main()` would resolve to the synchronous overload; inside an async function the async `run()` wins.)
  static func runMain() async {
    do {
      var command = try await asyncParseAsRoot()
      if var asyncCommand = command as? AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
    } catch let error as CLIError {
      FileHandle.standardError.write(Data("faultline: \(error.message)\n".utf8))
      Glibc.exit(error.code)
    } catch  where exitCode(for: error) == .validationFailure {
      // A bad flag or value is bad input like any other: exit 2, not argument-parser's 64.
      FileHandle.standardError.write(Data("\(fullMessage(for: error))\n".utf8))
      Glibc.exit(CLIError.badInput)
    } catch {
      exit(withError: error)
    }
  }
}
