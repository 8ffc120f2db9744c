import Foundation
import Glibc

/// Wakes up when a directory's entries change, through inotify: no polling.
///
/// Watches the directory itself for entries created, deleted, renamed, written or re-linked, which
/// covers editors (write in place or write-and-rename) and Kubernetes ConfigMap volumes (the
/// `..data` symlink is swapped by a rename). A dedicated thread blocks in `poll(2)` on the inotify
/// descriptor and a wake-up pipe; ``events()`` yields once per burst of changes.
public final class DirectoryWatcher: Sendable {
  /// The directory watched.
  public let path: String
  private let inotify: Int32
  private let wake: (read: Int32, write: Int32)

  /// Starts watching `path`.
  /// - Throws: `POSIXError` when inotify is unavailable (e.g. the watch limit is reached).
  public init(path: String) throws {
    self.path = path
    let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    let mask =
      UInt32(IN_CREATE) | UInt32(IN_DELETE) | UInt32(IN_MODIFY) | UInt32(IN_CLOSE_WRITE)
      | UInt32(IN_MOVED_FROM) | UInt32(IN_MOVED_TO) | UInt32(IN_ATTRIB) | UInt32(IN_DELETE_SELF)
      | UInt32(IN_MOVE_SELF)
    guard inotify_add_watch(fd, path, mask) >= 0 else {
      let code = errno
      close(fd)
      throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else {
      let code = errno
      close(fd)
      throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
    for end in fds {
      _ = fcntl(end, F_SETFD, FD_CLOEXEC)
      _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
    }
    inotify = fd
    wake = (fds[0], fds[1])
  }

  deinit {
    close(inotify)
    close(wake.read)
    close(wake.write)
  }

  /// One element per burst of changes (events within `settle` of each other are coalesced).
  /// Ends when the consuming task is cancelled.
  public func events(settle: Duration = .milliseconds(100)) -> AsyncStream<Void> {
    let (stream, sink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let settleMs = Int32(
      settle.components.seconds * 1000 + settle.components.attoseconds / 1_000_000_000_000_000)
    let thread = Thread { [self] in
      var buffer = [UInt8](repeating: 0, count: 4096)
      var fds = [
        pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
        pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
      ]
      while true {
        guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { break }
        if fds[1].revents != 0 { break }
        guard fds[0].revents != 0 else { continue }
        // Drain this burst: keep reading until `settle` passes with no new event.
        repeat {
          while read(inotify, &buffer, buffer.count) > 0 {}
        } while poll(&fds, 1, settleMs) > 0 && fds[0].revents != 0
        sink.yield()
      }
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
}
