import Foundation
import Glibc

/// A `faultline run` child process whose log lines (stderr) are recorded with their arrival time.
///
/// Tracing is off (every `OTEL_*` variable is removed from its environment) and the annotation file goes
/// to a private path (`FAULTLINE_ANNOTATIONS`), so the benchmark never touches the machine's own.
final class Daemon {
  /// One log line and when the benchmark read it (seconds since 1970, CLOCK_REALTIME).
  struct Line: Sendable {
    /// Arrival time.
    var time: Double
    /// The text, without the newline.
    var text: String
  }

  private let process = Process()
  private let recorder: LineRecorder

  /// The child's PID.
  var pid: Int32 { process.processIdentifier }
  /// Whether it still runs.
  var isRunning: Bool { process.isRunning }

  /// Starts `binary run --profiles PROFILES --state-dir STATE` with `FAULTLINE_LOG_LEVEL=info`.
  init(binary: String, profiles: String, state: String, annotations: String) throws {
    var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OTEL_") }
    environment["FAULTLINE_LOG_LEVEL"] = "info"
    environment["FAULTLINE_ANNOTATIONS"] = annotations
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["run", "--profiles", profiles, "--state-dir", state]
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    let pipe = Pipe()
    process.standardError = pipe
    recorder = LineRecorder(pipe.fileHandleForReading)
    try process.run()
  }

  /// The lines read so far.
  var lines: [Line] { recorder.lines }

  /// All the log text so far (for error messages).
  var log: String { lines.map(\.text).joined(separator: "\n") }

  /// Sends SIGTERM and waits up to `seconds` for the exit; returns the exit status (nil: still running,
  /// then killed).
  @discardableResult
  func stop(seconds: Double = 20) -> Int32? {
    guard process.isRunning else { return process.terminationStatus }
    kill(pid, SIGTERM)
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning {
      kill(pid, SIGKILL)
      return nil
    }
    recorder.waitForEnd()
    return process.terminationStatus
  }

  deinit {
    if process.isRunning { kill(pid, SIGKILL) }
  }
}

/// Reads a pipe on a thread of its own and stamps each line with the time it arrived.
private final class LineRecorder: @unchecked Sendable {
  private let lock = NSLock()
  private var recorded: [Daemon.Line] = []
  private let finished = DispatchSemaphore(value: 0)

  init(_ handle: FileHandle) {
    let fd = handle.fileDescriptor
    let thread = Thread { [self] in
      var pending: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let time = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        pending.append(contentsOf: buffer[0..<n])
        while let newline = pending.firstIndex(of: 10) {
          let text = String(decoding: pending[..<newline], as: UTF8.self)
          pending.removeSubrange(...newline)
          lock.withLock { recorded.append(Daemon.Line(time: time, text: text)) }
        }
      }
      finished.signal()
    }
    thread.name = "bench-log-reader"
    thread.start()
  }

  var lines: [Daemon.Line] { lock.withLock { recorded } }

  /// Waits (at most 5 s) until the pipe reached end-of-file.
  func waitForEnd() { _ = finished.wait(timeout: .now() + 5) }
}

/// A log line of `faultline run` as swift-log's stream handler prints it:
/// `TIMESTAMP LEVEL LABEL: key=value … [MODULE] message`.
struct LogRecord {
  /// The message (after `[MODULE] `).
  var message: String
  /// `key=value` metadata whose values have no spaces.
  var metadata: [String: String]

  /// Parses `text`; nil when it has no `[MODULE] message` part.
  init?(_ text: String) {
    guard let close = text.range(of: "] ", options: .backwards) else { return nil }
    message = String(text[close.upperBound...])
    metadata = [:]
    for word in text[..<close.lowerBound].split(separator: " ") {
      guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { continue }
      metadata[String(word[..<equals])] = String(word[word.index(after: equals)...])
    }
  }
}
