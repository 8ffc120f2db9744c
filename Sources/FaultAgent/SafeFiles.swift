import Foundation
import SystemCalls
import SystemPackage

// File writes the root agent makes in directories that others may write to (a pod's own annotation
// directory, mounted read-write into the pod). Everything goes through a directory file descriptor
// opened without following a symlink, and every name created in it is random and created
// exclusively, so a symlink planted at any predictable name is never followed: the agent never
// truncates, chmods or replaces a file outside the directory it was given.

/// A file-system operation of the agent that failed (the journal, annotation files, the profile
/// directory watch), naming the call and the path: this target's one error for the POSIX edge.
public struct SafeFileError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The failed call (`open`, `mkdir`, `renameat`, …).
  public let operation: String
  /// The path it was about.
  public let path: String
  /// What the system said.
  public let errno: Errno

  /// A failure of `operation` on `path`.
  public init(operation: String, path: String, errno: Errno) {
    self.operation = operation
    self.path = path
    self.errno = errno
  }

  /// What users see: the call, the path, the system's message, and a hint for a symlink.
  public var description: String {
    let hint =
      errno == .tooManySymbolicLinkLevels || errno == .notDirectory
      ? "; faultline does not follow symlinks there: remove the link and let faultline create the directory"
      : ""
    return "\(operation) \(path): \(errno)\(hint)"
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
      do { _ = try Errno.retrying { mkdir(path, createMode) } } catch  where error != .fileExists {
        throw SafeFileError(operation: "mkdir", path: path, errno: error)
      } catch {}
    }
    do {
      fd = try Errno.retrying {
        open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingSymlink ? 0 : O_NOFOLLOW))
      }
    } catch { throw SafeFileError(operation: "open", path: path, errno: error) }
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

  /// `.NAME.PID.START.RANDOM.tmp`: hidden, unpredictable (a symlink planted in advance cannot be
  /// at it), and naming its writer by pid and start time, so that a file a killed writer left can be
  /// told from one being written. A pid alone would not do: a restarted container's agent is pid 1
  /// again, and would take its predecessor's files for its own.
  static func temporaryName(for name: String) -> String {
    ".\(name).\(ProcessIdentity.current.pid).\(ProcessIdentity.current.startTime).\(String(UInt64.random(in: .min ... .max), radix: 16)).tmp"
  }

  /// The writer's pid and start time in a name ``temporaryName(for:)`` made; nil for any other name.
  static func writer(ofTemporary name: String) -> ProcessIdentity? {
    guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return nil }
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 6, let pid = pid_t(parts[parts.count - 4]), pid > 0,
      let start = UInt64(parts[parts.count - 3])
    else { return nil }
    return ProcessIdentity(pid: pid, startTime: start)
  }

  /// Whether `name` is a temporary file whose writer, named in it, is gone (no process with its pid
  /// and start time): what a writer killed between creating it and renaming it into place leaves.
  static func isAbandonedTemporary(_ name: String) -> Bool {
    guard let writer = writer(ofTemporary: name) else { return false }
    // This process's own are being written now, whatever /proc says.
    return writer != .current && !writer.isRunning
  }

  /// Removes the temporaries of `name` that dead writers left here (`unlinkat`, which removes a
  /// planted symlink itself, never its target). Returns how many went.
  @discardableResult
  func removeAbandonedTemporaries(of name: String) -> Int {
    // fdopendir takes over the descriptor it is given, and this handle keeps its own.
    guard let stream = fdopendir(dup(fd)) else { return 0 }
    defer { closedir(stream) }
    var abandoned: [String] = []
    while let entry = readdir(stream) {
      let entryName = withUnsafeBytes(of: entry.pointee.d_name) {
        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
      }
      if entryName.hasPrefix(".\(name).") && Self.isAbandonedTemporary(entryName) {
        abandoned.append(entryName)
      }
    }
    return abandoned.filter { unlinkat(fd, $0, 0) == 0 }.count
  }

  /// fsyncs the directory so a rename or unlink in it is durable.
  func sync() { fsync(fd) }

  /// Writes `data` to `name` in this directory so that readers see the old or the new file, never a
  /// partial one: a random temporary name created with `O_CREAT|O_EXCL|O_NOFOLLOW`, written,
  /// `fchmod`ed to `mode`, fsynced, `renameat` over `name` (which replaces a symlink at `name` rather
  /// than following it), then the directory fsynced.
  func writeAtomically(_ data: Data, to name: String, mode: mode_t = 0o644) throws(SafeFileError) {
    var temp = ""
    var file: FileDescriptor?
    for _ in 0..<8 {
      temp = Self.temporaryName(for: name)
      do {
        file = FileDescriptor(
          rawValue: try Errno.retrying {
            openat(self.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
          })
        break
      } catch  where error == .fileExists {
        continue
      } catch {
        throw SafeFileError(operation: "open", path: "\(path)/\(temp)", errno: error)
      }
    }
    guard let file else {
      throw SafeFileError(operation: "open", path: "\(path)/\(temp)", errno: .fileExists)
    }
    var failure: (String, Errno)?
    do { _ = try file.writeAll(data) } catch { failure = ("write", error as? Errno ?? .ioError) }
    if failure == nil, fchmod(file.rawValue, mode) != 0 { failure = ("fchmod", .current) }
    if failure == nil, fsync(file.rawValue) != 0 { failure = ("fsync", .current) }
    try? file.close()
    if failure == nil, renameat(self.fd, temp, self.fd, name) != 0 { failure = ("rename", .current) }
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
/// With `removingAbandonedTemporaries` the temporaries of this file that a killed writer left are
/// removed first (a writer whose directory nothing else sweeps asks for it once).
func writeAtomically(
  _ data: Data, to url: URL, mode: mode_t = 0o644, createDirectory: Bool = false,
  directoryMayBeSymlink: Bool = false, removingAbandonedTemporaries: Bool = false
) throws(SafeFileError) {
  let directory = try DirectoryHandle(
    path: url.deletingLastPathComponent().path, createMode: createDirectory ? 0o755 : nil,
    followingSymlink: directoryMayBeSymlink)
  if removingAbandonedTemporaries { directory.removeAbandonedTemporaries(of: url.lastPathComponent) }
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
