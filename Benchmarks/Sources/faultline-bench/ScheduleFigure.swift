import FaultModel
import Foundation

/// `schedule_error_p99_ms`: how late `faultline run` opens and closes `@every 2s` windows of 1 s.
///
/// The real daemon runs (a child process) with one profile on a veth in another namespace. Its own log
/// says when each window was due (`next window at=…`, millisecond RFC 3339); the benchmark stamps every
/// log line as it arrives on the pipe. A window's start error is the arrival of `injected` (logged
/// after the kernel read-back, so the fault is in place) minus its due time; its end error the arrival
/// of `reverted` (reason `duration_elapsed`) minus due time + 1 s. `fire` (the timer waking up) is
/// reported apart, to separate timer lateness from apply time.
enum ScheduleFigure {
  /// Runs the daemon for `seconds` and measures every complete window.
  static func measure(faultline: String, namespace: String, seconds: Int, kernel: KernelFigures) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let root = NSTemporaryDirectory() + "faultline-bench-schedule-\(getpid())"
    let profiles = root + "/profiles"
    try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let name = "bench-every-2s"
    let length = 1.0
    try """
    name: \(name)
    schedule: "@every 2s"
    duration: 1s
    target:
      interface: \(BenchNamespaces.interface)
      netns: /run/netns/\(namespace)
    netem:
      delay: 100ms
      jitter: 10ms
      correlation: 25%
      loss: 1%

    """.write(toFile: "\(profiles)/\(name).yaml", atomically: true, encoding: .utf8)
    let daemon = try Daemon(
      binary: faultline, profiles: profiles, state: root + "/state", annotations: root + "/annotations")
    try await Task.sleep(for: .seconds(seconds))
    let status = daemon.stop()
    let after = try kernel.tcShow(namespace)
    guard status == 0 else {
      throw BenchError("faultline run exited \(status.map(String.init) ?? "-"):\n\(daemon.log)")
    }
    guard !after.contains("netem") else {
      throw BenchError("netem left after SIGTERM: \(after)\n\(daemon.log)")
    }

    // The agent announces the next window's due time as soon as the schedule moves past the open one,
    // which can be before that window's revert is logged: each window keeps the due time it fired at.
    var due: Double?
    var windowDue: Double?
    var wake = Samples()
    var start = Samples()
    var end = Samples()
    var failures = 0
    var skipped = 0
    for line in daemon.lines {
      guard let record = LogRecord(line.text) else { continue }
      switch record.message {
      case "next window":
        due = record.metadata["at"].flatMap(parseRFC3339).map(\.timeIntervalSince1970)
      case "fire":
        windowDue = due
        if let due { wake.append((line.time - due) * 1000) }
      case "injected" where record.metadata["experiment"] == name:
        if let windowDue { start.append((line.time - windowDue) * 1000) }
      // The agent's line (after the window closed), not the injector's (which names the experiment).
      case "reverted"
      where record.metadata["reason"] == "duration_elapsed" && record.metadata["profile"] == name:
        if let windowDue { end.append((line.time - windowDue - length) * 1000) }
        windowDue = nil
      case "apply failed", "revert failed":
        failures += 1
      case let message where message.hasPrefix("fire skipped"):
        skipped += 1
      default:
        break
      }
    }
    guard start.count >= 2, end.count >= 2, failures == 0 else {
      throw BenchError(
        "expected complete windows without failures, got \(start.count) starts, \(end.count) ends, "
          + "\(failures) failures:\n\(daemon.log)")
    }
    var both = start
    both.append(contentsOf: end)
    // The same without the first window, whose apply is the process's first (cold caches, lazy
    // initialisation): what a long-running agent shows.
    var warm = Samples(Array(start.values.dropFirst()))
    warm.append(contentsOf: Samples(Array(end.values.dropFirst())))
    progress(
      "schedule: \(start.count) windows, start p99 \(rounded(start.p99)) ms, end p99 \(rounded(end.p99)) ms, "
        + "timer wake p99 \(rounded(wake.p99)) ms")
    return (
      [
        "schedule_error_p99_ms": rounded(both.p99), "schedule_start_p99_ms": rounded(start.p99),
        "schedule_end_p99_ms": rounded(end.p99), "schedule_wake_p99_ms": rounded(wake.p99),
        "schedule_error_p99_warm_ms": rounded(warm.p99),
      ],
      [
        "method":
          "`faultline run` with one `@every 2s` / `duration: 1s` profile on a veth in another netns for "
          + "\(seconds) s; due times from its `next window at=` log, events stamped on arrival of the log "
          + "line; start = `injected` (after read-back) - due; end = `reverted` (duration_elapsed) - "
          + "(due + 1 s); wake = `fire` - due; error = start and end together",
        "windows": start.count, "skipped_fires": skipped, "start_ms": start.summary(digits: 2),
        "end_ms": end.summary(digits: 2), "wake_ms": wake.summary(digits: 2),
        "error_ms": both.summary(digits: 2), "error_without_first_window_ms": warm.summary(digits: 2),
        "first_window_ms": [
          "start": rounded(start.values.first ?? .nan, 2), "end": rounded(end.values.first ?? .nan, 2),
        ],
      ]
    )
  }
}
