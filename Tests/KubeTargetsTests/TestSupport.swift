import AgentTestSupport
import AsyncHTTPClient
import Foundation
import KubeTargets
import Logging
import Testing

/// Whether the privileged pod-resolution suite should run: inside the VM harness (`FAULTLINE_VM=1`,
/// set by scripts/vm-test), where it must pass.
let inVM = ProcessInfo.processInfo.environment["FAULTLINE_VM"] == "1"

/// The repository root (for the fake API server and the built binary).
let repoRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()

/// The `faultline` binary the CLI tests run: `FAULTLINE_KUBE_BIN`, else `.build/debug/faultline`.
let faultlineBinary =
  ProcessInfo.processInfo.environment["FAULTLINE_KUBE_BIN"] ?? "\(repoRoot)/.build/debug/faultline"

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// A fresh directory under the temporary directory.
func makeTemporaryDirectory(_ prefix: String) throws -> String {
  let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Runs `body`, failing with a ``TestFailure`` when it takes longer than `seconds`.
func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T)
  async throws -> T
{
  try await withThrowingTaskGroup(of: T.self) { group in
    group.addTask { try await body() }
    group.addTask {
      try await Task.sleep(for: .seconds(seconds))
      throw TestFailure("timed out after \(seconds) s")
    }
    defer { group.cancelAll() }
    return try await group.next()!
  }
}

/// A pod object for fixtures, shaped like the API server's.
func podJSON(
  _ name: String, namespace: String = "default", uid: String, node: String = "node-1",
  phase: String = "Running",
  labels: [String: String] = [:], hostNetwork: Bool = false, podIP: String = "10.244.0.7"
) -> [String: Any] {
  var spec: [String: Any] = [
    "nodeName": node, "containers": [["name": "app", "image": "registry.k8s.io/pause:3.9"]],
    "restartPolicy": "Always",
  ]
  if hostNetwork { spec["hostNetwork"] = true }
  return [
    "apiVersion": "v1", "kind": "Pod",
    "metadata": [
      "name": name, "namespace": namespace, "uid": uid, "labels": labels, "resourceVersion": "90",
      "creationTimestamp": "2024-05-01T10:00:00Z",
    ],
    "spec": spec,
    "status": ["phase": phase, "podIP": podIP, "podIPs": [["ip": podIP]], "hostIP": "172.18.0.2"],
  ]
}

/// `fake_kube_api.py` on 127.0.0.1 (a free port), serving `pods` as a PodList at version 100.
final class FakeKubeAPI: @unchecked Sendable {
  let process: Process
  let port: Int
  let directory: String
  let controlFile: String

  /// `http://127.0.0.1:PORT`.
  var url: String { "http://127.0.0.1:\(port)" }

  init(pods: [[String: Any]], arguments: [String] = []) throws {
    directory = try makeTemporaryDirectory("fl-kube-api")
    let list: [String: Any] = [
      "apiVersion": "v1", "kind": "PodList", "metadata": ["resourceVersion": "100"], "items": pods,
    ]
    let podsFile = directory + "/pods.json"
    try JSONSerialization.data(withJSONObject: list).write(to: URL(fileURLWithPath: podsFile))
    controlFile = directory + "/events.jsonl"
    _ = FileManager.default.createFile(atPath: controlFile, contents: nil)
    process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      [
        "python3", "\(repoRoot)/scripts/peers/fake_kube_api.py", "--pods", podsFile, "--host", "127.0.0.1",
        "--port", "0", "--control", controlFile,
      ] + arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
      let chunk = out.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      line += chunk
    }
    guard
      let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    else {
      process.terminate()
      throw TestFailure("fake_kube_api.py did not print its port: \(String(decoding: line, as: UTF8.self))")
    }
    self.port = port
  }

  /// Appends an event (`{"type": …, "object": …}`) to the control file; the server streams it.
  func send(_ type: String, _ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: ["type": type, "object": object])
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: controlFile))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: data + Data("\n".utf8))
  }

  /// `POST /_control/NAME` with a JSON body.
  func control(_ name: String, _ body: [String: Any] = [:]) async throws {
    var request = HTTPClientRequest(url: "\(url)/_control/\(name)")
    request.method = .POST
    request.body = .bytes(try JSONSerialization.data(withJSONObject: body))
    request.headers.add(name: "Content-Type", value: "application/json")
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    _ = try await response.body.collect(upTo: 1 << 20)
    guard response.status.code == 200 else { throw TestFailure("control \(name): \(response.status)") }
  }

  /// The API requests the server received (`[{"path", "query", "authorization"}]`).
  func requests() async throws -> [[String: Any]] {
    let response = try await HTTPClient.shared.execute(
      HTTPClientRequest(url: "\(url)/_control/requests"), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 16 << 20)
    let data = Data(body.readableBytesView)
    return try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
  }

  func stop() {
    if process.isRunning { process.terminate() }
    waitForExit(process, seconds: 10)
    try? FileManager.default.removeItem(atPath: directory)
  }
}

/// A directory shaped like `/proc` for the scanner: `<root>/<pid>/cgroup` and `<root>/<pid>/ns/net`
/// (a symlink to `<root>/.ns/<name>`, so processes "in" one namespace share an inode).
final class FakeProcRoot {
  let root: String

  init() throws {
    root = try makeTemporaryDirectory("fl-proc")
    try FileManager.default.createDirectory(atPath: root + "/.ns", withIntermediateDirectories: true)
    try addProcess(1, cgroup: "0::/init.scope\n", netns: "host")
  }

  /// Adds process `pid` with this `/proc/PID/cgroup` text in namespace `netns` (created on first use).
  func addProcess(_ pid: Int, cgroup: String, netns: String?) throws {
    let dir = "\(root)/\(pid)"
    try FileManager.default.createDirectory(atPath: dir + "/ns", withIntermediateDirectories: true)
    try cgroup.write(toFile: dir + "/cgroup", atomically: true, encoding: .utf8)
    guard let netns else { return }
    let target = "\(root)/.ns/\(netns)"
    if !FileManager.default.fileExists(atPath: target) {
      _ = FileManager.default.createFile(atPath: target, contents: Data(netns.utf8))
    }
    try FileManager.default.createSymbolicLink(atPath: dir + "/ns/net", withDestinationPath: target)
  }

  /// The inode of namespace `name`.
  func inode(_ name: String) throws -> UInt64 {
    var info = stat()
    guard stat("\(root)/.ns/\(name)", &info) == 0 else { throw TestFailure("no namespace \(name)") }
    return UInt64(info.st_ino)
  }

  func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// `0::/kubepods/besteffort/pod<uid>/<container>` (cgroupfs, v2).
func cgroupfsLine(_ uid: String, qos: String? = "besteffort", container: String = "c0ffee") -> String {
  "0::/kubepods/\(qos.map { "\($0)/" } ?? "")pod\(uid)/\(container)\n"
}

/// `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-….scope`.
func systemdLine(_ uid: String, container: String = "c0ffee") -> String {
  let underscored = uid.replacingOccurrences(of: "-", with: "_")
  return "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(underscored).slice/"
    + "cri-containerd-\(container).scope\n"
}

/// A logger for tests (errors only, to stderr).
let testLogger: Logger = {
  var logger = Logger(label: "faultline.test")
  logger.logLevel = .error
  return logger
}()

/// Runs a command that must succeed; its stdout.
@discardableResult
func sh(_ arguments: [String]) throws -> String {
  let result = try runProcess(arguments)
  guard result.status == 0 else {
    throw TestFailure("\(arguments.joined(separator: " ")): \(result.status) \(result.stderr)")
  }
  return result.stdout
}
