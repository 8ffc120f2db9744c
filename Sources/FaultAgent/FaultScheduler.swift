import FaultModel
import Foundation
import Logging
import ServiceLifecycle

/// How `faultline run` schedules profiles.
public struct SchedulerConfiguration: Sendable {
  /// The profile directory (`--profiles DIR`; no default).
  public var profilesDirectory: String
  /// The longest a scheduled window may last (`--max-duration`, default 1h); also the length of a
  /// scheduled window whose profile has no `duration`.
  public var maxDuration: Duration
  /// How often the profile directory is checked for changes when inotify is unavailable (default 1s);
  /// with inotify (the normal case) changes are seen as they happen and nothing polls.
  public var reloadInterval: Duration
  /// How faultline runs (`chaos.experiment.mode`); nil (the default) derives it per profile:
  /// `sidecar` for a profile on the agent's own namespace, `daemonset` for one reaching into others.
  public var mode: AgentMode?
  /// Where each targeted pod's windows are also published, as `DIR/<pod-uid>/annotations`
  /// (`--pod-annotations-dir DIR`; default: nowhere). The app container mounts its own file with
  /// `subPathExpr: $(POD_UID)`.
  public var podAnnotationsDirectory: String?
  /// Also patch the `chaos.experiment/*` annotations onto each pod's Pod object (`--annotate-pods`).
  public var annotatePods: Bool

  /// A configuration with the documented defaults.
  public init(
    profilesDirectory: String, maxDuration: Duration = .seconds(3600), reloadInterval: Duration = .seconds(1),
    mode: AgentMode? = nil, podAnnotationsDirectory: String? = nil, annotatePods: Bool = false
  ) {
    self.profilesDirectory = profilesDirectory
    self.maxDuration = maxDuration
    self.reloadInterval = reloadInterval
    self.mode = mode
    self.podAnnotationsDirectory = podAnnotationsDirectory
    self.annotatePods = annotatePods
  }
}

/// The `faultline run` service: loads the profiles, runs each profile's windows (one child task per
/// profile), reloads the directory when it changes, and reverts everything on graceful shutdown.
///
/// Start-up reverts faults journaled by processes that are gone (`crash_recovery`). A scheduled profile
/// sleeps until its next fire time, applies its fault for `duration` (capped by `maxDuration`) and
/// reverts it (`duration_elapsed`); a fire that comes while the window still runs is skipped. An
/// unscheduled profile is applied once and held until shutdown (`signal`) or until it is removed or
/// changed. A profile whose fault parameters alone change keeps its window: the qdisc is replaced
/// in place with exactly the new parameters (no gap, no revert). A change of schedule, duration,
/// time zone or target stops the profile (reverting its fault) and starts it again.
///
/// A profile with `target.pods` (DaemonSet mode) resolves its pods through ``PodTargetSource`` when
/// its window opens and opens one window per pod (spans carry `k8s.pod.name`, `k8s.namespace.name`,
/// `k8s.pod.uid`). While the window is open the pods are watched: a pod that becomes selected gets
/// the fault, a pod that goes away (or whose network namespace changed) has its window closed; a
/// namespace that vanished with its pod reverts as `nothing_to_revert`, not as an error. A failure on
/// one pod is logged (and recorded on its span) and does not stop the others.
public actor FaultScheduler: Service {
  private let configuration: SchedulerConfiguration
  private let windows: FaultWindows
  private let logger: Logger
  /// Where pod-targeting profiles find their pods; nil when the agent has no node name.
  private let podSource: (any PodTargetSource)?

  /// The per-pod windows of each pod-targeting profile whose window is open, by profile name.
  private var podWindows: [String: PodWindowSet] = [:]
  /// The per-pod annotation files written so far, by pod UID.
  private var podAnnotations: [String: AnnotationWriter] = [:]

  /// One pod-targeting profile's open window: when it opened, how long it lasts, and its pods.
  private struct PodWindowSet {
    var openedAt: ContinuousClock.Instant
    var duration: Duration?
    var pods: [String: PodWindow] = [:]
  }

  /// The window open on one pod.
  private struct PodWindow {
    var pod: PodTarget
    var window: OpenWindow
  }

  /// The window each profile has open now, by profile name.
  private var active: [String: OpenWindow] = [:]
  /// The running profile tasks, by profile name.
  private var runners: [String: Runner] = [:]
  /// The last good version of each profile, by name.
  private var current: [String: Profile] = [:]

  private struct Runner {
    var profile: Profile
    var stop: AsyncStream<Void>.Continuation
    var done: AsyncStream<Void>
  }

  /// A scheduler opening and closing fault windows through `windows`, finding the pods of
  /// pod-targeting profiles through `pods` (nil: such profiles fail with "set --node-name or NODE_NAME").
  public init(
    configuration: SchedulerConfiguration, windows: FaultWindows, pods: (any PodTargetSource)? = nil,
    logger: Logger
  ) {
    self.configuration = configuration
    self.windows = windows
    self.podSource = pods
    self.logger = logger
  }

  /// Runs until graceful shutdown, then reverts every fault this process applied.
  public func run() async throws {
    await publishIdle()
    let recovered = await windows.reconcile()
    if recovered > 0 {
      logger.info("reconciled orphaned faults", metadata: ["count": "\(recovered)"])
    }
    windows.metrics?.markReady()
    await cancelWhenGracefulShutdown { await self.supervise() }
    logger.info("shutting down: reverting active faults")
    let open = Array(active.values)
    active.removeAll()
    var reverted = await windows.revertOwn(reason: .signal, windows: open)
    for name in podWindows.keys.sorted() { reverted += await closePodWindows(name, reason: .signal) }
    // Anything else this process journaled (a window caught between apply and record).
    let pid = getpid()
    let started = Journal.processStartTime(pid)
    reverted += await windows.reconcile(where: { $0.pid == pid && $0.processStart == (started ?? 0) })
    await publishIdle()
    logger.info("shutdown complete", metadata: ["reverted": "\(reverted)"])
  }

  /// Rewrites the annotation file with what is active (`active="false"` when nothing is).
  private func publishIdle() async {
    guard let annotations = windows.annotations else { return }
    do { try await annotations.write() } catch {
      logger.warning(
        "cannot write the annotation file",
        metadata: ["path": "\(annotations.url.path)", "error": "\(error)"])
    }
  }

  // MARK: - Supervision

  /// Starts, stops and restarts profile tasks as the directory's profiles change.
  private func supervise() async {
    let (loads, loadSink) = AsyncStream.makeStream(of: ProfileLoadResult.self)
    await withDiscardingTaskGroup { group in
      group.addTask { await self.watch(into: loadSink) }
      for await result in loads {
        let (stop, start, retune) = apply(result)
        for name in stop { await stopRunner(name) }
        for profile in retune { await retuneWindow(profile) }
        for profile in start {
          let (stopStream, stopSink) = AsyncStream.makeStream(of: Void.self)
          let (doneStream, doneSink) = AsyncStream.makeStream(of: Void.self)
          runners[profile.name] = Runner(profile: profile, stop: stopSink, done: doneStream)
          group.addTask {
            await self.runProfile(profile, stop: stopStream)
            doneSink.finish()
          }
        }
      }
      group.cancelAll()
    }
  }

  /// Diffs a new load against the running profiles; keeps the last good version of profiles whose
  /// file has problems. Returns the names to stop, the profiles to (re)start, and the profiles
  /// whose fault parameters alone changed (re-applied in place).
  private func apply(_ result: ProfileLoadResult) -> (stop: [String], start: [Profile], retune: [Profile]) {
    if !result.issues.isEmpty { windows.metrics?.recordReloadError() }
    for issue in result.issues {
      logger.error(
        "profile problem; keeping the last good version",
        metadata: ["location": "\(issue.file):\(issue.line):\(issue.column)", "problem": "\(issue)"])
    }
    let brokenFiles = Set(result.issues.map(\.file))
    var next: [String: Profile] = [:]
    for profile in result.profiles where !brokenFiles.contains(profile.source.file) {
      next[profile.name] = profile
    }
    for (name, profile) in current where brokenFiles.contains(profile.source.file) && next[name] == nil {
      next[name] = profile
    }
    var stop: [String] = []
    var start: [Profile] = []
    var retune: [Profile] = []
    for (name, old) in current {
      if let new = next[name] {
        if Self.sameWindows(old, new) && old.fault != new.fault {
          logger.info(
            "profile fault changed; re-applying in place",
            metadata: ["profile": "\(name)", "fault": "\(new.fault.summary)"])
          runners[name]?.profile = new
          retune.append(new)
        } else if !Self.sameWindows(old, new) {
          logger.info("profile changed", metadata: ["profile": "\(name)", "source": "\(new.source)"])
          stop.append(name)
          start.append(new)
        }
      } else {
        logger.info("profile removed", metadata: ["profile": "\(name)"])
        stop.append(name)
      }
    }
    for (name, new) in next where current[name] == nil {
      logger.info(
        "profile loaded",
        metadata: [
          "profile": "\(name)", "source": "\(new.source)",
          "schedule": "\(new.schedule?.description ?? "none")",
          "duration": "\(new.duration.map { "\($0)" } ?? "none")", "target": "\(new.target)",
        ])
      start.append(new)
    }
    current = next
    return (stop, start.sorted { $0.name < $1.name }, retune)
  }

  /// Whether two versions of a profile open the same windows on the same target.
  private static func sameWindows(_ a: Profile, _ b: Profile) -> Bool {
    a.schedule == b.schedule && a.duration == b.duration && a.timeZone == b.timeZone && a.target == b.target
      && a.pods == b.pods
  }

  /// The latest good version of a profile (its fault may have changed since its task started).
  private func latest(_ name: String) -> Profile? { current[name] }

  /// Replaces the fault of a profile's open window in place with its new parameters.
  private func retuneWindow(_ profile: Profile) async {
    if profile.pods != nil {
      await retunePodWindows(profile)
      return
    }
    guard var window = active[profile.name] else { return }
    do {
      try await windows.reapply(&window, fault: profile.fault)
      active[profile.name] = window
      logger.info(
        "re-applied", metadata: ["profile": "\(profile.name)", "tc": "\(window.active.report.tcLine)"])
    } catch {
      logger.error(
        "re-apply failed; the previous parameters stay",
        metadata: ["profile": "\(profile.name)", "error": "\(error)"])
    }
  }

  /// Stops a profile's task, waits for it, and reverts its fault (`profile_removed`).
  private func stopRunner(_ name: String) async {
    guard let runner = runners.removeValue(forKey: name) else { return }
    runner.stop.yield()
    runner.stop.finish()
    for await _ in runner.done {}
    if let window = active.removeValue(forKey: name) {
      do {
        try await windows.close(window, reason: .profileRemoved)
      } catch {
        logger.error("revert failed", metadata: ["profile": "\(name)", "error": "\(error)"])
      }
    }
    await closePodWindows(name, reason: .profileRemoved)
  }

  /// Yields a load at start and whenever the files' contents change: woken by inotify, or (when
  /// inotify is unavailable) by checking every `reloadInterval`.
  private nonisolated func watch(into sink: AsyncStream<ProfileLoadResult>.Continuation) async {
    let directory = configuration.profilesDirectory
    var last: [String: Data]?
    func reloadIfChanged() {
      let snapshot = Self.snapshot(directory)
      guard snapshot != last else { return }
      if last != nil { logger.info("profile directory changed; reloading") }
      last = snapshot
      sink.yield(ProfileFiles.loadDirectory(directory))
    }
    let watcher: DirectoryWatcher?
    do { watcher = try DirectoryWatcher(path: directory) } catch {
      logger.warning(
        "inotify unavailable; checking the profile directory periodically",
        metadata: [
          "directory": "\(directory)", "error": "\(error)", "interval": "\(configuration.reloadInterval)",
        ])
      watcher = nil
    }
    reloadIfChanged()
    if let watcher {
      for await _ in watcher.events() {
        if Task.isCancelled { break }
        reloadIfChanged()
      }
    } else {
      while !Task.isCancelled {
        try? await Task.sleep(for: configuration.reloadInterval)
        reloadIfChanged()
      }
    }
    sink.finish()
  }

  private static func snapshot(_ directory: String) -> [String: Data] {
    let files = (try? ProfileFiles.list(in: directory)) ?? []
    var contents: [String: Data] = [:]
    for file in files { contents[file] = FileManager.default.contents(atPath: file) ?? Data() }
    return contents
  }

  // MARK: - Windows

  /// Runs one profile's windows until `stop` yields or the task is cancelled.
  private nonisolated func runProfile(_ profile: Profile, stop: AsyncStream<Void>) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.scheduleWindows(profile) }
      group.addTask {
        for await _ in stop { break }
      }
      // Whichever ends first (stopped, or a schedule with no more fires) ends the other.
      await group.next()
      group.cancelAll()
    }
  }

  private nonisolated func scheduleWindows(_ profile: Profile) async {
    guard let schedule = profile.schedule else {
      guard await applyWindow(profile, duration: nil) else { return }
      _ = await hold(profile, for: nil)
      return
    }
    let anchor = Date()
    let cap = configuration.maxDuration
    let length = profile.duration.map { min($0, cap) } ?? cap
    while !Task.isCancelled {
      guard let fire = schedule.nextFire(after: Date(), anchor: anchor, timeZone: profile.timeZone) else {
        logger.info("schedule has no more fire times", metadata: ["profile": "\(profile.name)"])
        return
      }
      logger.info(
        "next window", metadata: ["profile": "\(profile.name)", "at": "\(formatRFC3339(fire))"])
      let wait = fire.timeIntervalSinceNow
      if wait > 0 {
        do { try await Task.sleep(for: .nanoseconds(Int64(wait * 1e9))) } catch { return }
      }
      logger.info("fire", metadata: ["profile": "\(profile.name)", "schedule": "\(schedule)"])
      guard await applyWindow(await latest(profile.name) ?? profile, duration: length) else { continue }
      // The window ends at its nominal time (fire + length): the apply's own delay is not added on.
      // A cancelled hold returns false: the stopper reverts.
      let late = Duration.nanoseconds(Int64(max(0, -fire.timeIntervalSinceNow) * 1e9))
      guard await hold(profile, for: max(.zero, length - late)) else { return }
      await revertWindow(profile.name, reason: .durationElapsed)
      if let skipped = schedule.nextFire(after: fire, anchor: anchor, timeZone: profile.timeZone),
        skipped < Date()
      {
        logger.info(
          "fire skipped: the previous window was still running",
          metadata: ["profile": "\(profile.name)", "at": "\(formatRFC3339(skipped))"])
      }
    }
  }

  /// Applies the profile's fault; records it as the profile's active fault.
  private nonisolated func applyWindow(_ profile: Profile, duration: Duration?) async -> Bool {
    if profile.pods != nil { return await openPodWindows(profile, duration: duration) }
    let experiment = Experiment(
      name: profile.name, target: profile.target, fault: profile.fault, duration: duration,
      mode: configuration.mode
        ?? (profile.target.namespace == .current && profile.pods == nil ? .sidecar : .daemonset),
      profile: profile.source.file, schedule: profile.schedule?.description)
    do {
      let window = try await windows.open(experiment)
      await record(profile.name, window)
      logger.info(
        "applied",
        metadata: [
          "profile": "\(profile.name)", "id": "\(experiment.id)", "tc": "\(window.active.report.tcLine)",
          "duration": "\(duration.map { "\($0)" } ?? "until stopped")",
        ])
      return true
    } catch {
      logger.error(
        "apply failed",
        metadata: ["profile": "\(profile.name)", "source": "\(profile.source)", "error": "\(error)"])
      return false
    }
  }

  private func record(_ name: String, _ window: OpenWindow) { active[name] = window }

  private func revertWindow(_ name: String, reason: RevertReason) async {
    await closePodWindows(name, reason: reason)
    guard let window = active.removeValue(forKey: name) else { return }
    do {
      try await windows.close(window, reason: reason)
    } catch {
      logger.error("revert failed", metadata: ["profile": "\(name)", "error": "\(error)"])
    }
  }
}

// MARK: - Pod windows (DaemonSet mode)

extension FaultScheduler {
  /// Holds an open window for `length` (nil: until cancelled). For a pod-targeting profile the pods
  /// are watched meanwhile, so pods that come and go during the window get and lose the fault.
  /// Returns false when the task was cancelled (the stopper closes the window).
  private nonisolated func hold(_ profile: Profile, for length: Duration?) async -> Bool {
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        if let length {
          try? await Task.sleep(for: length)
        } else {
          while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        }
      }
      if let selector = profile.pods, let source = podSource {
        group.addTask { await self.followPods(profile, selector, source: source) }
      }
      await group.next()
      group.cancelAll()
    }
    return !Task.isCancelled
  }

  /// Keeps a profile's pod windows in step with the pods the source selects, until cancelled.
  private nonisolated func followPods(
    _ profile: Profile, _ selector: PodSelector, source: any PodTargetSource
  ) async {
    let name = profile.name
    while !Task.isCancelled {
      do {
        try await source.watch(selector, profile: name, interface: profile.target.interface) { targets in
          await self.syncPods(name, targets)
        }
      } catch is CancellationError {
        return
      } catch {
        if Task.isCancelled { return }
        logger.warning(
          "pod watch failed; retrying in 5s", metadata: ["profile": "\(name)", "error": "\(error)"])
      }
      try? await Task.sleep(for: .seconds(5))
    }
  }

  /// Opens a pod-targeting profile's window: resolves its pods now and opens one window per pod.
  /// False when the pods cannot be resolved (no node name, API unreachable); true otherwise, even
  /// when no pod is selected yet (pods that appear later get the fault).
  private func openPodWindows(_ profile: Profile, duration: Duration?) async -> Bool {
    guard let selector = profile.pods else { return false }
    guard let podSource else {
      logger.error(
        "profile targets pods: set --node-name or NODE_NAME (and --kube-api outside a cluster)",
        metadata: ["profile": "\(profile.name)", "source": "\(profile.source)", "pods": "\(selector)"])
      return false
    }
    let targets: [PodTarget]
    do {
      targets = try await podSource.resolve(
        selector, profile: profile.name, interface: profile.target.interface)
    } catch {
      logger.error(
        "cannot resolve the profile's pods",
        metadata: ["profile": "\(profile.name)", "pods": "\(selector)", "error": "\(error)"])
      return false
    }
    podWindows[profile.name] = PodWindowSet(openedAt: .now, duration: duration)
    if targets.isEmpty {
      logger.warning(
        "no pod selected on this node; pods that appear during the window get the fault",
        metadata: ["profile": "\(profile.name)", "pods": "\(selector)"])
    }
    await syncPods(profile.name, targets, profile: profile)
    return true
  }

  /// Closes the windows of pods no longer in `targets` (or whose namespace changed) and opens
  /// windows on the new ones. Ignored when the profile's window is not open.
  private func syncPods(_ name: String, _ targets: [PodTarget], profile: Profile? = nil) async {
    guard let set = podWindows[name] else { return }
    let wanted = Dictionary(targets.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
    for (uid, open) in set.pods.sorted(by: { $0.key < $1.key })
    where wanted[uid]?.netnsInode != open.pod.netnsInode {
      podWindows[name]?.pods[uid] = nil
      logger.info(
        "pod left the selection; closing its window",
        metadata: ["profile": "\(name)", "pod": "\(open.pod.qualifiedName)", "uid": "\(uid)"])
      await closePod(name, open, reason: .profileRemoved)
    }
    for target in targets {
      guard let set = podWindows[name], set.pods[target.uid] == nil,
        let profile = current[name] ?? profile
      else { continue }
      var duration = set.duration
      if let length = set.duration {
        let left = length - (ContinuousClock.now - set.openedAt)
        guard left > .zero else { return }
        duration = left
      }
      await openPod(profile, target, duration: duration)
    }
  }

  /// Opens one pod's window and publishes it to the pod's annotation file. A failure is logged (its
  /// span records the error) and leaves the other pods alone.
  private func openPod(_ profile: Profile, _ pod: PodTarget, duration: Duration?) async {
    let experiment = Experiment(
      name: profile.name, target: pod.target, fault: profile.fault, duration: duration,
      mode: configuration.mode ?? .daemonset, profile: profile.source.file,
      schedule: profile.schedule?.description, attributes: pod.attributes)
    let window: OpenWindow
    do {
      window = try await windows.open(experiment)
    } catch {
      logger.error(
        "apply failed on a pod; the other pods keep their fault",
        metadata: [
          "profile": "\(profile.name)", "pod": "\(pod.qualifiedName)", "uid": "\(pod.uid)",
          "target": "\(pod.target)", "error": "\(error)",
        ])
      return
    }
    guard podWindows[profile.name] != nil, podWindows[profile.name]?.pods[pod.uid] == nil else {
      // The window ended (or another update opened this pod) while this one was applying.
      try? await windows.close(window, reason: .profileRemoved)
      return
    }
    podWindows[profile.name]?.pods[pod.uid] = PodWindow(pod: pod, window: window)
    await publishPod(pod.uid) {
      try await $0.started(experiment, at: window.active.entry.startedAt, traceparent: window.traceparent)
    }
    await annotatePod(
      pod,
      podObjectAnnotations(experiment, start: window.active.entry.startedAt, traceparent: window.traceparent))
    logger.info(
      "applied",
      metadata: [
        "profile": "\(profile.name)", "pod": "\(pod.qualifiedName)", "uid": "\(pod.uid)",
        "id": "\(experiment.id)", "target": "\(pod.target)", "tc": "\(window.active.report.tcLine)",
        "duration": "\(duration.map { "\($0)" } ?? "until stopped")",
      ])
  }

  /// Closes every pod window of a profile; returns how many reverted without error.
  @discardableResult
  private func closePodWindows(_ name: String, reason: RevertReason) async -> Int {
    guard let set = podWindows.removeValue(forKey: name) else { return 0 }
    var count = 0
    for (_, open) in set.pods.sorted(by: { $0.key < $1.key }) {
      if await closePod(name, open, reason: reason) { count += 1 }
    }
    return count
  }

  /// Reverts one pod's window (a namespace that vanished with its pod is `nothing_to_revert`) and
  /// marks it ended in the pod's annotation file.
  @discardableResult
  private func closePod(_ name: String, _ open: PodWindow, reason: RevertReason) async -> Bool {
    var ok = true
    do {
      let outcome = try await windows.close(open.window, reason: reason)
      logger.info(
        "reverted",
        metadata: [
          "profile": "\(name)", "pod": "\(open.pod.qualifiedName)", "uid": "\(open.pod.uid)",
          "reason": "\(reason.rawValue)", "outcome": "\(outcome)",
        ])
    } catch {
      ok = false
      logger.error(
        "revert failed on a pod",
        metadata: ["profile": "\(name)", "pod": "\(open.pod.qualifiedName)", "error": "\(error)"])
    }
    let id = open.window.experiment.id
    await publishPod(open.pod.uid) { try await $0.ended(id: id) }
    await annotatePod(open.pod, podObjectAnnotations(nil, start: Date(), traceparent: nil))
    if !podWindows.values.contains(where: { $0.pods[open.pod.uid] != nil }) {
      podAnnotations[open.pod.uid] = nil
    }
    return ok
  }

  /// Re-applies a pod-targeting profile's new fault parameters on each of its open pod windows.
  private func retunePodWindows(_ profile: Profile) async {
    guard let set = podWindows[profile.name] else { return }
    for (uid, open) in set.pods.sorted(by: { $0.key < $1.key }) {
      var window = open.window
      do {
        try await windows.reapply(&window, fault: profile.fault)
        guard podWindows[profile.name]?.pods[uid] != nil else { continue }
        podWindows[profile.name]?.pods[uid]?.window = window
        let (experiment, start, traceparent) = (
          window.experiment, window.active.entry.startedAt, window.traceparent
        )
        await publishPod(uid) { try await $0.started(experiment, at: start, traceparent: traceparent) }
        logger.info(
          "re-applied",
          metadata: [
            "profile": "\(profile.name)", "pod": "\(open.pod.qualifiedName)",
            "tc": "\(window.active.report.tcLine)",
          ])
      } catch {
        logger.error(
          "re-apply failed on a pod; the previous parameters stay",
          metadata: ["profile": "\(profile.name)", "pod": "\(open.pod.qualifiedName)", "error": "\(error)"])
      }
    }
  }

  /// Patches the Pod object's annotations (`--annotate-pods`), logging failures (never fatal).
  private func annotatePod(_ pod: PodTarget, _ annotations: [String: String?]) async {
    guard configuration.annotatePods, let source = podSource else { return }
    do { try await source.annotate(pod, with: annotations) } catch {
      logger.warning(
        "cannot annotate the pod", metadata: ["pod": "\(pod.qualifiedName)", "error": "\(error)"])
    }
  }

  /// Runs `body` on the pod's annotation file writer (`--pod-annotations-dir`), logging failures.
  private func publishPod(_ uid: String, _ body: (AnnotationWriter) async throws -> Void) async {
    guard let directory = configuration.podAnnotationsDirectory else { return }
    let writer: AnnotationWriter
    if let existing = podAnnotations[uid] {
      writer = existing
    } else {
      writer = AnnotationWriter(
        path: podAnnotationsPath(directory: directory, uid: uid), compatKey: windows.annotations?.compatKey)
      podAnnotations[uid] = writer
    }
    do { try await body(writer) } catch {
      logger.warning(
        "cannot write the pod's annotation file",
        metadata: ["path": "\(writer.url.path)", "error": "\(error)"])
    }
  }
}
