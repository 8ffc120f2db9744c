import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import InMemoryTracing
import Logging
import MetricsTestKit
import NetemKernel
import ServiceLifecycle
import ServiceLifecycleTestKit
import Tracing

/// An agent on an in-memory kernel and a manual clock, with everything it touches in reach.
struct AgentHarness: Sendable {
  let kernel: InMemoryKernel
  let clock = ManualClock()
  let tracer = InMemoryTracer()
  /// What the agent recorded through swift-metrics (see ``counter(_:_:)`` and ``gauge(_:_:)``).
  let recorded = TestMetrics()
  let metrics: AgentMetrics
  let profiles: ScriptedProfileFeed
  let pods = ScriptedPodSource()
  let hosts = ScriptedHostResolver()
  let directory: String
  let journal: Journal
  let windows: FaultWindows
  let agent: AgentService

  init(
    profiles files: [String: String], kernel: InMemoryKernel = InMemoryKernel(),
    configuration: AgentConfiguration = AgentConfiguration(
      resyncInterval: .seconds(30), applyBackoff: Backoff(initial: .seconds(1), maximum: .seconds(8)),
      revertBackoff: Backoff(initial: .seconds(1), maximum: .seconds(8)), shutdownRevertAttempts: 1),
    podAnnotations: Bool = false, annotatePods: Bool = false
  ) throws {
    self.kernel = kernel
    metrics = AgentMetrics(factory: recorded)
    directory = NSTemporaryDirectory() + "faultline-agent-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    journal = Journal(directory: directory + "/state")
    profiles = ScriptedProfileFeed(loadProfiles(files))
    var logger = Logger(label: "agent-test")
    logger.logLevel = .critical
    var observers: [any WindowObserver] = [
      AnnotationFileObserver(writer: AnnotationWriter(path: directory + "/annotations"), logger: logger),
      metrics,
    ]
    if podAnnotations {
      observers.append(PodAnnotationFiles(directory: directory + "/pods", compatKey: nil, logger: logger))
    }
    if annotatePods { observers.append(PodObjectAnnotator(pods: pods, logger: logger)) }
    windows = FaultWindows(
      injector: Injector(kernel: kernel, journal: journal, clock: clock, logger: logger), tracer: tracer,
      observers: observers, logger: logger)
    agent = AgentService(
      configuration: configuration, windows: windows, profiles: profiles,
      targets: AgentService.TargetSources(pods: pods, podAddresses: pods), hosts: hosts, clock: clock,
      logger: logger)
  }

  /// The total of the counter `name` with `label`, or nil when the agent never made that series.
  func counter(_ name: String, _ label: (String, String)) -> Int64? {
    recorded.counters(label: name, dimensions: [label]).first?.totalValue
  }

  /// The last value the agent set on the gauge `name` (with `label`, if given).
  func gauge(_ name: String, _ label: (String, String)? = nil) -> Double? {
    try? recorded.expectGauge(name, label.map { [$0] } ?? []).lastValue
  }

  /// Runs the agent while `body` runs, then shuts it down gracefully and waits for it to finish.
  func run(_ body: @Sendable (AgentHarness) async throws -> Void) async throws {
    try await testGracefulShutdown { trigger in
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await self.agent.run() }
        do {
          try await body(self)
        } catch {
          trigger.triggerGracefulShutdown()
          try await group.waitForAll()
          throw error
        }
        trigger.triggerGracefulShutdown()
        try await group.waitForAll()
      }
    }
  }

  /// Moves the clock forward in steps (so that every deadline on the way is seen), letting the
  /// agent catch up after each.
  func advance(by total: Duration, step: Duration = .milliseconds(500)) async {
    var left = total
    while left > .zero {
      let now = min(step, left)
      let started = clock.sleepsStarted
      let woken = clock.advance(by: now)
      left -= now
      if woken > 0 {
        // Whoever woke (the loop at a deadline) has done its work once it sleeps again.
        _ = await eventually { clock.sleepsStarted > started }
      }
      await settle()
    }
  }

  /// Waits until the agent is asleep, with nothing left to do at the current time.
  func settle() async {
    _ = await eventually { clock.sleeperCount > 0 }
    // A few more turns for work the wake-up itself scheduled (follows, observers).
    for _ in 0..<20 { await Task.yield() }
  }

  /// The netem on `interface` of namespace `inode`, nil when the root is not faultline's.
  func netem(_ interface: String = "eth0", in inode: UInt64 = 1) -> NetemParameters? {
    kernel.root(interface, in: inode)?.netem
  }

  /// Finished spans named `name`.
  func spans(_ name: String) -> [FinishedInMemorySpan] {
    tracer.finishedSpans.filter { $0.operationName == name }
  }

  /// The annotation file's text.
  var annotationFile: String {
    (try? String(contentsOfFile: directory + "/annotations", encoding: .utf8)) ?? ""
  }
}

extension FinishedInMemorySpan {
  /// A string attribute.
  func string(_ key: String) -> String? {
    if case .string(let value)? = attributes.get(key) { return value }
    return nil
  }
}
