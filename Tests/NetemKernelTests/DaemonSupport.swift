import AgentTestSupport
import Foundation

/// A fresh directory under the temporary directory.
func makeDirectory(_ prefix: String) throws -> String {
  let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Starts `faultline run`, its stderr (the logs) going to `log`.
func startDaemon(
  profiles: String, state: String, log: String, extra: [String] = [], environment: [String: String] = [:]
) throws -> Process {
  _ = FileManager.default.createFile(atPath: log, contents: nil)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: faultlineBinary)
  process.arguments =
    ["run", "--profiles", profiles, "--state-dir", state, "--annotations", state + "/annotations"] + extra
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle(forWritingAtPath: log)
  try process.run()
  return process
}
