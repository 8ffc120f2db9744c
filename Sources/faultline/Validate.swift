import ArgumentParser
import FaultAgent
import FaultModel
import Foundation

/// `faultline validate`: check profile files without touching the kernel.
struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check profile files (native or Chaos Mesh NetworkChaos/Schedule) without touching the kernel.",
    discussion: """
      Reads each FILE, and the *.yaml/*.yml files in each DIRECTORY (a mounted ConfigMap works), and \
      prints every problem as FILE:LINE:COLUMN: field.path: message. Exits 0 when all profiles are \
      valid, 1 when there is any problem, 2 when a path does not exist.

      Example: faultline validate profiles/
      """)

  @Argument(help: ArgumentHelp("Profile files or directories.", valueName: "PATH"))
  var paths: [String] = []

  @Option(help: "Output format: text (one issue per line) or json (a list of issues).")
  var output: OutputFormat = .text

  mutating func run() throws {
    guard !paths.isEmpty else {
      throw CLIError(
        message: "give at least one profile file or directory, e.g. faultline validate profiles/",
        code: CLIError.badInput)
    }
    for path in paths where !FileManager.default.fileExists(atPath: path) {
      throw CLIError(message: "\(path): no such file or directory", code: CLIError.badInput)
    }
    let result = ProfileFiles.load(paths: paths)
    switch output {
    case .text:
      for issue in result.issues { print(issue.description) }
      if result.issues.isEmpty {
        print(
          "ok: \(result.profiles.count) profile\(plural(result.profiles.count)) in "
            + "\(result.files.count) file\(plural(result.files.count))")
      }
    case .json:
      let list: [[String: Any]] = result.issues.map {
        ["file": $0.file, "line": $0.line, "column": $0.column, "field": $0.fieldPath, "message": $0.message]
      }
      if let data = try? JSONSerialization.data(withJSONObject: list, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
      }
    }
    fflush(nil)
    guard result.issues.isEmpty else {
      if output == .json { throw ExitCode(1) }
      throw CLIError(
        message: "\(result.issues.count) problem\(plural(result.issues.count)) in \(result.files.count) "
          + "file\(plural(result.files.count))", code: 1)
    }
  }
}

/// `s` unless `count` is 1.
func plural(_ count: Int) -> String { count == 1 ? "" : "s" }
