import FaultModel
import Foundation
import Logging
import NetemKernel
import ServiceLifecycle

/// The `faultline run` service: desired state against actual state, one code path for every target.
///
/// Each profile has a runner: its ``WindowSchedule`` says whether a window is open, and its
/// ``TargetSource`` says where (one fixed target, or the pods a selector picks, followed while the
/// window is open). What should be on is every (profile, window, target) of an open window; what is
/// on is the windows this agent opened. A reconcile step turns the difference into closes, in-place
/// re-applies and opens, one kernel call at a time, looking at the state again after each: an event
/// that lands while a call is in flight (a profile removed, a pod gone) is acted on right after it,
/// and nothing applied is ever untracked.
///
/// The step runs on every event (a fire time, a window's end, a profile change, a target change)
/// and every `resyncInterval`, when each open window's target is read back: a fault someone removed
/// is put back, one someone changed is reported as drift. Failed applies and failed reverts are
/// retried with capped exponential backoff and reported (`/readyz`, `faultline_faults_pending`)
/// until they succeed or their target is gone.
///
/// At start, faults journaled by processes that are gone are reverted (`crash_recovery`). On
/// graceful shutdown every open window is closed (`signal`).
public actor AgentService: Service {
  private let configuration: AgentConfiguration
  private let windows: FaultWindows
  private let profileFeed: any ProfileFeed
  private let targetSources: TargetSources
  private let clock: any AgentClock
  private let logger: Logger
  private let wakeup = Wakeup()
  private let hosts: any HostResolver

  private var catalog = ProfileCatalog()
  private var runners: [String: Runner] = [:]
  private var generation = 0
  private var open: [Slot: Tracked] = [:]
  private var applyRetries: [Slot: RetryState] = [:]
  private var nextResync: Date?
  private var lastPending: ([String], [String]) = ([], [])
  private var loaded = false

  /// One profile's run: its windows, and the targets of the open one.
  private struct Runner {
    var profile: Profile
    var generation: Int
    var schedule: WindowSchedule
    var source: any TargetSource
    /// The targets of the open window, by key; nil until the source first answers.
    var targets: [String: WindowTarget]?
    /// Why the targets could not be found, while they cannot.
    var targetError: String?
    /// Stops the task following the open window's targets.
    var follow: Wakeup?
    /// The next fire time already logged.
    var announced: Date?
    /// The peers of the open window, resolved; nil until dynamic peers (hostnames, pods) answered.
    var peers: [ResolvedPeer]?
    /// Why peers could not be resolved, while they cannot.
    var peerError: String?
  }

  /// One (profile, window, target): what is desired or open.
  private struct Slot: Hashable, Comparable, CustomStringConvertible {
    var profile: String
    var generation: Int
    var window: Int
    var target: String

    static func < (a: Slot, b: Slot) -> Bool {
      (a.profile, a.generation, a.window, a.target) < (b.profile, b.generation, b.window, b.target)
    }

    var description: String { "\(profile) on \(target)" }
  }

  /// A window this agent opened.
  private struct Tracked {
    var window: OpenWindow
    var targetKey: String
    /// How the window shapes traffic now.
    var shaping: TrafficShaping
    /// Set once its revert failed: why it is closing, and when to try again.
    var closing: (reason: RevertReason, retry: RetryState)?
  }

  /// What the task following a window's targets needs.
  private struct Follow: Sendable {
    var profile: String
    var generation: Int
    var window: Int
    /// Nil when the targets are fixed (only peers are followed).
    var source: (any TargetSource)?
    /// Nil when the peers are fixed.
    var peers: PeerResolution?
    var stop: Wakeup
  }

  /// A service opening and closing windows through `windows`, running the profiles of `profiles`,
  /// finding each profile's targets through `targets`, on `clock`.
  public init(
    configuration: AgentConfiguration, windows: FaultWindows, profiles: any ProfileFeed,
    targets: TargetSources, hosts: any HostResolver = SystemHostResolver(),
    clock: any AgentClock = SystemClock(),
    logger: Logger
  ) {
    self.hosts = hosts
    self.configuration = configuration
    self.windows = windows
    self.profileFeed = profiles
    self.targetSources = targets
    self.clock = clock
    self.logger = logger
  }

  /// Runs until graceful shutdown, then reverts every fault this process applied.
  public func run() async throws {
    await windows.notify(.agentStarted)
    let (recovered, _) = await windows.reconcile()
    if recovered > 0 { logger.info("reconciled orphaned faults", metadata: ["count": "\(recovered)"]) }
    nextResync = clock.now.adding(configuration.resyncInterval)
    await cancelWhenGracefulShutdown { await self.loop() }
    await shutdown()
  }

  // MARK: - The loop

  private func loop() async {
    await withDiscardingTaskGroup { group in
      group.addTask { await self.profileFeed.follow { await self.load($0) } }
      while !Task.isCancelled {
        let (follows, deadline) = await self.step()
        for follow in follows { group.addTask { await self.follow(follow) } }
        if Task.isCancelled { break }
        await self.sleep(until: deadline)
      }
      self.stopFollowing()
      group.cancelAll()
    }
  }

  /// Sleeps until `deadline` (nil: no deadline) or the next event.
  private nonisolated func sleep(until deadline: Date?) async {
    await withTaskGroup(of: Void.self) { group in
      if let deadline { group.addTask { try? await self.clock.sleep(until: deadline) } }
      group.addTask { await self.wakeup.wait() }
      await group.next()
      group.cancelAll()
    }
  }

  /// Brings time forward, reconciles, resyncs when due; returns the target follows to start and the
  /// next deadline.
  private func step() async -> ([Follow], Date?) {
    let follows = advanceSchedules()
    await reconcile()
    if let due = nextResync, clock.now >= due {
      await resync()
      nextResync = clock.now.adding(configuration.resyncInterval)
    }
    await publishPending()
    return (follows, nextDeadline())
  }

  private func nextDeadline() -> Date? {
    var deadlines = runners.values.compactMap(\.schedule.nextDeadline)
    deadlines += applyRetries.values.map(\.retryAt)
    deadlines += open.values.compactMap { $0.closing?.retry.retryAt }
    if let nextResync { deadlines.append(nextResync) }
    return deadlines.min()
  }

  // MARK: - Profiles

  /// Merges a load of the profiles; runs on every change of the directory.
  private func load(_ result: ProfileLoadResult) async {
    if !result.issues.isEmpty { await windows.notify(.reloadFailed) }
    for issue in result.issues {
      logger.error(
        "profile problem; keeping the last good version",
        metadata: ["location": "\(issue.file):\(issue.line):\(issue.column)", "problem": "\(issue)"])
    }
    let changes = catalog.merge(result)
    for kept in changes.kept where !result.issues.contains(where: { $0.file == kept.file }) {
      logger.warning(
        "keeping the file's last good profiles", metadata: ["file": "\(kept.file)", "why": "\(kept.why)"])
    }
    for name in changes.stopped {
      logger.info("profile removed or changed", metadata: ["profile": "\(name)"])
      stopRunner(name)
    }
    for profile in changes.retuned {
      logger.info(
        "profile fault or peers changed; re-applying in place",
        metadata: [
          "profile": "\(profile.name)", "fault": "\(profile.fault.summary)",
          "traffic": "\(profile.traffic?.summary ?? "all egress")",
        ])
      runners[profile.name]?.profile = profile
      // Address peers are known at once; the open window's shapes follow on the next step.
      if runners[profile.name]?.peers != nil {
        runners[profile.name]?.peers = PeerResolution.fixedPeers(profile.traffic)
      }
    }
    for profile in changes.started {
      logger.info(
        "profile loaded",
        metadata: [
          "profile": "\(profile.name)", "source": "\(profile.source)",
          "schedule": "\(profile.schedule?.description ?? "none")",
          "duration": "\(profile.duration.map { "\($0)" } ?? "none")",
          "target": "\(profile.pods.map { "\($0)" } ?? "\(profile.target)")",
        ])
      generation += 1
      runners[profile.name] = Runner(
        profile: profile, generation: generation,
        schedule: WindowSchedule(profile: profile, maxDuration: configuration.maxDuration, start: clock.now),
        source: targetSources.source(for: profile))
    }
    if !loaded {
      loaded = true
      await windows.notify(.ready)
    }
    wakeup.signal()
  }

  private func stopRunner(_ name: String) {
    guard let runner = runners.removeValue(forKey: name) else { return }
    runner.follow?.signal()
  }

  /// Moves every runner's schedule to now; returns the follows to start for windows that opened.
  private func advanceSchedules() -> [Follow] {
    let now = clock.now
    var follows: [Follow] = []
    for name in runners.keys.sorted() {
      guard var runner = runners[name] else { continue }
      for event in runner.schedule.advance(to: now) {
        switch event {
        case .opened(let window):
          logger.info(
            runner.profile.schedule == nil ? "window opened" : "fire",
            metadata: [
              "profile": "\(name)", "window": "\(window.sequence)",
              "until": "\(window.endsAt.map(formatRFC3339) ?? "stopped")",
            ])
        case .closed(let window):
          logger.info("window ended", metadata: ["profile": "\(name)", "window": "\(window.sequence)"])
          runner.follow?.signal()
          runner.follow = nil
          runner.targets = nil
          runner.targetError = nil
          runner.peers = nil
          runner.peerError = nil
        case .skipped(let fire):
          logger.info(
            "fire skipped: the previous window was still running",
            metadata: ["profile": "\(name)", "at": "\(formatRFC3339(fire))"])
        case .finished:
          logger.info("schedule has no more fire times", metadata: ["profile": "\(name)"])
        }
      }
      if let window = runner.schedule.current, runner.follow == nil, runner.targets == nil {
        let traffic = runner.profile.traffic
        let dynamicPeers = PeerResolution.isDynamic(traffic)
        runner.peers = dynamicPeers ? nil : PeerResolution.fixedPeers(traffic)
        if let fixed = runner.source.fixedTargets {
          runner.targets = Dictionary(fixed.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        }
        if runner.targets == nil || dynamicPeers {
          let stop = Wakeup()
          runner.follow = stop
          follows.append(
            Follow(
              profile: name, generation: runner.generation, window: window.sequence,
              source: runner.source.fixedTargets == nil ? runner.source : nil,
              peers: traffic.flatMap { traffic in
                dynamicPeers
                  ? PeerResolution(
                    selector: traffic, hosts: hosts, pods: targetSources.podAddresses,
                    interval: configuration.peerRefreshInterval, clock: clock) : nil
              }, stop: stop))
        }
      } else if runner.schedule.current == nil, runner.profile.schedule != nil,
        let next = runner.schedule.nextDeadline, runner.announced != next
      {
        logger.info("next window", metadata: ["profile": "\(name)", "at": "\(formatRFC3339(next))"])
        runner.announced = next
      }
      runners[name] = runner
    }
    return follows
  }

  // MARK: - Targets

  /// Follows one window's targets until the window closes; retries a failing source with backoff.
  private nonisolated func follow(_ follow: Follow) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await follow.stop.wait() }
      if let peers = follow.peers {
        group.addTask {
          await peers.follow(
            update: { await self.peersChanged(follow, $0) }, failed: { await self.peersFailed(follow, $0) })
          // Fixed peers and hosts only: keep the task (and the window's follow) alive until stopped.
          await follow.stop.wait()
        }
      }
      if let source = follow.source {
        group.addTask {
          var failures = 0
          while !Task.isCancelled {
            do {
              try await source.follow { targets in await self.targetsChanged(follow, targets) }
              return
            } catch {
              if Task.isCancelled { return }
              failures += 1
              let delay = self.configuration.applyBackoff.delay(attempt: failures)
              await self.targetsFailed(follow, error, retryIn: delay)
              do { try await self.clock.sleep(for: delay) } catch { return }
            }
          }
        }
      }
      await group.next()
      group.cancelAll()
    }
  }

  private func targetsChanged(_ follow: Follow, _ targets: [WindowTarget]) {
    guard var runner = runners[follow.profile], runner.generation == follow.generation,
      runner.schedule.current?.sequence == follow.window
    else { return }
    if targets.isEmpty && runner.profile.pods != nil {
      logger.warning(
        "no pod selected on this node; pods that appear during the window get the fault",
        metadata: ["profile": "\(follow.profile)"])
    }
    runner.targets = Dictionary(targets.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    runner.targetError = nil
    runners[follow.profile] = runner
    wakeup.signal()
  }

  private func targetsFailed(_ follow: Follow, _ error: any Error, retryIn delay: Duration) {
    guard runners[follow.profile]?.generation == follow.generation else { return }
    logger.error(
      "cannot find the profile's targets; retrying",
      metadata: ["profile": "\(follow.profile)", "error": "\(error)", "retry_in": "\(delay)"])
    runners[follow.profile]?.targetError = "\(error)"
    wakeup.signal()
  }

  private func peersChanged(_ follow: Follow, _ peers: [ResolvedPeer]) {
    guard var runner = runners[follow.profile], runner.generation == follow.generation,
      runner.schedule.current?.sequence == follow.window
    else { return }
    logger.info(
      "peers resolved",
      metadata: [
        "profile": "\(follow.profile)", "peers": "\(peers.map(\.prefix.description).joined(separator: ", "))",
      ])
    runner.peers = peers
    runner.peerError = nil
    runners[follow.profile] = runner
    wakeup.signal()
  }

  private func peersFailed(_ follow: Follow, _ message: String) {
    guard runners[follow.profile]?.generation == follow.generation else { return }
    logger.error(
      "cannot resolve the profile's peers; retrying",
      metadata: ["profile": "\(follow.profile)", "error": "\(message)"])
    runners[follow.profile]?.peerError = message
    wakeup.signal()
  }

  private func stopFollowing() {
    for name in runners.keys { runners[name]?.follow?.signal() }
  }

  // MARK: - Reconcile

  /// One slot's desired state.
  private struct Desired {
    var profile: Profile
    var window: WindowInstance
    var target: WindowTarget
    var shaping: TrafficShaping
  }

  /// What should be on now, by slot.
  private func desired() -> [Slot: Desired] {
    var result: [Slot: Desired] = [:]
    for (name, runner) in runners {
      guard let window = runner.schedule.current, let targets = runner.targets, let peers = runner.peers
      else {
        continue
      }
      // The same for every target of the profile. Probes come from the node's IP into a pod, whether
      // the agent reached in (DaemonSet) or runs beside the app (sidecar).
      let protected = (runner.profile.traffic?.protectNode ?? true) ? configuration.protectedPrefixes : []
      // Peers that resolved to no address yet: nothing to shape.
      guard let shaping = TrafficPlan.shaping(runner.profile.traffic, resolved: peers, protected: protected)
      else { continue }
      for (key, target) in targets {
        result[Slot(profile: name, generation: runner.generation, window: window.sequence, target: key)] =
          Desired(profile: runner.profile, window: window, target: target, shaping: shaping)
      }
    }
    return result
  }

  private enum Action {
    case close(Slot, RevertReason)
    case reapply(Slot, NetemFault, TrafficShaping)
    case reshape(Slot, TrafficShaping)
    case open(Slot, Desired)
  }

  /// The next thing to do, closes first (a target changing windows is reverted before it is applied
  /// again), then in-place re-applies, then opens; nil when nothing is due.
  private func nextAction(shuttingDown: Bool = false) -> Action? {
    let now = clock.now
    let wanted = shuttingDown ? [:] : desired()
    for slot in open.keys.sorted() where wanted[slot] == nil {
      let tracked = open[slot]!
      if let closing = tracked.closing {
        if closing.retry.retryAt <= now { return .close(slot, closing.reason) }
        continue
      }
      return .close(slot, shuttingDown ? .signal : closeReason(slot))
    }
    for (slot, want) in wanted.sorted(by: { $0.key < $1.key }) {
      guard let tracked = open[slot], tracked.closing == nil else { continue }
      let faultChanged = tracked.window.active.experiment.fault != want.profile.fault
      guard faultChanged || tracked.shaping != want.shaping else { continue }
      if let retry = applyRetries[slot], retry.retryAt > now { continue }
      // Only the filters change when the peers do, if both shapings shape the same directions.
      if !faultChanged && Self.sameTree(tracked.shaping, want.shaping) { return .reshape(slot, want.shaping) }
      return .reapply(slot, want.profile.fault, want.shaping)
    }
    for (slot, want) in wanted.sorted(by: { $0.key < $1.key }) where open[slot] == nil {
      if let retry = applyRetries[slot], retry.retryAt > now { continue }
      return .open(slot, want)
    }
    return nil
  }

  /// Whether two shapings build the same qdiscs (each direction absent, whole, or shaped), so that
  /// going from one to the other only changes filters.
  private static func sameTree(_ a: TrafficShaping, _ b: TrafficShaping) -> Bool {
    func kind(_ mode: TrafficShaping.Mode?) -> Int {
      switch mode {
      case nil: 0
      case .whole: 1
      case .shaped: 2
      }
    }
    return kind(a.egress) == kind(b.egress) && kind(a.ingress) == kind(b.ingress) && kind(a.egress) != 1
      && kind(a.ingress) != 1
  }

  /// Why an open slot is no longer wanted.
  private func closeReason(_ slot: Slot) -> RevertReason {
    guard let runner = runners[slot.profile], runner.generation == slot.generation else {
      return .profileRemoved
    }
    guard runner.schedule.current?.sequence == slot.window else { return .durationElapsed }
    return .profileRemoved
  }

  /// Applies the difference between desired and actual, one kernel call at a time.
  private func reconcile(shuttingDown: Bool = false) async {
    while let action = nextAction(shuttingDown: shuttingDown) {
      switch action {
      case .close(let slot, let reason): await close(slot, reason: reason)
      case .reapply(let slot, let fault, let shaping): await reapply(slot, fault: fault, shaping: shaping)
      case .reshape(let slot, let shaping): await reshape(slot, shaping: shaping)
      case .open(let slot, let want): await openWindow(slot, want)
      }
    }
  }

  private func openWindow(_ slot: Slot, _ want: Desired) async {
    let (profile, window, target) = (want.profile, want.window, want.target)
    let now = clock.now
    let experiment = Experiment(
      name: profile.name, target: target.target, namespaceInode: target.namespaceInode, pod: target.pod,
      fault: profile.fault, traffic: profile.traffic, shaping: want.shaping,
      duration: window.endsAt.map { .seconds(max(0, $0.timeIntervalSince(now))) },
      mode: configuration.mode
        ?? (profile.pods == nil && profile.target.namespace == .current ? .sidecar : .daemonset),
      profile: profile.source.file, schedule: profile.schedule?.description)
    do {
      let opened = try await windows.open(experiment)
      applyRetries[slot] = nil
      // A window this one replaces on the same target (its revert was failing) is superseded: the
      // journal entry went with the apply.
      for (other, tracked) in open where tracked.targetKey == target.key && tracked.closing != nil {
        open[other] = nil
        await windows.notify(
          .closed(
            tracked.window.summary, reason: tracked.closing!.reason, outcome: .nothingToRevert("superseded")))
        windows.abandon(tracked.window)
      }
      open[slot] = Tracked(window: opened, targetKey: target.key, shaping: want.shaping)
      logger.info(
        "applied",
        metadata: [
          "profile": "\(profile.name)", "target": "\(target)", "id": "\(experiment.id)",
          "tc": "\(opened.active.report.tcLine)",
          "duration": "\(experiment.duration.map { "\($0)" } ?? "until stopped")",
        ])
    } catch {
      recordApplyFailure(slot, error, what: "apply failed", target: target)
    }
  }

  private func reshape(_ slot: Slot, shaping: TrafficShaping) async {
    guard var tracked = open[slot] else { return }
    do {
      try await windows.reshape(&tracked.window, to: shaping)
      applyRetries[slot] = nil
      open[slot]?.window = tracked.window
      open[slot]?.shaping = shaping
      logger.info("filters updated", metadata: ["profile": "\(slot.profile)", "target": "\(slot.target)"])
    } catch {
      recordApplyFailure(slot, error, what: "filter update failed; the previous filters stay", target: nil)
    }
  }

  private func reapply(_ slot: Slot, fault: NetemFault, shaping: TrafficShaping) async {
    guard var tracked = open[slot] else { return }
    do {
      try await windows.reapply(&tracked.window, fault: fault, shaping: shaping)
      applyRetries[slot] = nil
      open[slot]?.window = tracked.window
      open[slot]?.shaping = shaping
      logger.info(
        "re-applied",
        metadata: [
          "profile": "\(slot.profile)", "target": "\(slot.target)",
          "tc": "\(tracked.window.active.report.tcLine)",
        ])
    } catch {
      // The kernel layer rolled back to the previous parameters: the window keeps them.
      recordApplyFailure(slot, error, what: "re-apply failed; the previous parameters stay", target: nil)
    }
  }

  private func recordApplyFailure(_ slot: Slot, _ error: any Error, what: String, target: WindowTarget?) {
    let now = clock.now
    if var retry = applyRetries[slot] {
      retry.failedAgain(at: now, error: "\(error)", backoff: configuration.applyBackoff)
      applyRetries[slot] = retry
    } else {
      applyRetries[slot] = RetryState(failedAt: now, error: "\(error)", backoff: configuration.applyBackoff)
    }
    let retry = applyRetries[slot]!
    logger.error(
      "\(what)",
      metadata: [
        "profile": "\(slot.profile)", "target": "\(target.map { "\($0)" } ?? slot.target)",
        "error": "\(error)",
        "attempt": "\(retry.failures)", "retry_at": "\(formatRFC3339(retry.retryAt))",
      ])
  }

  private func close(_ slot: Slot, reason: RevertReason) async {
    guard let tracked = open[slot] else { return }
    do {
      let outcome = try await windows.close(tracked.window, reason: reason)
      open[slot] = nil
      applyRetries[slot] = nil
      logger.info(
        "reverted",
        metadata: [
          "profile": "\(slot.profile)", "target": "\(slot.target)", "reason": "\(reason.rawValue)",
          "outcome": "\(outcome)",
        ])
    } catch {
      let now = clock.now
      var retry =
        tracked.closing?.retry
        ?? RetryState(failedAt: now, error: "\(error)", backoff: configuration.revertBackoff)
      if tracked.closing != nil {
        retry.failedAgain(at: now, error: "\(error)", backoff: configuration.revertBackoff)
      }
      open[slot]?.closing = (reason, retry)
      logger.error(
        "revert failed; retrying",
        metadata: [
          "profile": "\(slot.profile)", "target": "\(slot.target)", "error": "\(error)",
          "attempt": "\(retry.failures)", "retry_at": "\(formatRFC3339(retry.retryAt))",
        ])
    }
  }

  // MARK: - Resync

  /// Reads every open window's target back, puts back faults someone removed, reports other drift,
  /// and sweeps the journal for faults nobody tracks any more.
  private func resync() async {
    for slot in open.keys.sorted() {
      guard var tracked = open[slot], tracked.closing == nil else { continue }
      let drift = await windows.inspect(&tracked.window)
      guard open[slot] != nil else { continue }
      open[slot]?.window = tracked.window
      guard drift != .none else { continue }
      await windows.notify(.drift(tracked.window.summary, drift))
      logger.warning(
        "drift", metadata: ["profile": "\(slot.profile)", "target": "\(slot.target)", "drift": "\(drift)"])
      if drift == .removed {
        do {
          try await windows.reapply(
            &tracked.window, fault: tracked.window.active.experiment.fault, shaping: tracked.shaping)
          open[slot]?.window = tracked.window
          logger.info(
            "put the removed fault back",
            metadata: ["profile": "\(slot.profile)", "target": "\(slot.target)"])
        } catch {
          recordApplyFailure(slot, error, what: "cannot put the removed fault back", target: nil)
        }
      }
    }
    let tracked = Set(open.values.map(\.window.active.entry.id))
    let now = clock.now
    let (swept, _) = await windows.reconcile { entry in
      if !entry.ownerIsAlive { return true }
      // This process's own entry that no window tracks: a leak, whatever its expiry.
      return entry.isOwnedByThisProcess && !tracked.contains(entry.id)
    }
    if swept > 0 { logger.info("reverted faults nobody tracked", metadata: ["count": "\(swept)"]) }
    for entry in windows.injector.journal.entries()
    where !entry.isOwnedByThisProcess && entry.ownerIsAlive && (entry.expiresAt.map { $0 < now } ?? false) {
      logger.warning(
        "a fault of another faultline is past its end; its owner reverts it",
        metadata: [
          "id": "\(entry.id)", "pid": "\(entry.pid)", "expired": "\(formatRFC3339(entry.expiresAt!))",
        ])
    }
  }

  // MARK: - Status

  /// Tells the observers what is pending, when it changed.
  private func publishPending() async {
    var applies: [String] = []
    for (name, runner) in runners.sorted(by: { $0.key < $1.key }) where runner.schedule.current != nil {
      if let error = runner.targetError, runner.targets == nil {
        applies.append("\(name): cannot find its targets: \(error)")
      }
      if let error = runner.peerError, runner.peers == nil {
        applies.append("\(name): cannot resolve its peers: \(error)")
      }
    }
    for (slot, retry) in applyRetries.sorted(by: { $0.key < $1.key }) {
      applies.append(
        "\(slot): \(retry.lastError) (attempt \(retry.failures), next at \(formatRFC3339(retry.retryAt)))")
    }
    let reverts = open.sorted(by: { $0.key < $1.key }).compactMap { slot, tracked in
      tracked.closing.map {
        "\(slot): \($0.retry.lastError) (attempt \($0.retry.failures), next at \(formatRFC3339($0.retry.retryAt)))"
      }
    }
    guard (applies, reverts) != lastPending else { return }
    lastPending = (applies, reverts)
    await windows.notify(.pending(applies: applies, reverts: reverts))
  }

  // MARK: - Shutdown

  private func shutdown() async {
    logger.info("shutting down: reverting active faults")
    for name in runners.keys { runners[name]?.follow?.signal() }
    var reverted = 0
    for attempt in 1...max(1, configuration.shutdownRevertAttempts) {
      for slot in open.keys.sorted() {
        let before = open.count
        await close(slot, reason: open[slot]?.closing?.reason ?? .signal)
        if open.count < before { reverted += 1 }
      }
      if open.isEmpty { break }
      if attempt < configuration.shutdownRevertAttempts {
        try? await clock.sleep(for: configuration.revertBackoff.delay(attempt: attempt))
      }
    }
    for tracked in open.values {
      logger.error(
        "revert failed at exit; its journal entry stays for the next start or revert --all",
        metadata: ["id": "\(tracked.window.experiment.id)", "target": "\(tracked.targetKey)"])
      windows.abandon(tracked.window)
    }
    // Anything else this process journaled (e.g. a window caught between apply and record).
    let tracked = Set(open.values.map(\.window.active.entry.id))
    let (swept, _) = await windows.reconcile { $0.isOwnedByThisProcess && !tracked.contains($0.id) }
    reverted += swept
    logger.info("shutdown complete", metadata: ["reverted": "\(reverted)", "left": "\(open.count)"])
  }
}

extension AgentService {
  /// The target source of each profile: its fixed target, or the pods it selects.
  public struct TargetSources: Sendable {
    /// The pods on this node; nil when the agent has no node name or API.
    public let pods: (any PodTargetSource)?
    /// The addresses of peer pods anywhere in the cluster; nil without an API.
    public let podAddresses: (any PodAddressSource)?
    /// Why there are no pods, said to profiles that target pods when ``pods`` is nil.
    public let podsUnavailable: String

    /// Sources finding pods through `pods`.
    public init(
      pods: (any PodTargetSource)?, podAddresses: (any PodAddressSource)? = nil,
      podsUnavailable: String =
        "profile targets pods: set --node-name or NODE_NAME (and --kube-api outside a cluster)"
    ) {
      self.pods = pods
      self.podAddresses = podAddresses
      self.podsUnavailable = podsUnavailable
    }

    /// Where `profile`'s targets come from.
    public func source(for profile: Profile) -> any TargetSource {
      guard let selector = profile.pods else { return FixedTargetSource(profile.target) }
      guard let pods else { return UnavailableTargetSource(TargetSourceError(message: podsUnavailable)) }
      return PodSelectorSource(
        selector: selector, profile: profile.name, interface: profile.target.interface, pods: pods)
    }
  }
}

/// Why a profile's targets cannot be found.
public struct TargetSourceError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What to tell the user.
  public let message: String

  /// An error saying `message`.
  public init(message: String) { self.message = message }

  /// What to print.
  public var description: String { message }
}
