import Foundation

/// Starts the built `faultline` binary (`binary`) with `arguments`, as the VM suites run the agent:
/// stdout discarded, stderr (its logs, at info level unless `environment` says otherwise) appended
/// to `log`, which is created empty.
public func launchAgent(
  binary: String, arguments: [String], log: String, environment: [String: String] = [:]
) throws -> Process {
  _ = FileManager.default.createFile(atPath: log, contents: nil)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: binary)
  process.arguments = arguments
  process.environment = ProcessInfo.processInfo.environment
    .merging(["FAULTLINE_LOG_LEVEL": "info"]) { $1 }
    .merging(environment) { $1 }
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle(forWritingAtPath: log)
  try process.run()
  return process
}

/// Waits (polling, at most `seconds`) for a process to exit; Foundation's `waitUntilExit` can hang
/// off the main thread on Linux.
public func waitForExit(_ process: Process, seconds: Double = 30) {
  let deadline = Date().addingTimeInterval(seconds)
  while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
}
