import Foundation

/// A process by its pid and its start time in clock ticks since boot (field 22 of
/// `/proc/PID/stat`). A pid alone is reused: by any later process, and in a container by the
/// restarted agent itself, which is pid 1 again.
public struct ProcessIdentity: Hashable, Sendable {
  /// The pid, in this process's pid namespace.
  public var pid: Int32
  /// Its start time, clock ticks since boot.
  public var startTime: UInt64

  /// A process.
  public init(pid: Int32, startTime: UInt64) {
    self.pid = pid
    self.startTime = startTime
  }

  /// This process.
  public static let current = ProcessIdentity(pid: getpid(), startTime: startTime(of: getpid()) ?? 0)

  /// The start time of `pid`; nil when no such process runs.
  public static func startTime(of pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
  }

  /// Whether this process still runs: one with its pid and its start time.
  public var isRunning: Bool { Self.startTime(of: pid) == startTime }
}
