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
  try launchAgent(
    binary: faultlineBinary,
    arguments: ["run", "--profiles", profiles, "--state-dir", state, "--annotations", state + "/annotations"]
      + extra,
    log: log, environment: environment)
}
