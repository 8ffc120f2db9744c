import AgentTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

@testable import FaultAgent

/// What a consuming task saw of a watcher's stream.
private final class EventLog: Sendable {
  private struct State {
    var count = 0
    var ended = false
  }
  private let state = Mutex(State())

  var count: Int { state.withLock { $0.count } }
  var ended: Bool { state.withLock { $0.ended } }
  func record() { state.withLock { $0.count += 1 } }
  func end() { state.withLock { $0.ended = true } }
}

/// The event count once the watcher has been quiet for a moment, so that a later increase is caused
/// by what the test does next.
private func settledCount(_ log: EventLog) async throws -> Int {
  try await Task.sleep(for: .milliseconds(300))
  return log.count
}

/// Runs `body` while a child task counts `watcher`'s events; cancels that task afterwards.
private func watching(_ watcher: DirectoryWatcher, _ body: (EventLog) async throws -> Void) async throws {
  let log = EventLog()
  try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      for await _ in watcher.events(settle: .milliseconds(50)) { log.record() }
      log.end()
    }
    do { try await body(log) } catch {
      group.cancelAll()
      throw error
    }
    group.cancelAll()
  }
}

/// A fresh temporary directory holding the watched `profiles` directory, removed after `body`.
private func withProfilesDirectory(_ body: (_ root: String, _ profiles: String) async throws -> Void)
  async throws
{
  let root = FileManager.default.temporaryDirectory.appendingPathComponent(
    "faultline-watch-\(UUID().uuidString)"
  )
  .path
  let profiles = "\(root)/profiles"
  try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: root) }
  try await body(root, profiles)
}

private func write(_ text: String, to path: String) throws {
  try text.write(toFile: path, atomically: false, encoding: .utf8)
}

@Suite("Directory watcher: events, and re-arming when the directory is replaced")
struct DirectoryWatcherTests {
  @Test("writing a file in the directory yields an event")
  func fileWrite() async throws {
    try await withProfilesDirectory { _, profiles in
      let watcher = try DirectoryWatcher(path: profiles)
      try await watching(watcher) { log in
        try write("name: a\n", to: "\(profiles)/a.yaml")
        #expect(await eventually { log.count >= 1 })
        #expect(watcher.isArmed)
      }
    }
  }

  @Test("a directory renamed away and re-created at the path is watched again")
  func renamedAndRecreated() async throws {
    try await withProfilesDirectory { root, profiles in
      let watcher = try DirectoryWatcher(path: profiles)
      try await watching(watcher) { log in
        try FileManager.default.moveItem(atPath: profiles, toPath: "\(root)/old")
        #expect(await eventually { !watcher.isArmed })
        #expect(await eventually { log.count >= 1 })
        let beforeRecreate = try await settledCount(log)

        try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: false)
        try write("name: a\n", to: "\(profiles)/a.yaml")
        #expect(await eventually { log.count > beforeRecreate })
        #expect(watcher.isArmed)

        // The new directory is the one watched now: a later write is seen too.
        let afterRearm = try await settledCount(log)
        try write("name: b\n", to: "\(profiles)/b.yaml")
        #expect(await eventually { log.count > afterRearm })
      }
    }
  }

  @Test("a removed directory is retried until it is back, then watched again")
  func removedAndRecreated() async throws {
    try await withProfilesDirectory { _, profiles in
      try write("name: a\n", to: "\(profiles)/a.yaml")
      let watcher = try DirectoryWatcher(path: profiles)
      try await watching(watcher) { log in
        try FileManager.default.removeItem(atPath: profiles)
        #expect(await eventually { !watcher.isArmed })
        #expect(await eventually { log.count >= 1 })
        // Longer than the re-arm interval: the retries find nothing and yield nothing.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(!watcher.isArmed)
        let beforeRecreate = log.count

        try FileManager.default.createDirectory(atPath: profiles, withIntermediateDirectories: false)
        try write("name: b\n", to: "\(profiles)/b.yaml")
        #expect(await eventually { log.count > beforeRecreate })
        #expect(watcher.isArmed)

        let afterRearm = try await settledCount(log)
        try write("name: c\n", to: "\(profiles)/c.yaml")
        #expect(await eventually { log.count > afterRearm })
      }
    }
  }

  @Test("a symlink pointed at another directory is followed there, without any inotify event")
  func symlinkRetargeted() async throws {
    try await withProfilesDirectory { root, _ in
      for name in ["a", "b"] {
        try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: false)
      }
      try FileManager.default.createSymbolicLink(atPath: "\(root)/current", withDestinationPath: "a")
      let watcher = try DirectoryWatcher(path: "\(root)/current", rearmInterval: .milliseconds(200))
      try await watching(watcher) { log in
        // How git-sync publishes a new worktree: a new link renamed over the old one.
        try FileManager.default.createSymbolicLink(atPath: "\(root)/next", withDestinationPath: "b")
        #expect(rename("\(root)/next", "\(root)/current") == 0)
        #expect(await eventually { log.count >= 1 })
        #expect(watcher.isArmed)

        let afterSwap = try await settledCount(log)
        try write("name: b\n", to: "\(root)/b/b.yaml")
        #expect(await eventually { log.count > afterSwap })
      }
    }
  }

  @Test("cancelling the consuming task ends the stream; a later stream still works")
  func cancellationEndsTheStream() async throws {
    try await withProfilesDirectory { _, profiles in
      let watcher = try DirectoryWatcher(path: profiles)
      let log = EventLog()
      // A task handle rather than a task group: if the stream failed to end, waiting for a group
      // would hang the test instead of failing it.
      let consumer = Task {
        for await _ in watcher.events(settle: .milliseconds(50)) { log.record() }
        log.end()
      }
      try write("name: a\n", to: "\(profiles)/a.yaml")
      #expect(await eventually { log.count >= 1 })
      consumer.cancel()
      #expect(await eventually { log.ended })
      if log.ended { await consumer.value }

      try await watching(watcher) { second in
        try write("name: b\n", to: "\(profiles)/b.yaml")
        #expect(await eventually { second.count >= 1 })
      }
    }
  }

  @Test("inotify records are parsed with their names, and self events end the watch")
  func parsesRecords() {
    var bytes: [UInt8] = []
    func append(wd: Int32, mask: UInt32, cookie: UInt32, name: String, length: Int) {
      withUnsafeBytes(of: wd) { bytes += $0 }
      withUnsafeBytes(of: mask) { bytes += $0 }
      withUnsafeBytes(of: cookie) { bytes += $0 }
      withUnsafeBytes(of: UInt32(length)) { bytes += $0 }
      bytes += Array(name.utf8) + Array(repeating: 0, count: length - name.utf8.count)
    }
    append(wd: 1, mask: UInt32(IN_MOVED_TO), cookie: 7, name: "a.yaml", length: 16)
    append(wd: 1, mask: UInt32(IN_MOVE_SELF), cookie: 0, name: "", length: 0)
    append(wd: -1, mask: UInt32(IN_Q_OVERFLOW), cookie: 0, name: "", length: 0)
    let records = bytes.withUnsafeBytes { InotifyRecord.parse($0) }
    #expect(
      records == [
        InotifyRecord(wd: 1, mask: UInt32(IN_MOVED_TO), cookie: 7, name: "a.yaml"),
        InotifyRecord(wd: 1, mask: UInt32(IN_MOVE_SELF), cookie: 0, name: ""),
        InotifyRecord(wd: -1, mask: UInt32(IN_Q_OVERFLOW), cookie: 0, name: ""),
      ])
    #expect(records.map(\.endsWatch) == [false, true, false])
    #expect(records.map(\.isOverflow) == [false, false, true])
    // A record cut short is dropped rather than read past the end.
    let truncated = bytes[..<20].withUnsafeBytes { InotifyRecord.parse($0) }
    #expect(truncated.isEmpty)
  }
}
