import AgentTestSupport
import Foundation
import Testing

/// The `faultline` binary on the real kernel: exit codes, messages, read-back, journal.
extension RealKernel {
  @Suite struct RealKernelCLITests {
    private func faultline(_ arguments: [String]) throws -> ProcessResult {
      try run([faultlineBinary] + arguments)
    }

    @Test func injectPrintsTheReadBackHoldsForTheDurationAndReverts() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let state = NSTemporaryDirectory() + "fl-state-\(UUID().uuidString)"
      let start = Date()
      let result = try faultline([
        "inject", "--netns", net.a, "--interface", "va", "--delay", "100ms", "--jitter", "10ms",
        "--correlation", "25%",
        "--loss", "5%", "--duration", "2s", "--state-dir", state, "--annotations", state + "/annotations",
      ])
      print(result.stdout)
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout.contains("qdisc netem fa17: root limit 1000 delay 100ms  10ms 25% loss 5%"))
      #expect(result.stdout.contains("reverted va (duration_elapsed)"))
      #expect(Date().timeIntervalSince(start) >= 2)
      #expect(try !net.tcShow().contains("netem"))
      #expect(try FileManager.default.contentsOfDirectory(atPath: state + "/active").isEmpty)
      #expect(
        try String(contentsOfFile: state + "/annotations", encoding: .utf8)
          == "chaos.experiment/active=\"false\"\n")
    }

    @Test(arguments: [
      (
        ["--interface", "nope", "--delay", "10ms"], Int32(4), "interface nope not found in netns /run/netns/"
      ),
      (
        ["--netns", "/run/netns/missing", "--delay", "10ms"], Int32(4),
        "network namespace /run/netns/missing not found"
      ),
      (["--jitter", "10ms"], Int32(2), "jitter needs a delay"),
      (["--delay", "10"], Int32(2), "has no unit"),
      (["--loss", "150%"], Int32(2), "outside 0–100%"),
      (["--delay", "10ms", "--distribution", "gauss"], Int32(2), "'gauss' is invalid for '--distribution"),
      ([], Int32(2), "no fault given"),
    ])
    func badInputExitsNonZeroWithAMessageAndChangesNothing(arguments: [String], code: Int32, message: String)
      throws
    {
      let net = try TestNetwork()
      defer { net.close() }
      var args = ["inject", "--duration", "1s", "--state-dir", NSTemporaryDirectory() + "fl-bad"]
      if !arguments.contains("--netns") { args += ["--netns", net.a] }
      if !arguments.contains("--interface") { args += ["--interface", "va"] }
      let before = try net.tcShow()
      let result = try faultline(args + arguments)
      #expect(result.status == code, "\(result.stderr)")
      #expect(result.stderr.contains(message), "\(result.stderr)")
      #expect(try net.tcShow() == before)
    }

    @Test func pidTargetsTheProcesssNamespace() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let sleeper = Process()
      sleeper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      sleeper.arguments = ["ip", "netns", "exec", net.a, "sleep", "60"]
      try sleeper.run()
      Thread.sleep(forTimeInterval: 0.5)
      let pid = sleeper.processIdentifier
      let result = try faultline([
        "inject", "--pid", String(pid), "--interface", "va", "--delay", "10ms", "--duration", "1s",
        "--state-dir",
        "/tmp/fl-pid", "--annotations", "/tmp/fl-pid/annotations",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout.contains("(/proc/\(pid)/ns/net)"), "\(result.stdout)")
      #expect(try !net.tcShow().contains("netem"))
    }

    @Test func aMissingCapabilityIsNamedWithWhatToDo() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let result = try run([
        "capsh", "--drop=cap_net_admin", "--", "-c",
        "\(faultlineBinary) inject --netns \(net.a) --interface va --delay 10ms --duration 1s --state-dir /tmp/fl-cap",
      ])
      #expect(result.status == 3, "\(result.stderr)")
      #expect(result.stderr.contains("needs CAP_NET_ADMIN"), "\(result.stderr)")
    }

    @Test func aKernelWithoutNetemSaysHowToLoadIt() throws {
      let net = try TestNetwork()
      defer { net.close() }
      // Without the module, and with the kernel's module autoloader pointed at /bin/false, the
      // kernel is one built without sch_netem.
      let modprobe = try String(contentsOfFile: "/proc/sys/kernel/modprobe", encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
      try "/bin/false".write(toFile: "/proc/sys/kernel/modprobe", atomically: false, encoding: .utf8)
      defer {
        try? modprobe.write(toFile: "/proc/sys/kernel/modprobe", atomically: false, encoding: .utf8)
        _ = try? run(["modprobe", "sch_netem"])
      }
      // Namespaces deleted by earlier tests release their qdiscs asynchronously: retry for a while.
      var removed = false
      for _ in 0..<100 where !removed {
        removed = try run(["rmmod", "sch_netem"]).status == 0
        if !removed { Thread.sleep(forTimeInterval: 0.2) }
      }
      #expect(removed, "sch_netem stayed in use")
      let result = try faultline([
        "inject", "--netns", net.a, "--interface", "va", "--delay", "10ms", "--duration", "1s", "--state-dir",
        "/tmp/fl-nonetem",
      ])
      #expect(result.status == 5, "\(result.stderr)")
      #expect(
        result.stderr.contains("load it with `modprobe sch_netem`; needs CONFIG_NET_SCH_NETEM"),
        "\(result.stderr)")
      #expect(try FileManager.default.contentsOfDirectory(atPath: "/tmp/fl-nonetem/active").isEmpty)
    }

    @Test func foreignQdiscIsRefusedWithoutForceAndRestoredAfterForce() throws {
      let net = try TestNetwork()
      defer { net.close() }
      try net.addForeignTbf()
      let before = try net.tcShow()
      let refused = try faultline([
        "inject", "--netns", net.a, "--interface", "va", "--delay", "10ms", "--duration", "1s", "--state-dir",
        "/tmp/fl-f",
      ])
      #expect(refused.status == 6)
      #expect(
        refused.stderr.contains("already has a root qdisc faultline did not create (tbf 8001:)"),
        "\(refused.stderr)")
      let forced = try faultline([
        "inject", "--netns", net.a, "--interface", "va", "--delay", "10ms", "--duration", "1s", "--force",
        "--state-dir", "/tmp/fl-f",
      ])
      #expect(forced.status == 0, "\(forced.stderr)")
      #expect(forced.stdout.contains("replaced tbf 8001:, saved for revert"))
      #expect(forced.stdout.contains("restored tbf 8001:"))
      #expect(try net.tcShow() == before)
    }

    @Test func aQdiscTreeIsNeverReplacedEvenWithForce() throws {
      let net = try TestNetwork()
      defer { net.close() }
      try must([
        "tc", "-n", net.a, "qdisc", "add", "dev", "va", "root", "handle", "1:", "htb", "default", "10",
      ])
      try must([
        "tc", "-n", net.a, "class", "add", "dev", "va", "parent", "1:", "classid", "1:10", "htb", "rate",
        "10mbit",
      ])
      let before = try net.tcShow()
      let result = try faultline([
        "inject", "--netns", net.a, "--interface", "va", "--delay", "10ms", "--duration", "1s", "--force",
        "--state-dir", "/tmp/fl-tree",
      ])
      #expect(result.status == 6)
      #expect(result.stderr.contains("htb with 1 user-made classes"), "\(result.stderr)")
      #expect(try net.tcShow() == before)
    }

    @Test func afterSigkillRevertAllRemovesTheOrphanAndRestoresTheForeignQdisc() throws {
      let net = try TestNetwork()
      defer { net.close() }
      try net.addForeignTbf()
      let before = try net.tcShow()
      let state = "/tmp/fl-kill-\(UUID().uuidString)"
      let process = Process()
      process.executableURL = URL(fileURLWithPath: faultlineBinary)
      process.arguments = [
        "inject", "--netns", net.a, "--interface", "va", "--loss", "10%", "--force", "--state-dir", state,
      ]
      process.standardOutput = FileHandle.nullDevice
      try process.run()
      let deadline = Date().addingTimeInterval(20)
      while Date() < deadline, try !net.tcShow().contains("netem") { Thread.sleep(forTimeInterval: 0.1) }
      #expect(try net.tcShow().contains("netem"))
      kill(process.processIdentifier, SIGKILL)
      waitForExit(process)
      #expect(try net.tcShow().contains("netem"))  // the orphan
      let revert = try faultline(["revert", "--all", "--state-dir", state])
      #expect(revert.status == 0, "\(revert.stderr)")
      #expect(revert.stdout.contains("restored tbf 8001:"))
      #expect(try net.tcShow() == before)
    }

    @Test func statusShowsFaultlinesQdiscDecoded() throws {
      let net = try TestNetwork()
      defer { net.close() }
      let process = Process()
      process.executableURL = URL(fileURLWithPath: faultlineBinary)
      process.arguments = [
        "inject", "--netns", net.a, "--interface", "va", "--delay", "30ms", "--duration", "20s",
        "--state-dir", "/tmp/fl-status", "--annotations", "/tmp/fl-status/annotations", "--name",
        "status-demo",
      ]
      process.standardOutput = FileHandle.nullDevice
      try process.run()
      defer {
        process.interrupt()
        waitForExit(process)
      }
      let deadline = Date().addingTimeInterval(20)
      while Date() < deadline, try !net.tcShow().contains("netem") { Thread.sleep(forTimeInterval: 0.1) }
      let status = try faultline(["status", "--netns", net.a])
      #expect(
        status.stdout.contains("va: netem fa17: root (faultline) limit 1000 delay 30ms"), "\(status.stdout)")
      let json = try faultline(["status", "--netns", net.a, "--output", "json"])
      #expect(json.stdout.contains("\"delay_ms\":30"), "\(json.stdout)")
      // While the fault is on, the annotation file says so (written right after the apply).
      var annotations = ""
      for _ in 0..<50 where !annotations.contains("active=\"true\"") {
        annotations = (try? String(contentsOfFile: "/tmp/fl-status/annotations", encoding: .utf8)) ?? ""
        Thread.sleep(forTimeInterval: 0.05)
      }
      print("annotation file during the fault:\n\(annotations)")
      #expect(annotations.contains("chaos.experiment/active=\"true\""))
      #expect(annotations.contains("chaos.experiment/name=\"status-demo\""))
      #expect(annotations.contains("chaos.experiment/interface=\"va\""))
      #expect(annotations.contains("chaos.experiment/fault=\"delay=30ms\""))
    }
  }
}
