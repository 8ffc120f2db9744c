import AgentTestSupport
import Foundation
import Testing

/// `faultline run` on the real kernel: scheduled windows, graceful shutdown, crash recovery.
extension RealKernel {
  @Suite struct RealKernelDaemonTests {
    private func profile(
      _ name: String, netns: String, schedule: String? = nil, duration: String? = nil,
      netem: String = "delay: 50ms"
    ) -> String {
      var text = "name: \(name)\n"
      if let schedule { text += "schedule: \"\(schedule)\"\n" }
      if let duration { text += "duration: \(duration)\n" }
      text += "target:\n  interface: va\n  netns: \(netns)\nnetem:\n"
      for line in netem.split(separator: ";") { text += "  \(line.trimmingCharacters(in: .whitespaces))\n" }
      return text
    }

    private func hasNetem(_ net: TestNetwork) -> Bool {
      (try? net.tcShow().contains("netem")) ?? false
    }

    @Test func scheduledWindowsApplyForTheirDurationAndSigtermRevertsAndExitsZero() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-profiles")
      let state = try makeDirectory("fl-state")
      try profile("every10", netns: net.pathA, schedule: "@every 10s", duration: "4s")
        .write(toFile: profiles + "/every10.yaml", atomically: true, encoding: .utf8)
      let log = state + "/daemon.log"
      let daemon = try startDaemon(profiles: profiles, state: state, log: log)
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

      // Sample the qdisc every 100 ms; record each run of samples with netem present.
      let start = Date()
      var windows: [(start: Double, end: Double?)] = []
      var wasPresent = false
      // ~35 s of schedule after the binary is up (its start-up takes 2-3 s under TCG).
      while Date().timeIntervalSince(start) < 40 {
        let present = hasNetem(net)
        let t = Date().timeIntervalSince(start)
        if present && !wasPresent { windows.append((t, nil)) }
        if !present && wasPresent { windows[windows.count - 1].end = t }
        wasPresent = present
        Thread.sleep(forTimeInterval: 0.1)
      }
      let closed = windows.compactMap { w in w.end.map { (start: w.start, length: $0 - w.start) } }
      print(
        "measured: windows (start s, length s) = "
          + closed.map { String(format: "(%.2f, %.2f)", $0.start, $0.length) }.joined(separator: ", ")
          + (windows.last?.end == nil && !windows.isEmpty ? " + one still open" : ""))

      kill(daemon.processIdentifier, SIGTERM)
      waitForExit(daemon, seconds: 20)
      let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      #expect(!daemon.isRunning)
      #expect(daemon.terminationStatus == 0, "\(logText)")
      #expect(!hasNetem(net), "netem left after SIGTERM")

      // Effects and order only: TCG on a busy machine stretches time by seconds, so the exact
      // timing is printed above (and measured in `make bench`); the clock-driven in-process tests
      // (FaultAgentTests) check the scheduling logic exactly.
      #expect(closed.count >= 2, "\(logText)")
      for window in closed {
        #expect(
          window.length > 0.5 && window.length < 10, "a window must close on its own: \(window.length) s")
      }
      for (a, b) in zip(closed, closed.dropFirst()) {
        #expect(b.start - a.start > 4, "the next window opens after the previous one closed")
      }
      #expect(logText.contains("fire"))
      #expect(logText.contains("duration_elapsed"))
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
    }

    @Test func aRestartedDaemonRevertsTheFaultItsKilledPredecessorLeft() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-profiles")
      let empty = try makeDirectory("fl-empty")
      let state = try makeDirectory("fl-state")
      try profile("held", netns: net.pathA)
        .write(toFile: profiles + "/held.yaml", atomically: true, encoding: .utf8)

      let first = try startDaemon(profiles: profiles, state: state, log: state + "/first.log")
      defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
      let deadline = Date().addingTimeInterval(20)
      while Date() < deadline, !hasNetem(net) { Thread.sleep(forTimeInterval: 0.1) }
      #expect(hasNetem(net))
      kill(first.processIdentifier, SIGKILL)
      waitForExit(first)
      #expect(hasNetem(net), "the orphan should still be there after SIGKILL")

      let started = Date()
      let second = try startDaemon(profiles: empty, state: state, log: state + "/second.log")
      defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
      let reconcileDeadline = Date().addingTimeInterval(60)
      while Date() < reconcileDeadline, hasNetem(net) { Thread.sleep(forTimeInterval: 0.05) }
      let reconcile = Date().timeIntervalSince(started)
      // Includes the binary's start-up; printed, not asserted (see make bench).
      print(String(format: "measured: reconcile after restart took %.2f s", reconcile))
      #expect(!hasNetem(net), "the orphan was not reverted within 60 s")

      kill(second.processIdentifier, SIGTERM)
      waitForExit(second, seconds: 20)
      let logText = (try? String(contentsOfFile: state + "/second.log", encoding: .utf8)) ?? ""
      #expect(!second.isRunning)
      #expect(second.terminationStatus == 0, "\(logText)")
      #expect(logText.contains("crash_recovery"))
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
    }
    @Test func aSecondAgentOnTheSameStateDirectoryExitsAtOnceNamingTheFirst() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-profiles")
      let state = try makeDirectory("fl-state")
      try profile("held", netns: net.pathA)
        .write(toFile: profiles + "/held.yaml", atomically: true, encoding: .utf8)
      let first = try startDaemon(profiles: profiles, state: state, log: state + "/first.log")
      defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
      #expect(waitFor(30) { hasNetem(net) } != nil)

      let second = try startDaemon(profiles: profiles, state: state, log: state + "/second.log")
      defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
      waitForExit(second, seconds: 30)
      let secondLog = (try? String(contentsOfFile: state + "/second.log", encoding: .utf8)) ?? ""
      #expect(!second.isRunning)
      #expect(second.terminationStatus == 8, "\(secondLog)")
      #expect(secondLog.contains("pid \(first.processIdentifier)"), "\(secondLog)")
      #expect(hasNetem(net), "the second agent must not touch the first one's fault")

      kill(first.processIdentifier, SIGTERM)
      waitForExit(first, seconds: 20)
      #expect(first.terminationStatus == 0)
      #expect(!hasNetem(net))
    }

    @Test func editingAProfileReappliesItAnInvalidEditKeepsItAndRemovingItReverts() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-profiles")
      let state = try makeDirectory("fl-state")
      let file = profiles + "/held.yaml"
      try profile("held", netns: net.pathA, netem: "delay: 50ms; loss: 5%; duplicate: 1%")
        .write(toFile: file, atomically: true, encoding: .utf8)
      let log = state + "/daemon.log"
      let daemon = try startDaemon(profiles: profiles, state: state, log: log)
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

      let tc = { (try? net.tcShow()) ?? "" }
      #expect(waitFor(20) { tc().contains("delay 50ms loss 5% duplicate 1%") } != nil, "\(tc())")

      // Edit the fault alone: replaced in place (the qdisc never goes away), nothing stale left.
      try profile("held", netns: net.pathA, netem: "delay: 80ms")
        .write(toFile: file, atomically: true, encoding: .utf8)
      var gaps = 0
      let changed = waitFor(10) {
        let line = tc()
        if !line.contains("netem") { gaps += 1 }
        return line.contains("delay 80ms")
      }
      print(
        "measured: edit re-applied in place after \(changed.map { String(format: "%.2f s", $0) } ?? "never")")
      #expect(changed != nil, "\(tc())")
      #expect(gaps == 0, "the qdisc disappeared during an in-place change")
      #expect(!tc().contains("loss") && !tc().contains("duplicate"), "stale parameters: \(tc())")

      try (profile("held", netns: net.pathA) + "  bogus: 1\n").write(
        toFile: file, atomically: true, encoding: .utf8)
      Thread.sleep(forTimeInterval: 3)
      #expect(tc().contains("delay 80ms"), "an invalid edit must keep the last good version")
      let afterInvalid = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      #expect(afterInvalid.contains("held.yaml:"), "\(afterInvalid)")

      try FileManager.default.removeItem(atPath: file)
      let removed = waitFor(10) { !tc().contains("netem") }
      print("measured: removal reverted after \(removed.map { String(format: "%.2f s", $0) } ?? "never")")
      #expect(removed != nil)

      kill(daemon.processIdentifier, SIGTERM)
      waitForExit(daemon, seconds: 20)
      let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      #expect(!daemon.isRunning)
      #expect(daemon.terminationStatus == 0, "\(logText)")
      #expect(logText.contains("profile_removed"))
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
    }

    @Test func aConfigMapStyleSymlinkSwapIsAReload() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let profiles = try makeDirectory("fl-configmap")
      let state = try makeDirectory("fl-state")
      // kubelet's layout: ..<timestamp>/file, ..data -> ..<timestamp>, file -> ..data/file.
      func version(_ name: String, delay: String) throws {
        try FileManager.default.createDirectory(
          atPath: "\(profiles)/\(name)", withIntermediateDirectories: true)
        try profile("cm", netns: net.pathA, netem: "delay: \(delay)")
          .write(toFile: "\(profiles)/\(name)/cm.yaml", atomically: true, encoding: .utf8)
      }
      try version("..2026_11_29_a", delay: "30ms")
      try FileManager.default.createSymbolicLink(
        atPath: profiles + "/..data", withDestinationPath: "..2026_11_29_a")
      try FileManager.default.createSymbolicLink(
        atPath: profiles + "/cm.yaml", withDestinationPath: "..data/cm.yaml")
      let log = state + "/daemon.log"
      let daemon = try startDaemon(profiles: profiles, state: state, log: log)
      defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
      let tc = { (try? net.tcShow()) ?? "" }
      #expect(waitFor(20) { tc().contains("delay 30ms") } != nil, "\(tc())")

      try version("..2026_11_29_b", delay: "70ms")
      try FileManager.default.createSymbolicLink(
        atPath: profiles + "/..data_tmp", withDestinationPath: "..2026_11_29_b")
      #expect(rename(profiles + "/..data_tmp", profiles + "/..data") == 0)
      try FileManager.default.removeItem(atPath: profiles + "/..2026_11_29_a")
      let swapped = waitFor(10) { tc().contains("delay 70ms") }
      print(
        "measured: ConfigMap swap applied after \(swapped.map { String(format: "%.2f s", $0) } ?? "never")")
      #expect(swapped != nil, "\(tc())")

      kill(daemon.processIdentifier, SIGTERM)
      waitForExit(daemon, seconds: 20)
      #expect(daemon.terminationStatus == 0)
      #expect(!hasNetem(net))
    }
  }
}
