import Foundation
import Glibc

/// `idle_rss_mib`, `idle_cpu_pct`: `faultline run` with three hourly profiles and nothing active.
///
/// The profiles fire once an hour, at minutes M, M+20 and M+40 with M half an hour from now (`@hourly`
/// is minute 0, which could fall inside the window; the three 5-minute windows on the one veth must not
/// overlap, which faultline refuses), so no window opens while it is measured. After a warm-up, the
/// process's CPU time (utime + stime from `/proc/PID/stat`, and the nanosecond run time of every
/// thread from `/proc/PID/task/*/schedstat`), its context switches (each one a wake-up) and VmRSS are
/// read at both ends of the window and VmRSS every second in between.
enum FootprintFigure {
  /// One reading of the process's counters.
  private struct Reading {
    /// utime + stime of the whole process, dead threads included (clock ticks).
    var ticks: Int = 0
    /// Per live thread: run time (ns, schedstat) and context switches (voluntary + involuntary).
    var threads: [String: (run: Int, switches: Int)] = [:]

    /// What the threads alive at `end` did since `self` (a thread that started in between counts in
    /// full; one that ended in between is missed, so this is a lower bound).
    func threadDelta(to end: Reading) -> (run: Int, switches: Int, started: Int) {
      var run = 0
      var switches = 0
      var started = 0
      for (tid, now) in end.threads {
        let before = threads[tid] ?? (0, 0)
        if threads[tid] == nil { started += 1 }
        run += now.run - before.run
        switches += now.switches - before.switches
      }
      return (run, switches, started)
    }
  }

  /// Runs `faultline run` for `warmup` + `seconds` seconds and measures the last `seconds`.
  static func measure(faultline: String, namespace: String, seconds: Int, warmup: Int = 5) async throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let root = NSTemporaryDirectory() + "faultline-bench-idle-\(getpid())"
    let profiles = root + "/profiles"
    let state = root + "/state"
    try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let minute = (calendar.component(.minute, from: Date()) + 30) % 60
    for (index, name) in ["idle-latency", "idle-loss", "idle-jitter"].enumerated() {
      let text = """
        name: \(name)
        schedule: "\((minute + 20 * index) % 60) * * * *"
        duration: 5m
        target:
          interface: \(BenchNamespaces.interface)
          netns: /run/netns/\(namespace)
        netem:
          delay: \(100 + 10 * index)ms
          loss: 1%

        """
      try text.write(toFile: "\(profiles)/\(name).yaml", atomically: true, encoding: .utf8)
    }
    let daemon = try Daemon(
      binary: faultline, profiles: profiles, state: state, annotations: root + "/annotations")
    defer { daemon.stop() }
    let pid = daemon.pid
    try await Task.sleep(for: .seconds(warmup))
    guard daemon.isRunning else { throw BenchError("faultline run exited early:\n\(daemon.log)") }
    let loaded = daemon.lines.filter { LogRecord($0.text)?.message == "profile loaded" }.count
    guard loaded == 3 else {
      throw BenchError("faultline run loaded \(loaded) of 3 profiles:\n\(daemon.log)")
    }

    let start = try reading(pid)
    let startTime = monotonicNanoseconds()
    var rss = Samples()
    for _ in 0..<seconds {
      try await Task.sleep(for: .seconds(1))
      if let value = statusField(pid, "VmRSS") { rss.append(Double(value) / 1024) }
    }
    let end = try reading(pid)
    let elapsed = Double(monotonicNanoseconds() - startTime) / 1e9
    let hwm = statusField(pid, "VmHWM").map { Double($0) / 1024 } ?? .nan
    guard daemon.isRunning else { throw BenchError("faultline run exited while measured:\n\(daemon.log)") }
    let linesLogged = daemon.lines.count
    let clockTicks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let cpuPercent = Double(end.ticks - start.ticks) / clockTicks / elapsed * 100
    let delta = start.threadDelta(to: end)
    let precisePercent = Double(delta.run) / 1e9 / elapsed * 100
    let wakeups = Double(delta.switches) / elapsed
    progress(
      "idle: RSS \(rounded(rss.values.last ?? .nan)) MiB, CPU \(rounded(precisePercent, 3)) % "
        + "(\(rounded(wakeups)) wake-ups/s, \(end.threads.count) threads, \(delta.started) started)")
    return (
      [
        "idle_rss_mib": rounded(rss.values.last ?? .nan), "idle_cpu_pct": rounded(cpuPercent, 3),
        "idle_cpu_pct_schedstat": rounded(precisePercent, 4), "idle_wakeups_per_s": rounded(wakeups, 2),
      ],
      [
        "method":
          "`faultline run` with 3 profiles scheduled hourly at minutes \(minute), +20, +40 (none fires "
          + "in the window), \(warmup) s warm-up, then \(seconds) s; CPU from /proc/PID/stat utime+stime "
          + "(\(Int(clockTicks)) Hz ticks, dead threads included) and from the schedstat run time (ns) "
          + "of the threads alive at the end (a lower bound); wake-ups = their voluntary + involuntary "
          + "context switches per second",
        "seconds": rounded(elapsed, 2), "rss_mib": rss.summary(), "vmhwm_mib": rounded(hwm),
        "threads_at_end": end.threads.count, "threads_started_in_window": delta.started,
        "cpu_ticks": end.ticks - start.ticks, "cpu_run_ms_live_threads": rounded(Double(delta.run) / 1e6, 3),
        "context_switches_live_threads": delta.switches, "log_lines_total": linesLogged,
        "binary": faultline,
      ]
    )
  }

  private static func reading(_ pid: Int32) throws -> Reading {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { throw BenchError("cannot read /proc/\(pid)/stat") }
    // The fields after "pid (comm) ": state is field 3 of the line, utime 14 and stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    var result = Reading()
    result.ticks = (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
      let base = "/proc/\(pid)/task/\(task)"
      guard let schedstat = try? String(contentsOfFile: base + "/schedstat", encoding: .utf8),
        let first = schedstat.split(separator: " ").first, let run = Int(first)
      else { continue }
      let switches =
        (field(base + "/status", "voluntary_ctxt_switches") ?? 0)
        + (field(base + "/status", "nonvoluntary_ctxt_switches") ?? 0)
      result.threads[task] = (run, switches)
    }
    return result
  }

  /// A numeric field of `/proc/PID/status` (in kB for memory fields).
  private static func statusField(_ pid: Int32, _ name: String) -> Int? {
    field("/proc/\(pid)/status", name)
  }

  private static func field(_ path: String, _ name: String) -> Int? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
      return Int(
        line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }
    return nil
  }
}
