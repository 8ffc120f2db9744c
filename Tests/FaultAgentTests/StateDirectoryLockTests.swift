import FaultAgent
import Foundation
import Testing
import SystemPackage

/// A fresh temporary directory path (not created), removed after `body`.
private func withTemporaryPath<T>(_ body: (String) throws -> T) throws -> T {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent(
    "faultline-lock-\(UUID().uuidString)"
  )
  .path
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try body(path)
}

@Suite("State directory lock: one agent per state directory")
struct StateDirectoryLockTests {
  @Test("acquiring creates the directory and writes this process's pid into agent.lock")
  func acquireWritesPID() throws {
    try withTemporaryPath { root in
      let directory = "\(root)/nested/state"
      let lock = try StateDirectoryLock.acquire(directory: directory)
      #expect(lock.path == "\(directory)/agent.lock")
      #expect(try String(contentsOfFile: lock.path, encoding: .utf8) == "\(getpid())\n")
      let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
      #expect(mode.map { $0 & 0o700 } == 0o700)
    }
  }

  @Test("a second acquire while the first is held fails as held, naming the holder's pid")
  func secondAcquireIsHeld() throws {
    try withTemporaryPath { directory in
      let first = try StateDirectoryLock.acquire(directory: directory)
      let error = #expect(throws: StateDirectoryLockError.self) {
        try StateDirectoryLock.acquire(directory: directory)
      }
      #expect(error?.kind == .held)
      #expect(error?.holderPID == getpid())
      #expect(error?.exitCode == 8)
      #expect(
        error?.description
          == "another faultline run (pid \(getpid())) holds \(directory)/agent.lock: one agent per state "
          + "directory; stop that agent or give this one another --state-dir")
      // The loser leaves the holder's pid in place.
      #expect(try String(contentsOfFile: first.path, encoding: .utf8) == "\(getpid())\n")
    }
  }

  @Test("releasing the lock (deinit) lets the next agent take it")
  func releaseOnDeinit() throws {
    try withTemporaryPath { directory in
      var first: StateDirectoryLock? = try StateDirectoryLock.acquire(directory: directory)
      #expect(first != nil)
      first = nil
      let second = try StateDirectoryLock.acquire(directory: directory)
      #expect(second.path == "\(directory)/agent.lock")
    }
  }

  @Test("a stale pid from a killed holder does not block: only the lock counts")
  func stalePIDIsIgnored() throws {
    try withTemporaryPath { directory in
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      try "999999\n".write(toFile: "\(directory)/agent.lock", atomically: false, encoding: .utf8)
      let lock = try StateDirectoryLock.acquire(directory: directory)
      #expect(try String(contentsOfFile: lock.path, encoding: .utf8) == "\(getpid())\n")
    }
  }

  @Test("a directory that cannot be created is an unavailable error naming the path")
  func directoryCannotBeCreated() throws {
    try withTemporaryPath { root in
      // A file where a parent directory should be: mkdir fails with ENOTDIR, even for root.
      try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
      try "".write(toFile: "\(root)/file", atomically: false, encoding: .utf8)
      let error = #expect(throws: StateDirectoryLockError.self) {
        try StateDirectoryLock.acquire(directory: "\(root)/file/state")
      }
      #expect(error?.kind == .unavailable)
      #expect(error?.holderPID == nil)
      #expect(error?.errno == .notDirectory)
      #expect(error?.exitCode == 1)
      #expect(
        error?.description
          == "cannot create the state directory \(root)/file/state: Not a directory; a part of the path "
          + "is a file, not a directory; give the agent another --state-dir")
    }
  }

  @Test("a symlink at the lock path is refused, not followed")
  func symlinkIsRefused() throws {
    try withTemporaryPath { directory in
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      try "keep\n".write(toFile: "\(directory)/other", atomically: false, encoding: .utf8)
      try FileManager.default.createSymbolicLink(
        atPath: "\(directory)/agent.lock", withDestinationPath: "\(directory)/other")
      let error = #expect(throws: StateDirectoryLockError.self) {
        try StateDirectoryLock.acquire(directory: directory)
      }
      #expect(error?.kind == .unavailable)
      #expect(error?.errno == .tooManySymbolicLinkLevels)
      #expect(error?.description.contains("is a symbolic link") == true)
      #expect(try String(contentsOfFile: "\(directory)/other", encoding: .utf8) == "keep\n")
    }
  }
}
