import Foundation

/// What a program the tests ran printed, and how it ended.
struct ProgramResult {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// Runs `executable` with `arguments` to its end, reading both pipes while it runs (a DOM dump or a
/// report can exceed a pipe's buffer).
func runProgram(_ executable: String, _ arguments: [String]) throws -> ProgramResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let errData = Mutexed<Data>(Data())
  let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
  reader.start()
  let stdout = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  while !errData.done { Thread.sleep(forTimeInterval: 0.01) }
  return ProgramResult(
    status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
    stderr: String(decoding: errData.value, as: UTF8.self))
}
