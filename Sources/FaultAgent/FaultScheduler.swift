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

  /// A configuration with the documented defaults.
  public init(
    profilesDirectory: String, maxDuration: Duration = .seconds(3600), reloadInterval: Duration = .seconds(1),
    mode: AgentMode? = nil
  ) {
    self.profilesDirectory = profilesDirectory
    self.maxDuration = maxDuration
    self.reloadInterval = reloadInterval
    self.mode = mode
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
public actor FaultScheduler: Service {
  private let configuration: SchedulerConfiguration
  private let windows: FaultWindows
  private let logger: Logger

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

  /// A scheduler opening and closing fault windows through `windows`.
  public init(configuration: SchedulerConfiguration, windows: FaultWindows, logger: Logger) {
    self.configuration = configuration
    self.windows = windows
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
      sink.yield(ProfileLoader.loadDirectory(directory))
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
    let files = (try? ProfileLoader.profileFiles(in: directory)) ?? []
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
      while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
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
      do { try await Task.sleep(for: length) } catch { return }  // cancelled: the stopper reverts
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
    guard let window = active.removeValue(forKey: name) else { return }
    do {
      try await windows.close(window, reason: reason)
    } catch {
      logger.error("revert failed", metadata: ["profile": "\(name)", "error": "\(error)"])
    }
  }
}
