import Foundation
import Glibc

/// Runs programs the way every peer's agent ends up doing (fork + exec + wait for `tc`, `ip`,
/// `nsenter`), as cheaply as a caller can: `posix_spawn` (vfork + exec in glibc), no shell, no
/// pipes, the program's path resolved once up front, stdio on `/dev/null`.
///
/// This is the favourable case for the spawning side: Chaos Mesh adds gRPC hops and a shell, Pumba a
/// container start.
enum Spawn {
  /// The absolute path of `name` on `PATH`, or nil.
  static func which(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
    for dir in path.split(separator: ":") {
      let candidate = "\(dir)/\(name)"
      if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
  }

  /// The absolute path of `name`, or a ``BenchError`` saying which package to install.
  static func require(_ name: String, package: String = "iproute2") throws -> String {
    guard let path = which(name) else {
      throw BenchError("\(name) not found on PATH; install \(package) (apt-get install \(package))")
    }
    return path
  }

  /// Spawns `arguments` (the first an absolute path), waits, and returns the exit status (128 + N
  /// for a death by signal N; -1 when the spawn itself failed).
  static func run(_ arguments: [String]) -> Int32 {
    (try? timed(arguments))?.status ?? -1
  }

  /// Spawns `arguments` (the first an absolute path) with stdio on `/dev/null`, waits, and returns its
  /// exit status, wall-clock seconds and peak resident set size (from `wait4`).
  static func timed(_ arguments: [String]) throws -> (status: Int32, seconds: Double, maxRSSKiB: Int) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (fd, flags) in [(Int32(0), O_RDONLY), (1, O_WRONLY), (2, O_WRONLY)] {
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", flags, 0)
    }
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid = pid_t()
    let began = monotonicNanoseconds()
    guard posix_spawn(&pid, arguments[0], &actions, nil, argv, environ) == 0 else {
      throw BenchError("cannot spawn \(arguments[0])")
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
      if errno != EINTR { throw BenchError("wait4: \(errno)") }
    }
    let seconds = Double(monotonicNanoseconds() - began) / 1e9
    let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (code, seconds, Int(usage.ru_maxrss))
  }

  /// Runs `arguments` (resolved on `PATH`) to completion and returns its status and combined output;
  /// for setup and checks, never inside a timed loop.
  @discardableResult
  static func output(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
      stdin.fileHandleForWriting.write(Data(input.utf8))
      try? stdin.fileHandleForWriting.close()
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  /// Like ``output(_:input:)`` but throws unless the command exits 0.
  @discardableResult
  static func must(_ arguments: [String], input: String? = nil) throws -> String {
    let (status, text) = try output(arguments, input: input)
    guard status == 0 else {
      throw BenchError("\(arguments.joined(separator: " ")) exited \(status): \(text)")
    }
    return text
  }

  /// Spawns `arguments` once, untimed, and throws with its output unless it exits 0: the check run
  /// before a timed loop whose spawns discard their output.
  static func check(_ arguments: [String]) throws {
    try must(arguments)
  }
}
