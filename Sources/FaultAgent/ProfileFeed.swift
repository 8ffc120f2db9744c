import FaultModel
import Foundation
import Logging

/// Where the agent's profiles come from.
public protocol ProfileFeed: Sendable {
  /// Calls `load` with the profiles at once, then again whenever they change, until the calling task
  /// is cancelled.
  func follow(_ load: @Sendable (ProfileLoadResult) async -> Void) async
}

/// The profiles in a directory (a mounted ConfigMap, a git-sync checkout), reloaded when its files
/// change: woken by inotify (re-armed when the directory is swapped), or, where inotify is
/// unavailable, by checking every `reloadInterval`.
public struct ProfileDirectoryFeed: ProfileFeed {
  /// The directory (`--profiles DIR`).
  public let directory: String
  /// How often to check when inotify is unavailable (default 1s).
  public let reloadInterval: Duration
  private let logger: Logger

  /// A source of the profiles in `directory`.
  public init(directory: String, reloadInterval: Duration = .seconds(1), logger: Logger) {
    self.directory = directory
    self.reloadInterval = reloadInterval
    self.logger = logger
  }

  /// Loads the directory at once, then again whenever its files change, until cancelled.
  public func follow(_ load: @Sendable (ProfileLoadResult) async -> Void) async {
    var last: [String: Data]?
    func reloadIfChanged() async {
      let snapshot = Self.snapshot(directory)
      guard snapshot != last else { return }
      if last != nil { logger.info("profile directory changed; reloading") }
      last = snapshot
      await load(ProfileFiles.loadDirectory(directory))
    }
    let watcher: DirectoryWatcher?
    do { watcher = try DirectoryWatcher(path: directory) } catch {
      logger.warning(
        "inotify unavailable; checking the profile directory periodically",
        metadata: ["directory": "\(directory)", "error": "\(error)", "interval": "\(reloadInterval)"])
      watcher = nil
    }
    await reloadIfChanged()
    if let watcher {
      for await _ in watcher.events() {
        if Task.isCancelled { break }
        await reloadIfChanged()
      }
    } else {
      while !Task.isCancelled {
        try? await Task.sleep(for: reloadInterval)
        await reloadIfChanged()
      }
    }
  }

  /// The bytes of every profile file, to tell a real change from an event that changed nothing.
  private static func snapshot(_ directory: String) -> [String: Data] {
    let files = (try? ProfileFiles.list(in: directory)) ?? []
    var contents: [String: Data] = [:]
    for file in files { contents[file] = FileManager.default.contents(atPath: file) ?? Data() }
    return contents
  }
}
