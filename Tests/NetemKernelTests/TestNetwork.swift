import Foundation
import Testing

/// Whether the privileged real-kernel suite should run: inside the VM harness (`FAULTLINE_VM=1`,
/// set by scripts/vm-test). There it must pass; it never silently skips.
let inVM = ProcessInfo.processInfo.environment["FAULTLINE_VM"] == "1"

/// The privileged suites, one at a time (they load and unload modules and measure timing): run
/// only inside the real-kernel VM (`scripts/vm-test`, `make test`) on Debian's stock kernel with
/// sch_netem, against namespaces and veth pairs they create themselves.
@Suite(.serialized, .enabled(if: inVM, "needs the real-kernel VM (make test / scripts/vm-test)"))
enum RealKernel {}

/// The repository root (for the built binary and the test peers).
let repoRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()

/// The `faultline` binary built next to the test bundle.
let faultlineBinary =
  ProcessInfo.processInfo.environment["FAULTLINE_BIN"] ?? "\(repoRoot)/.build/debug/faultline"

/// Output of a finished process.
struct ProcessResult {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// Runs a command to completion (tests may spawn helpers such as `ip` and `tc`; faultline never does).
@discardableResult
func run(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = arguments
  if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  let errData = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return ProcessResult(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a command that must succeed.
@discardableResult
func must(_ arguments: [String]) throws -> String {
  let result = try run(arguments)
  if result.status != 0 {
    throw TestFailure("\(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
  }
  return result.stdout
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Two network namespaces joined by a veth pair: `va` (192.0.2.1) in `a`, `vb` (192.0.2.2) in `b`,
/// with a UDP echo server in `b`. Everything is deleted by ``close()``.
final class TestNetwork {
  let a: String
  let b: String
  private var echo: Process?

  init() throws {
    let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    a = "fl-a-\(tag)"
    b = "fl-b-\(tag)"
    try must(["ip", "netns", "add", a])
    try must(["ip", "netns", "add", b])
    try must(["ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b])
    try must(["ip", "-n", a, "addr", "add", "192.0.2.1/24", "dev", "va"])
    try must(["ip", "-n", b, "addr", "add", "192.0.2.2/24", "dev", "vb"])
    for (ns, dev) in [(a, "va"), (b, "vb"), (a, "lo"), (b, "lo")] {
      try must(["ip", "-n", ns, "link", "set", dev, "up"])
    }
  }

  /// `/run/netns/a`.
  var pathA: String { "/run/netns/\(a)" }

  /// Starts the UDP echo server in `b`.
  func startEcho() throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "ip", "netns", "exec", b, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "server", "--bind",
      "192.0.2.2",
    ]
    try process.run()
    echo = process
    Thread.sleep(forTimeInterval: 1.5)
  }

  /// Probes from `a` to the echo server; returns (median RTT ms, loss %).
  func probe(count: Int = 200, intervalMs: Double = 5) throws -> (median: Double, loss: Double) {
    let out = try must([
      "ip", "netns", "exec", a, "python3", "\(repoRoot)/scripts/peers/udp_probe.py", "client", "--target",
      "192.0.2.2",
      "--count", String(count), "--interval-ms", String(intervalMs),
    ])
    let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
    let rtt = json["rtt_ms"] as? [String: Double] ?? [:]
    return (rtt["median"] ?? .infinity, json["loss_pct"] as? Double ?? 100)
  }

  /// A root qdisc faultline did not create: `tc qdisc add dev va root handle 8001: tbf …`.
  func addForeignTbf() throws {
    try must([
      "tc", "-n", a, "qdisc", "add", "dev", "va", "root", "handle", "8001:", "tbf", "rate", "1mbit", "burst",
      "32kb",
      "latency", "400ms",
    ])
  }

  /// `tc -n a qdisc show dev va`.
  func tcShow(_ dev: String = "va") throws -> String {
    try must(["tc", "-n", a, "qdisc", "show", "dev", dev]).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func close() {
    // Kill whatever runs in the namespaces (the echo server) without waiting on Foundation's Process.
    for ns in [a, b] { _ = try? run(["sh", "-c", "ip netns pids \(ns) | xargs -r kill -9"]) }
    _ = try? run(["ip", "netns", "del", a])
    _ = try? run(["ip", "netns", "del", b])
  }
}
