import AgentTestSupport
import FaultModel
import Foundation
import Synchronization
import Testing

@testable import KubeTargets

/// The API client against `scripts/peers/fake_kube_api.py` over real HTTP: list, watch (ADDED,
/// DELETED, reconnects, 410 relists), errors; then the resolver and `faultline plan` end to end on
/// a `/proc`-shaped directory.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FakeKubeAPITests {
  static let uidWeb1 = "11111111-1111-4111-8111-111111111111"
  static let uidWeb9 = "99999999-9999-4999-8999-999999999999"

  static var pods: [[String: Any]] {
    [
      podJSON("web-1", uid: uidWeb1, labels: ["app": "web"]),
      podJSON("web-2", uid: "22222222-2222-4222-8222-222222222222", node: "node-2", labels: ["app": "web"]),
      podJSON("db-1", uid: "33333333-3333-4333-8333-333333333333", labels: ["app": "db"]),
      podJSON(
        "web-3", namespace: "other", uid: "44444444-4444-4444-8444-444444444444", labels: ["app": "web"]),
    ]
  }

  static let webQuery = PodQuery(
    selector: PodSelector(namespaces: ["default"], labels: ["app": "web"]), nodeName: "node-1")

  func configuration(_ server: FakeKubeAPI, tokenFile: String? = nil) throws -> KubeAPIConfiguration {
    try KubeAPIConfiguration(
      baseURL: server.url, tokenFile: tokenFile, requestTimeout: .seconds(5), watchTimeout: .seconds(30),
      initialBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400))
  }

  @Test func listsThePodsOfTheNodeWithTheLabels() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let list = try await KubeAPIClient.withClient(configuration: configuration(server), logger: testLogger) {
      try await $0.listPods(Self.webQuery)
    }
    #expect(list.resourceVersion == "100")
    #expect(list.items.map(\.name) == ["web-1"])
    #expect(list.items.first?.uid == Self.uidWeb1)
    #expect(list.items.first?.nodeName == "node-1")
    let requests = try await server.requests()
    #expect(requests.count == 1)
    #expect(requests.first?["path"] as? String == "/api/v1/namespaces/default/pods")
    #expect(
      requests.first?["query"] as? [String: String] == [
        "fieldSelector": "spec.nodeName=node-1", "labelSelector": "app=web",
      ])
  }

  @Test func aQueryOverSeveralNamespacesListsClusterWideAndFiltersOnTheClient() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let query = PodQuery(
      selector: PodSelector(namespaces: ["default", "other"], labels: ["app": "web"]), nodeName: "node-1")
    let list = try await KubeAPIClient.withClient(configuration: configuration(server), logger: testLogger) {
      try await $0.listPods(query)
    }
    #expect(list.items.map(\.qualifiedName).sorted() == ["default/web-1", "other/web-3"])
    #expect(try await server.requests().first?["path"] as? String == "/api/v1/pods")
  }

  @Test func watchYieldsTheListThenAddedThenDeleted() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let configuration = try configuration(server)
    let changes = try await withTimeout(60) {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) { client in
        var updates = client.watchPods(Self.webQuery).makeAsyncIterator()
        var seen: [String] = []
        let first = try await updates.next()!
        seen.append("\(first.change == .listed ? "listed" : "?") \(first.pods.map(\.name))")
        // Another node's and another label's pods must not show up.
        try server.send(
          "ADDED",
          podJSON(
            "elsewhere", uid: "55555555-5555-4555-8555-555555555555", node: "node-2", labels: ["app": "web"]))
        try server.send(
          "ADDED", podJSON("db-2", uid: "66666666-6666-4666-8666-666666666666", labels: ["app": "db"]))
        try server.send(
          "ADDED", podJSON("web-9", uid: Self.uidWeb9, phase: "Pending", labels: ["app": "web"]))
        let added = try await updates.next()!
        guard case .added(let pod) = added.change else { throw TestFailure("expected ADDED: \(added)") }
        seen.append("added \(pod.name) \(pod.phase) \(added.pods.map(\.name))")
        try server.send("MODIFIED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        let modified = try await updates.next()!
        guard case .modified(let running) = modified.change else { throw TestFailure("expected MODIFIED") }
        seen.append("modified \(running.name) \(running.phase)")
        try server.send("DELETED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        let deleted = try await updates.next()!
        guard case .deleted(let gone) = deleted.change else { throw TestFailure("expected DELETED") }
        seen.append("deleted \(gone.name) \(deleted.pods.map(\.name)) at \(deleted.resourceVersion)")
        return seen
      }
    }
    #expect(
      changes == [
        "listed [\"web-1\"]", "added web-9 Pending [\"web-1\", \"web-9\"]", "modified web-9 Running",
        "deleted web-9 [\"web-1\"] at 105",
      ])
    let watches = try await server.requests().filter { ($0["query"] as? [String: String])?["watch"] == "1" }
    #expect(watches.count == 1)
    let query = watches.first?["query"] as? [String: String] ?? [:]
    #expect(query["resourceVersion"] == "100")
    #expect(query["allowWatchBookmarks"] == "true")
    #expect(query["fieldSelector"] == "spec.nodeName=node-1")
    #expect(query["labelSelector"] == "app=web")
  }

  @Test func anErrorEvent410MakesTheWatchListAgain() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let configuration = try configuration(server)
    let result = try await withTimeout(60) {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) { client in
        var updates = client.watchPods(Self.webQuery).makeAsyncIterator()
        _ = try await updates.next()
        try server.send("ADDED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        _ = try await updates.next()
        try server.send(
          "ERROR",
          [
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
            "message": "too old resource version",
          ])
        let relisted = try await updates.next()!
        return (relisted.change, relisted.pods.map(\.name), relisted.resourceVersion)
      }
    }
    #expect(result.0 == .listed)
    #expect(result.1 == ["web-1", "web-9"])
    #expect(result.2 == "102")
    let lists = try await server.requests().filter { ($0["query"] as? [String: String])?["watch"] == nil }
    #expect(lists.count == 2)
  }

  @Test func aWatchReconnectsFromItsVersionAndRelistsWhenThatVersionWasCompacted() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let configuration = try configuration(server)
    let result = try await withTimeout(60) {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) { client in
        var updates = client.watchPods(Self.webQuery).makeAsyncIterator()
        _ = try await updates.next()
        try server.send("ADDED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        _ = try await updates.next()
        // The server ends the stream: the client reconnects from version 101 and sees what follows.
        try await server.control("close-watches")
        try server.send("DELETED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        let deleted = try await updates.next()!
        // Now the history is compacted and the stream ends again: 410 on reconnect, then a list.
        try await server.control("compact", ["below": 1000])
        try await server.control("close-watches")
        let relisted = try await updates.next()!
        return (deleted.change, relisted.change, relisted.pods.map(\.name))
      }
    }
    guard case .deleted = result.0 else { throw TestFailure("expected DELETED, got \(result.0)") }
    #expect(result.1 == .listed)
    #expect(result.2 == ["web-1"])
    let watchVersions = try await server.requests().compactMap { request -> String? in
      let query = request["query"] as? [String: String] ?? [:]
      return query["watch"] == "1" ? query["resourceVersion"] : nil
    }
    // Reconnects resume from the last version seen (the DELETED may arrive on the first or the
    // second stream, depending on when the server noticed the close).
    #expect(watchVersions.first == "100")
    #expect(watchVersions.last == "102")
    #expect(watchVersions == watchVersions.sorted { Int($0)! < Int($1)! })
  }

  @Test func aWatchRetriesAfterServerErrors() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let configuration = try configuration(server)
    let change = try await withTimeout(60) {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) { client in
        var updates = client.watchPods(Self.webQuery).makeAsyncIterator()
        _ = try await updates.next()
        try await server.control("fail", ["status": 500, "count": 3])
        try server.send("ADDED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        return try await updates.next()!.change
      }
    }
    guard case .added(let pod) = change else { throw TestFailure("expected ADDED, got \(change)") }
    #expect(pod.name == "web-9")
  }

  @Test func errorEventsOtherThan410ReconnectAfterAGrowingCappedBackoff() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let configuration = try configuration(server)  // backoff 50 ms doubling up to 400 ms
    let delays = try await withTimeout(15) {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) { client in
        var updates = client.watchPods(Self.webQuery).makeAsyncIterator()
        let recorded = RecordedDelays()
        updates.sleep = { delay in
          let count = recorded.delays.withLock {
            $0.append(delay)
            return $0.count
          }
          if count >= 8 { throw CancellationError() }
        }
        _ = try await updates.next()
        // One ERROR 500 in the history: each reconnect from version 100 gets it again, as a watch
        // does from an API server that keeps failing.
        try server.send(
          "ERROR",
          [
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
            "reason": "InternalError", "message": "etcdserver: leader changed",
          ])
        do {
          _ = try await updates.next()
          throw TestFailure("the watch yielded instead of retrying")
        } catch is CancellationError {}
        return recorded.delays.withLock { $0 }
      }
    }
    #expect(delays.count == 8)
    for (attempt, delay) in delays.enumerated() {
      let base = min(Duration.milliseconds(50) * (1 << attempt), .milliseconds(400))
      #expect(
        delay >= base * 0.8 && delay <= base * 1.2, "retry \(attempt + 1) waited \(delay), base \(base)")
    }
    let watches = try await server.requests().filter { ($0["query"] as? [String: String])?["watch"] == "1" }
    #expect(watches.count <= 9, "one watch per backoff, not a reconnect loop")
  }

  @Test func theRetryDelayDoublesUpToItsCapWithJitter() {
    let delays = (0..<8).map {
      PodWatch.retryDelay(failures: $0, initial: .milliseconds(100), maximum: .seconds(1), jitter: 1)
    }
    #expect(delays.map { $0 / .milliseconds(1) } == [100, 200, 400, 800, 1000, 1000, 1000, 1000])
    #expect(
      PodWatch.retryDelay(failures: 2, initial: .milliseconds(100), maximum: .seconds(1), jitter: 0.8)
        == .milliseconds(320))
    #expect(
      PodWatch.retryDelay(failures: 500, initial: .milliseconds(100), maximum: .seconds(30), jitter: 1.2)
        == .seconds(36))
  }

  @Test func sendsTheBearerTokenReadFromItsFile() async throws {
    let server = try FakeKubeAPI(pods: Self.pods, arguments: ["--require-token", "s3cret"])
    defer { server.stop() }
    let tokenFile = server.directory + "/token"
    try "s3cret\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
    let count = try await KubeAPIClient.withClient(
      configuration: configuration(server, tokenFile: tokenFile), logger: testLogger
    ) { try await $0.listPods(PodQuery()).items.count }
    #expect(count == 4)
    // A rotated token is picked up by the next request.
    try "wrong\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
    await #expect {
      try await KubeAPIClient.withClient(
        configuration: configuration(server, tokenFile: tokenFile), logger: testLogger
      ) {
        try await $0.listPods(PodQuery())
      }
    } throws: { error in
      (error as? KubeTargetsError)?.httpStatus == 401 && "\(error)".contains("token was refused")
    }
  }

  @Test func forbiddenExplainsTheRBACNeeded() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    try await server.control("fail", ["status": 403, "count": 1])
    await #expect {
      try await KubeAPIClient.withClient(configuration: configuration(server), logger: testLogger) {
        try await $0.listPods(Self.webQuery)
      }
    } throws: { error in
      "\(error)".contains("403") && "\(error)".contains("ClusterRole")
    }
  }

  @Test func anUnreachableServerIsAClearError() async throws {
    let configuration = try KubeAPIConfiguration(baseURL: "http://127.0.0.1:1", requestTimeout: .seconds(5))
    await #expect {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) {
        try await $0.listPods(Self.webQuery)
      }
    } throws: { error in
      "\(error)"
        == "cannot reach the Kubernetes API at http://127.0.0.1:1: connection refused; check --kube-api "
        + "(or KUBERNETES_SERVICE_HOST/PORT) and that the API server is up"
    }
  }

  @Test func theResolverWatchFollowsPodsIntoTheirNamespaces() async throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    try proc.addProcess(100, cgroup: cgroupfsLine(Self.uidWeb1), netns: "web1")
    try proc.addProcess(900, cgroup: systemdLine(Self.uidWeb9), netns: "web9")
    let configuration = try configuration(server)
    let root = proc.root
    let inodes = try await withTimeout(60) {
      try await KubeAPIClient.withClient(configuration: configuration, logger: testLogger) { client in
        let resolver = PodTargetResolver(client: client, nodeName: "node-1", procRoot: root)
        let selector = PodSelector(namespaces: ["default"], labels: ["app": "web"])
        let once = try await resolver.resolve(selector, seed: 1)
        var watch = resolver.watch(selector, seed: 1).makeAsyncIterator()
        var seen = [once.targets.map(\.netnsInode)]
        seen.append(try await watch.next()!.targets.map(\.netnsInode))
        try server.send("ADDED", podJSON("web-9", uid: Self.uidWeb9, labels: ["app": "web"]))
        seen.append(try await watch.next()!.targets.map(\.netnsInode))
        try server.send("DELETED", podJSON("web-1", uid: Self.uidWeb1, labels: ["app": "web"]))
        seen.append(try await watch.next()!.targets.map(\.netnsInode))
        return seen
      }
    }
    let web1 = try proc.inode("web1")
    let web9 = try proc.inode("web9")
    #expect(inodes == [[web1], [web1], [web1, web9], [web9]])
  }

  // MARK: faultline plan, the built binary

  func writeProfiles(_ dir: String) throws {
    try """
    name: web-latency
    target:
      interface: eth0
      pods:
        namespace: default
        labels: {app: web}
    netem:
      delay: 50ms
    """.write(toFile: dir + "/web.yaml", atomically: true, encoding: .utf8)
    try """
    name: lo-loss
    target:
      interface: lo
      netns: /proc/1/ns/net
    netem:
      loss: 5%
    """.write(toFile: dir + "/plain.yaml", atomically: true, encoding: .utf8)
  }

  @Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: faultlineBinary), "needs the built faultline"))
  func planPrintsEachSelectedPodWithItsNamespaceAsJSON() throws {
    let server = try FakeKubeAPI(
      pods: Self.pods + [podJSON("web-pending", uid: Self.uidWeb9, phase: "Pending", labels: ["app": "web"])])
    defer { server.stop() }
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    try proc.addProcess(100, cgroup: cgroupfsLine(Self.uidWeb1, container: "pause"), netns: "web1")
    try proc.addProcess(101, cgroup: cgroupfsLine(Self.uidWeb1, container: "app"), netns: "web1")
    let profiles = try makeTemporaryDirectory("fl-plan")
    defer { try? FileManager.default.removeItem(atPath: profiles) }
    try writeProfiles(profiles)
    let result = try runProcess(
      [
        faultlineBinary, "plan", "--profiles", profiles, "--kube-api", server.url, "--node-name", "node-1",
        "--proc-root", proc.root, "--output", "json",
      ], environment: ["PATH": "/usr/bin:/bin"])
    #expect(result.status == 0, "\(result.stderr)")
    let entries = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    #expect(entries.count == 2, "\(result.stdout)")
    let plain = try #require(entries.first { $0["profile"] as? String == "lo-loss" })
    #expect(plain["netns"] as? String == "/proc/1/ns/net")
    #expect(plain["interface"] as? String == "lo")
    #expect((plain["fault"] as? [String: Any])?["loss_pct"] as? Double == 5)
    #expect(plain["pod"] == nil)
    let web = try #require(entries.first { $0["profile"] as? String == "web-latency" })
    #expect(web["pod"] as? String == "default/web-1")
    #expect(web["uid"] as? String == Self.uidWeb1)
    #expect(web["netns"] as? String == "\(proc.root)/100/ns/net")
    #expect((web["netnsInode"] as? NSNumber)?.uint64Value == (try proc.inode("web1")))
    #expect(web["interface"] as? String == "eth0")
    #expect((web["fault"] as? [String: Any])?["delay_ms"] as? Double == 50)
    #expect(result.stderr.contains("web-latency: skipped default/web-pending: phase is Pending, not Running"))
  }

  @Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: faultlineBinary), "needs the built faultline"))
  func planTextHasOneLinePerTarget() throws {
    let server = try FakeKubeAPI(pods: Self.pods)
    defer { server.stop() }
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    try proc.addProcess(100, cgroup: systemdLine(Self.uidWeb1), netns: "web1")
    let profiles = try makeTemporaryDirectory("fl-plan")
    defer { try? FileManager.default.removeItem(atPath: profiles) }
    try writeProfiles(profiles)
    let result = try runProcess(
      [faultlineBinary, "plan", "--profiles", profiles, "--kube-api", server.url, "--proc-root", proc.root],
      environment: ["PATH": "/usr/bin:/bin", "NODE_NAME": "node-1"])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(
      lines.contains {
        $0.hasPrefix(
          "web-latency  pod default/web-1 (uid \(Self.uidWeb1))  eth0 in \(proc.root)/100/ns/net (net:[")
      }, "\(result.stdout)")
    #expect(lines.contains { $0.hasPrefix("lo-loss  lo in /proc/1/ns/net") }, "\(result.stdout)")
  }

  @Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: faultlineBinary), "needs the built faultline"))
  func runRefusesACompatKeyThatIsNotAnAnnotationKeyAndChangesNothing() throws {
    let directory = try makeTemporaryDirectory("fl-compat")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try writeProfiles(directory)
    let result = try runProcess(
      [
        faultlineBinary, "run", "--profiles", directory, "--state-dir", directory + "/state", "--annotations",
        directory + "/out/annotations", "--annotation-compat-key", "chaos=\"forged\"\nx",
      ],
      environment: ["PATH": "/usr/bin:/bin"])
    #expect(result.status == 2)
    #expect(result.stderr.contains("is not a Kubernetes annotation key"), "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/state"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/out"))
  }

  @Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: faultlineBinary), "needs the built faultline"))
  func planExplainsMissingNodeNameAndUnreachableAPI() throws {
    let profiles = try makeTemporaryDirectory("fl-plan")
    defer { try? FileManager.default.removeItem(atPath: profiles) }
    try writeProfiles(profiles)
    let noNode = try runProcess(
      [faultlineBinary, "plan", "--profiles", profiles, "--kube-api", "http://127.0.0.1:1"],
      environment: ["PATH": "/usr/bin:/bin"])
    #expect(noNode.status == 2)
    #expect(noNode.stderr.contains("set --node-name or NODE_NAME"), "\(noNode.stderr)")
    let noAPI = try runProcess(
      [faultlineBinary, "plan", "--profiles", profiles, "--node-name", "n"],
      environment: ["PATH": "/usr/bin:/bin"])
    #expect(noAPI.status == 2)
    #expect(noAPI.stderr.contains("KUBERNETES_SERVICE_HOST is not set"), "\(noAPI.stderr)")
    let unreachable = try runProcess(
      [
        faultlineBinary, "plan", "--profiles", profiles, "--node-name", "n", "--kube-api",
        "http://127.0.0.1:1",
      ],
      environment: ["PATH": "/usr/bin:/bin"])
    #expect(unreachable.status == 1)
    #expect(
      unreachable.stderr.contains(
        "cannot reach the Kubernetes API at http://127.0.0.1:1: connection refused"),
      "\(unreachable.stderr)")
  }
}

/// The delays a watch asked to sleep, in order.
final class RecordedDelays: Sendable {
  let delays = Mutex<[Duration]>([])
}
