import ArgumentParser
import FaultAgent
import FaultModel
import Foundation

/// `faultline schedule`: the next fire times of a schedule or of a profile's schedule.
struct ScheduleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "schedule",
    abstract: "Print the next fire times of a schedule expression or a profile's schedule, in UTC.",
    discussion: """
      EXPR is a 5-field cron expression ("*/10 9-17 * * MON-FRI"), a macro (@yearly, @monthly, @weekly, \
      @daily, @hourly) or "@every <duration>" (counted from --from). PROFILE is a profile file (or \
      directory); its schedule and time zone are used, --name picks the profile when there are several. \
      Prints one RFC 3339 UTC timestamp per line.

      Example: faultline schedule "0 9 * * MON-FRI" --timezone Europe/Berlin --count 3
      """)

  @Argument(help: ArgumentHelp("A schedule expression or a profile file.", valueName: "EXPR|PROFILE"))
  var expression: String

  @Option(help: "How many fire times to print (1-10000).") var count: Int = 10

  @Option(
    help: ArgumentHelp("Start after this RFC 3339 time (default: now).", valueName: "TIME"),
    transform: ArgumentValues.rfc3339)
  var from: Date?

  @Option(
    help: ArgumentHelp(
      "Evaluate cron fields in this time zone (default: the profile's, else UTC).", valueName: "TZ"),
    transform: ArgumentValues.timeZone)
  var timezone: TimeZone?

  @Option(help: "The profile to use when PROFILE holds several.") var name: String?

  func validate() throws {
    guard (1...10_000).contains(count) else {
      throw ValidationError("--count must be from 1 to 10000, not \(count)")
    }
  }

  mutating func run() throws {
    let start = from ?? Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
    var zone = timezone ?? TimeZone(identifier: "UTC")!

    let schedule: Schedule
    if FileManager.default.fileExists(atPath: expression) {
      let profile = try profile(at: expression)
      guard let profileSchedule = profile.schedule else {
        throw CLIError(
          message: "profile \"\(profile.name)\" has no schedule: it starts once, when the agent starts",
          code: 1)
      }
      schedule = profileSchedule
      if timezone == nil { zone = profile.timeZone }
    } else {
      guard name == nil else {
        throw CLIError(message: "--name needs a profile file, not an expression", code: CLIError.badInput)
      }
      do {
        schedule = try Schedule(parsing: expression)
      } catch {
        let looksLikePath =
          expression.contains("/") && !expression.contains(" ")
          || expression.hasSuffix(".yaml") || expression.hasSuffix(".yml")
        let message =
          looksLikePath
          ? "\(expression): no such file or directory" : "invalid schedule: \(error.description)"
        throw CLIError(message: message, code: CLIError.badInput)
      }
    }

    let fires = schedule.fires(after: start, anchor: start, timeZone: zone, count: count)
    for fire in fires { print(formatRFC3339(fire)) }
    fflush(nil)
    if fires.isEmpty {
      throw CLIError(message: "\(schedule) never fires after \(formatRFC3339(start))", code: 1)
    }
  }

  /// The one profile at `path` (or the one called --name).
  private func profile(at path: String) throws -> Profile {
    let result = ProfileFiles.load(paths: [path])
    if !result.issues.isEmpty {
      for issue in result.issues { FileHandle.standardError.write(Data("\(issue)\n".utf8)) }
      throw CLIError(message: "\(path) has problems; see faultline validate", code: 1)
    }
    let names = result.profiles.map(\.name).joined(separator: ", ")
    if let name {
      guard let match = result.profiles.first(where: { $0.name == name }) else {
        throw CLIError(
          message: "no profile \"\(name)\" in \(path); profiles there: \(names)", code: CLIError.badInput)
      }
      return match
    }
    guard result.profiles.count == 1 else {
      let message =
        result.profiles.isEmpty
        ? "no profiles in \(path)"
        : "\(path) holds \(result.profiles.count) profiles (\(names)); pick one with --name"
      throw CLIError(message: message, code: CLIError.badInput)
    }
    return result.profiles[0]
  }
}
