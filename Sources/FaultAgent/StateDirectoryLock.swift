import Glibc
import SystemCalls
import SystemPackage

/// Held for the life of `faultline run`: an exclusive flock(2) on `<state-dir>/agent.lock`.
///
/// Two agents on one state directory share one journal, so each takes the other's faults for a dead
/// predecessor's leftovers and reverts them. Taking this lock at start makes the second agent stop
/// instead, naming the first one's pid (written into the file for that message, nothing else).
///
/// flock rather than a pid file: the kernel drops the lock when the last descriptor of the open file
/// closes, including when the holder is killed with SIGKILL or by the OOM killer, so a crashed agent
/// never leaves a stale lock and nobody has to guess whether a pid is still alive or was reused. The
/// file itself stays behind; only the lock counts, never its content. Locks of separate `open`s
/// conflict even within one process. The descriptor is close-on-exec, so no child keeps the lock.
///
/// Written over Glibc: flock's semantics are the point here, and the package has no swift-system.
public final class StateDirectoryLock: Sendable {
  /// The lock file's name in the state directory.
  public static let fileName = "agent.lock"

  /// The lock file, `<state-dir>/agent.lock`.
  public let path: String
  private let descriptor: Int32

  private init(path: String, descriptor: Int32) {
    self.path = path
    self.descriptor = descriptor
  }

  /// Closing the descriptor releases the lock.
  deinit { close(descriptor) }

  /// Takes the lock of `directory` (created, with its parents, as 0755 if missing) without waiting.
  ///
  /// - Throws: ``StateDirectoryLockError`` of kind ``StateDirectoryLockError/Kind/held`` when another
  ///   process holds it (with that process's pid when the file has it), or
  ///   ``StateDirectoryLockError/Kind/unavailable`` when the directory or the file cannot be used.
  public static func acquire(directory: String) throws(StateDirectoryLockError) -> StateDirectoryLock {
    try createDirectory(directory, for: directory)
    let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
    // O_NOFOLLOW: a symlink planted at the lock path must not make a root agent truncate another file.
    let fd: Int32
    do { fd = try Errno.retrying { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644) } } catch {
      throw .cannotOpen(path, errno: error)
    }
    do { _ = try Errno.retrying { flock(fd, LOCK_EX | LOCK_NB) } } catch {
      let holder = error == .wouldBlock ? readPID(fd) : nil
      close(fd)
      throw error == .wouldBlock ? .held(path, holderPID: holder) : .cannotLock(path, errno: error)
    }
    do {
      _ = try Errno.retrying { ftruncate(fd, 0) }
      _ = try FileDescriptor(rawValue: fd).writeAll(toAbsoluteOffset: 0, Array("\(getpid())\n".utf8))
    } catch {
      close(fd)
      throw .cannotRecordPID(path, errno: error as? Errno ?? .ioError)
    }
    return StateDirectoryLock(path: path, descriptor: fd)
  }

  /// `mkdir -p` with mode 0755: an existing directory is fine.
  private static func createDirectory(
    _ directory: String, for stateDirectory: String
  ) throws(StateDirectoryLockError) {
    let made = Result { () throws(Errno) in try Errno.retrying { mkdir(directory, 0o755) } }
    guard case .failure(let code) = made, code != .fileExists else { return }
    guard code == .noSuchFileOrDirectory, let parent = parent(of: directory) else {
      throw .cannotCreateDirectory(directory, for: stateDirectory, errno: code)
    }
    try createDirectory(parent, for: stateDirectory)
    do { _ = try Errno.retrying { mkdir(directory, 0o755) } } catch  where error != .fileExists {
      throw .cannotCreateDirectory(directory, for: stateDirectory, errno: error)
    } catch {}
  }

  /// The directory containing `path`, or nil when there is none to create (`/`, a bare name).
  private static func parent(of path: String) -> String? {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return nil }
    let parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    return parent == String(trimmed) ? nil : parent
  }

  /// The pid the holder wrote, if the file holds one.
  private static func readPID(_ fd: Int32) -> Int32? {
    var buffer = [UInt8](repeating: 0, count: 32)
    let read = buffer.withUnsafeMutableBytes { raw in
      try? FileDescriptor(rawValue: fd).read(fromAbsoluteOffset: 0, into: raw)
    }
    guard let count = read, count > 0 else { return nil }
    let text = String(decoding: buffer[..<count], as: UTF8.self)
    guard let pid = Int32(text.trimmingWhitespace), pid > 0 else { return nil }
    return pid
  }
}

extension String {
  fileprivate var trimmingWhitespace: String {
    String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
  }
}
