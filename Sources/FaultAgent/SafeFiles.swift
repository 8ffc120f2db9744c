import Foundation

// File writes the root agent makes in directories that others may write to (a pod's own annotation
// directory, mounted read-write into the pod). Everything goes through a directory file descriptor
// opened without following a symlink, and every name created in it is random and created
// exclusively, so a symlink planted at any predictable name is never followed: the agent never
// truncates, chmods or replaces a file outside the directory it was given. Plain Glibc calls as in
// the rest of this target (it does not link swift-system).

/// A file operation that failed, naming the call and the path.
public struct SafeFileError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The failed call (`open`, `mkdir`, `renameat`, …).
  public let operation: String
  /// The path it was about.
  public let path: String
  /// The errno.
  public let errno: Int32

  /// What users see: the call, the path, the system's message, and a hint for a symlink.
  public var description: String {
    let reason = String(cString: strerror(errno))
    let hint =
      errno == ELOOP || errno == ENOTDIR
      ? "; faultline does not follow symlinks there: remove the link and let faultline create the directory"
      : ""
    return "\(operation) \(path): \(reason)\(hint)"
  }
}

/// An open directory (`O_DIRECTORY|O_NOFOLLOW`); closed in `deinit`.
final class DirectoryHandle {
  let fd: Int32
  let path: String

  /// Opens `path`, creating it first (one level, mode `createMode`, owned by this process's user)
  /// when `createMode` is given. A symlink at `path` is refused (`ELOOP`), never followed, unless
  /// `followingSymlink` (for a directory the operator named, such as `--annotations`' own).
  init(path: String, createMode: mode_t? = nil, followingSymlink: Bool = false) throws(SafeFileError) {
    self.path = path
    if let createMode {
      if mkdir(path, createMode) != 0 && errno != EEXIST {
        throw SafeFileError(operation: "mkdir", path: path, errno: errno)
      }
    }
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingSymlink ? 0 : O_NOFOLLOW))
    guard fd >= 0 else { throw SafeFileError(operation: "open", path: path, errno: errno) }
    self.fd = fd
    if let createMode {
      // mkdir's mode went through the umask, and a directory that was already there keeps its own;
      // either way the agent's directory ends up with exactly `createMode`.
      var info = stat()
      if fstat(fd, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o7777 != createMode {
        fchmod(fd, createMode)
      }
    }
  }

  deinit { close(fd) }

  /// fsyncs the directory so a rename or unlink in it is durable.
  func sync() { fsync(fd) }

  /// Writes `data` to `name` in this directory so that readers see the old or the new file, never a
  /// partial one: a random temporary name created with `O_CREAT|O_EXCL|O_NOFOLLOW`, written,
  /// `fchmod`ed to `mode`, fsynced, `renameat` over `name` (which replaces a symlink at `name` rather
  /// than following it), then the directory fsynced.
  func writeAtomically(_ data: Data, to name: String, mode: mode_t = 0o644) throws(SafeFileError) {
    var temp = ""
    var fd: Int32 = -1
    for _ in 0..<8 {
      temp = ".\(name).\(String(UInt64.random(in: .min ... .max), radix: 16)).tmp"
      fd = openat(self.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
      if fd >= 0 || errno != EEXIST { break }
    }
    guard fd >= 0 else { throw SafeFileError(operation: "open", path: "\(path)/\(temp)", errno: errno) }
    let written = data.withUnsafeBytes { raw -> Int32 in
      var offset = 0
      while offset < raw.count {
        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
        if n < 0 {
          if errno == EINTR { continue }
          return errno
        }
        offset += n
      }
      return 0
    }
    var failure: (String, Int32)? = written != 0 ? ("write", written) : nil
    if failure == nil, fchmod(fd, mode) != 0 { failure = ("fchmod", errno) }
    if failure == nil, fsync(fd) != 0 { failure = ("fsync", errno) }
    close(fd)
    if failure == nil, renameat(self.fd, temp, self.fd, name) != 0 { failure = ("rename", errno) }
    if let (operation, code) = failure {
      unlinkat(self.fd, temp, 0)
      throw SafeFileError(operation: operation, path: "\(path)/\(name)", errno: code)
    }
    sync()
  }
}

/// Writes `data` to `url` atomically through its directory (see ``DirectoryHandle/writeAtomically(_:to:mode:)``).
/// With `createDirectory` the file's directory is created (mode 0755) when missing; its parent must
/// exist. The directory itself is followed if it is a symlink only with `directoryMayBeSymlink`.
func writeAtomically(
  _ data: Data, to url: URL, mode: mode_t = 0o644, createDirectory: Bool = false,
  directoryMayBeSymlink: Bool = false
) throws(SafeFileError) {
  let directory = try DirectoryHandle(
    path: url.deletingLastPathComponent().path, createMode: createDirectory ? 0o755 : nil,
    followingSymlink: directoryMayBeSymlink)
  try directory.writeAtomically(data, to: url.lastPathComponent, mode: mode)
}

/// fsyncs a directory so a rename or unlink in it is durable.
func syncDirectory(_ url: URL) {
  let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
  if fd >= 0 {
    fsync(fd)
    close(fd)
  }
}
