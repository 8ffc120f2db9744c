import Foundation

/// What a program a test ran printed, and how it ended.
public struct ProcessResult: Sendable {
  /// The exit status.
  public var status: Int32
  /// All it wrote to standard output.
  public var stdout: String
  /// All it wrote to standard error.
  public var stderr: String
}

/// Runs a command (through `/usr/bin/env`, so a name or a path) to completion, reading both pipes
/// while it runs so that a chatty child cannot block on a full pipe; `environment` replaces the
/// inherited one when given.
@discardableResult
public func runProcess(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = arguments
  if let environment { process.environment = environment }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let errBox = DataBox()
  let reader = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
  reader.start()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  waitForExit(process)
  while !errBox.done { Thread.sleep(forTimeInterval: 0.01) }
  return ProcessResult(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errBox.data, as: UTF8.self))
}

/// Data one thread sets once and another polls.
private final class DataBox: @unchecked Sendable {
  private let lock = NSLock()
  private var value = Data()
  private var finished = false
  var data: Data {
    get { lock.withLock { value } }
    set {
      lock.withLock {
        value = newValue
        finished = true
      }
    }
  }
  var done: Bool { lock.withLock { finished } }
}
