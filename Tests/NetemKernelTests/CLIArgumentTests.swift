import Foundation
import Testing

/// The built `faultline` binary on the host, for what it refuses before it touches anything: typed
/// flag values are parsed by argument-parser with the profile files' parsers, and every bad one is
/// exit 2 with the flag, the value and why. (The kernel's own refusals are in `RealKernelCLITests`.)
@Suite struct CLIArgumentTests {
  private func faultline(_ arguments: [String]) throws -> ProcessResult {
    try run([faultlineBinary] + arguments)
  }

  @Test(
    arguments: [
      (["inject", "--delay", "10"], "'10' is invalid for '--delay <D>': \"10\" has no unit; use e.g. 10s"),
      (["inject", "--loss", "150%"], "'150%' is invalid for '--loss <P>'"),
      (["inject", "--loss", "150%"], "outside 0–100%"),
      (["inject", "--correlation", "x"], "'x' is invalid for '--correlation <P>'"),
      (
        ["inject", "--delay", "1ms", "--distribution", "gauss"],
        "'gauss' is invalid for '--distribution <NAME>'"
      ),
      (["inject", "--delay", "1ms", "--distribution", "gauss"], "'uniform', 'normal', 'pareto'"),
      (
        ["inject", "--rate", "fast"],
        "'fast' is invalid for '--rate <RATE[,PACKET-OVERHEAD,CELL-SIZE,CELL-OVERHEAD]>'"
      ),
      (["inject", "--slot", "10ms,20ms,30ms"], "expected MIN[,MAX][,packets=N][,bytes=N]"),
      (["inject", "--loss-state", "1,2,3,4,5,6"], "expected 1 to 5 comma-separated percentages"),
      (["inject", "--loss-gemodel", "1%,x"], "'1%,x' is invalid for '--loss-gemodel"),
      (["inject", "--delay", "1ms", "--reorder", "5%", "--gap", "0"], "'0' is invalid for '--gap <N>'"),
      (["inject", "--delay", "1ms", "--limit=-3"], "'-3' is invalid for '--limit <N>'"),
      (
        ["inject", "--delay", "1ms", "--duration", "0s"],
        "'0s' is invalid for '--duration <D>': must be greater than 0"
      ),
      (["inject", "--jitter", "10ms"], "jitter needs a delay"),
      (
        ["inject", "--delay", "1ms", "--telemetry-flush-timeout=-1s"],
        "'-1s' is invalid for '--telemetry-flush-timeout <D>': \"-1s\": negative durations are not allowed"
      ),
      (["inject", "--netns", "a", "--pid", "1", "--delay", "1ms"], "give either --netns or --pid, not both"),
      (
        ["run", "--profiles", "/nonexistent", "--resync-interval", "0s"],
        "'0s' is invalid for '--resync-interval"
      ),
      (
        ["run", "--profiles", "/nonexistent", "--max-duration", "1h30"],
        "'1h30' is invalid for '--max-duration"
      ),
      (
        ["run", "--profiles", "/nonexistent", "--node-ip", "10.0.0.300"],
        "'10.0.0.300' is invalid for '--node-ip <IP>'"
      ),
      (["schedule", "@hourly", "--from", "yesterday"], "not an RFC 3339 time such as 2026-11-22T05:10:00Z"),
      (
        ["schedule", "@hourly", "--timezone", "Mars/Olympus"],
        "unknown time zone; use e.g. UTC or Europe/Berlin"
      ),
      (["schedule", "@hourly", "--count", "0"], "--count must be from 1 to 10000, not 0"),
    ] as [([String], String)])
  func aBadFlagValueIsExitTwoNamingTheFlagTheValueAndWhy(arguments: [String], message: String) throws {
    // --dry-run: if parsing let a bad value through, inject would still change nothing.
    let extra = arguments.first == "inject" ? ["--dry-run", "--state-dir", NSTemporaryDirectory()] : []
    let result = try faultline(arguments + extra)
    #expect(result.status == 2, "\(result.stderr)")
    #expect(result.stderr.contains(message), "\(result.stderr)")
    #expect(result.stdout.isEmpty, "\(result.stdout)")
  }

  @Test func typedValuesReachTheFaultAsTheyWouldFromAProfile() throws {
    let result = try faultline([
      "inject", "--dry-run", "--output", "json", "--delay", "1.5s", "--jitter", "100ms", "--distribution",
      "Normal", "--correlation", "25", "--rate", "1mbit,14", "--slot", "10ms,20ms,packets=4",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    let fault = json?["fault"] as? [String: Any] ?? [:]
    #expect(fault["delay_ms"] as? Double == 1500, "\(fault)")
    #expect(fault["jitter_ms"] as? Double == 100, "\(fault)")
    #expect(fault["distribution"] as? String == "normal", "\(fault)")
    #expect(fault["delay_correlation_pct"] as? Double == 25, "\(fault)")
    #expect(
      fault["rate_bps"] as? Double == 1_000_000 && fault["rate_packet_overhead"] as? Double == 14, "\(fault)")
    #expect(fault["slot_min_ms"] as? Double == 10 && fault["slot_max_ms"] as? Double == 20, "\(fault)")
    #expect(fault["slot_packets"] as? Double == 4, "\(fault)")
  }

  @Test func completionScriptsNameTheSubcommandsAndTheDistributions() throws {
    for shell in ["bash", "zsh", "fish"] {
      let result = try faultline(["--generate-completion-script", shell])
      #expect(result.status == 0, "\(shell): \(result.stderr)")
      for word in ["inject", "revert", "status", "validate", "schedule", "plan", "paretonormal"] {
        #expect(result.stdout.contains(word), "\(shell) completion lacks \(word)")
      }
    }
  }
}
