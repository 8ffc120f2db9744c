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

/// Polls `condition` every 20 ms for up to `seconds`; the time it took, or nil.
func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Double? {
  let start = Date()
  while Date().timeIntervalSince(start) < seconds {
    if condition() { return Date().timeIntervalSince(start) }
    Thread.sleep(forTimeInterval: 0.02)
  }
  return nil
}
