import Foundation
import SystemCalls
import SystemPackage
import Glibc
import Synchronization

/// Wakes up when a directory's entries change, through inotify, and keeps watching the path when the
/// directory itself is replaced.
///
/// Watches the directory itself for entries created, deleted, renamed, written or re-linked, which
/// covers editors (write in place or write-and-rename) and Kubernetes ConfigMap volumes (the
/// `..data` symlink is swapped by a rename). A dedicated thread blocks in `poll(2)` on the inotify
/// descriptor and a wake-up pipe; ``events(settle:)`` yields once per burst of changes.
///
/// An inotify watch belongs to an inode, not to a path: once the directory is removed or renamed and
/// a new one appears at the same path (git-sync, a re-mounted volume), the old watch reports nothing
/// more and hot reload would end silently. So when the watched directory goes away the watcher drops
/// its watch and adds one on the path again, retrying every `rearmInterval` while the path is
/// missing, and yields once re-armed, because the new directory's files may differ. The same
/// interval also compares the path's device and inode with the watched directory's, which catches
/// replacements that send the old watch no event at all: a symlink pointed at another directory
/// (git-sync's `current` link) or a file system mounted over the path. That check is one `stat(2)`
/// per interval; the contents are never polled.
public final class DirectoryWatcher: Sendable {
  /// The directory watched (a symlink to one is followed, and re-resolved when re-arming).
  public let path: String
  /// How often the watcher retries a missing path and checks that the path still names the watched
  /// directory.
  public let rearmInterval: Duration
  private let inotify: Int32
  private let wake: (read: Int32, write: Int32)
  /// The current watch; nil while the path cannot be watched (the thread retries).
  private let watch: Mutex<Watch?>

  /// An inotify watch and the directory it was added for.
  private struct Watch {
    var descriptor: Int32
    var directory: FileIdentity
  }

  /// What a path resolves to: the same device and inode is the same directory.
  private struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64
  }

  private static let mask =
    UInt32(IN_CREATE) | UInt32(IN_DELETE) | UInt32(IN_MODIFY) | UInt32(IN_CLOSE_WRITE)
    | UInt32(IN_MOVED_FROM) | UInt32(IN_MOVED_TO) | UInt32(IN_ATTRIB) | UInt32(IN_DELETE_SELF)
    | UInt32(IN_MOVE_SELF)

  /// Starts watching `path`.
  /// - Parameters:
  ///   - path: the directory.
  ///   - rearmInterval: how often to retry while the directory is gone, and to check that the path
  ///     still names the watched directory (default 1 s).
  /// - Throws: ``SafeFileError`` when inotify is unavailable (e.g. the watch limit is reached) or
  ///   `path` cannot be watched now; only later disappearances are retried.
  public init(path: String, rearmInterval: Duration = .seconds(1)) throws(SafeFileError) {
    self.path = path
    self.rearmInterval = rearmInterval
    let fd: Int32
    do { fd = try Errno.retrying { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) } } catch {
      throw SafeFileError(operation: "inotify_init1", path: path, errno: error)
    }
    let first: Watch
    switch Self.addWatch(fd, path) {
    case .success(let added): first = added
    case .failure(let error):
      close(fd)
      throw error
    }
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else {
      let code = Errno.current
      close(fd)
      throw SafeFileError(operation: "pipe", path: path, errno: code)
    }
    for end in fds {
      _ = fcntl(end, F_SETFD, FD_CLOEXEC)
      _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
    }
    inotify = fd
    wake = (fds[0], fds[1])
    watch = Mutex(first)
  }

  deinit {
    close(inotify)
    close(wake.read)
    close(wake.write)
  }

  /// Whether a watch is in place; false from the moment the directory is found gone until it is
  /// back at the path.
  public var isArmed: Bool { watch.withLock { $0 != nil } }

  /// One element per burst of changes (events within `settle` of each other are coalesced), and one
  /// when the directory was replaced and is watched again. Ends when the consuming task is cancelled.
  ///
  /// Consume one stream at a time: each runs its own thread on the one inotify descriptor.
  public func events(settle: Duration = .milliseconds(100)) -> AsyncStream<Void> {
    let (stream, sink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let settleMs = Self.milliseconds(settle, minimum: 0)
    let rearmMs = Self.milliseconds(rearmInterval, minimum: 1)
    let thread = Thread { [self] in
      var buffer = [UInt8](repeating: 0, count: 4096)
      var fds = [
        pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
        pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
      ]
      watching: while true {
        // The timeout is the re-arm interval: a quiet interval checks the watch.
        guard (try? Errno.retrying { poll(&fds, 2, rearmMs) }) != nil else { break }
        if fds[1].revents != 0 { break }
        var changed = false
        if fds[0].revents != 0 {
          // Drain this burst: keep reading until `settle` passes with no new event.
          var lost = false
          while true {
            let burst = readRecords(into: &buffer)
            changed = changed || burst.changed
            lost = lost || burst.lost
            let more = (try? Errno.retrying { poll(&fds, 2, settleMs) }) ?? -1
            if more > 0 && fds[1].revents != 0 { break watching }
            if more <= 0 || fds[0].revents == 0 { break }
          }
          if lost { dropWatch() }
        }
        // After a burst too: an overflowed queue may have hidden the directory's replacement.
        if rearmIfReplaced() { changed = true }
        if changed { sink.yield() }
      }
      // Consume the wake-up byte so that a later stream does not end at once.
      var byte: UInt8 = 0
      while read(wake.read, &byte, 1) > 0 {}
      sink.finish()
    }
    thread.name = "faultline-watch"
    thread.start()
    sink.onTermination = { [wake] _ in
      var byte: UInt8 = 1
      _ = write(wake.write, &byte, 1)
    }
    return stream
  }

  /// Reads every pending record: whether any is about the current watch (or the queue overflowed),
  /// and whether the watched directory went away. Records of a dropped watch (its `IN_IGNORED`) are
  /// not changes.
  private func readRecords(into buffer: inout [UInt8]) -> (changed: Bool, lost: Bool) {
    let current = watch.withLock { $0?.descriptor }
    var changed = false
    var lost = false
    while true {
      // Until EAGAIN: the descriptor is non-blocking.
      let read = buffer.withUnsafeMutableBytes { raw in
        try? FileDescriptor(rawValue: inotify).read(into: raw)
      }
      guard let count = read, count > 0 else { break }
      let records = buffer.withUnsafeBytes {
        InotifyRecord.parse(UnsafeRawBufferPointer(rebasing: $0[..<count]))
      }
      for record in records {
        if record.isOverflow { changed = true }
        guard let current, record.wd == current else { continue }
        changed = true
        if record.endsWatch { lost = true }
      }
    }
    return (changed, lost)
  }

  /// Removes the watch (a renamed directory keeps its watch, which must not linger).
  private func dropWatch() {
    watch.withLock { current in
      if let descriptor = current?.descriptor { _ = inotify_rm_watch(inotify, descriptor) }
      current = nil
    }
  }

  /// Drops the watch when the path no longer names the watched directory, then adds one when there
  /// is none and the path exists. Returns whether the watch changed either way.
  private func rearmIfReplaced() -> Bool {
    watch.withLock { current in
      var changed = false
      if let existing = current, Self.identity(of: path) != existing.directory {
        _ = inotify_rm_watch(inotify, existing.descriptor)
        current = nil
        changed = true
      }
      if current == nil, case .success(let added) = Self.addWatch(inotify, path) {
        current = added
        changed = true
      }
      return changed
    }
  }

  /// Adds a watch on `path`. The identity is read before the watch is added: if the path is swapped
  /// in between, the next check sees a mismatch and re-arms once more, instead of never.
  private static func addWatch(_ inotify: Int32, _ path: String) -> Result<Watch, SafeFileError> {
    guard let directory = identity(of: path) else {
      return .failure(SafeFileError(operation: "stat", path: path, errno: .current))
    }
    do {
      let descriptor = try Errno.retrying { inotify_add_watch(inotify, path, mask) }
      return .success(Watch(descriptor: descriptor, directory: directory))
    } catch {
      return .failure(SafeFileError(operation: "inotify_add_watch", path: path, errno: error))
    }
  }

  /// The device and inode `path` resolves to (following symlinks), or nil when it does not exist.
  private static func identity(of path: String) -> FileIdentity? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
  }

  private static func milliseconds(_ duration: Duration, minimum: Int32) -> Int32 {
    let (seconds, attoseconds) = duration.components
    let total = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    return Int32(clamping: max(Int64(minimum), total))
  }
}
