import Glibc
import SystemPackage

/// Why `faultline run` could not take its state directory: another agent holds it, or the directory
/// or its lock file cannot be used.
public struct StateDirectoryLockError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The kind of failure, for the CLI's exit code.
  public enum Kind: Hashable, Sendable {
    /// Another process holds the lock: an agent already runs on this state directory.
    case held
    /// The state directory or its lock file cannot be created, opened, locked or written
    /// (permissions, a read-only file system, a symlink where the file should be, …).
    case unavailable
  }

  /// The kind of failure.
  public let kind: Kind
  /// The path the failure is about: the lock file, or the directory that could not be created.
  public let path: String
  /// The pid the holder wrote into the lock file, when ``kind`` is ``Kind/held`` and the file holds
  /// one (a holder that has just taken the lock may not have written it yet).
  public let holderPID: Int32?
  /// The errno of the failed system call, for ``Kind/unavailable``.
  public let errno: Errno?
  /// The message users see: what is wrong and what to do.
  public let description: String

  private init(
    _ kind: Kind, path: String, holderPID: Int32? = nil, errno: Errno? = nil, _ description: String
  ) {
    self.kind = kind
    self.path = path
    self.holderPID = holderPID
    self.errno = errno
    self.description = description
  }

  /// The process exit code: 8 when another agent holds the state directory, 1 otherwise.
  public var exitCode: Int32 { kind == .held ? 8 : 1 }

  /// Another process holds the lock file at `path`.
  static func held(_ path: String, holderPID: Int32?) -> StateDirectoryLockError {
    let holder = holderPID.map { "another faultline run (pid \($0))" } ?? "another faultline run"
    return StateDirectoryLockError(
      .held, path: path, holderPID: holderPID,
      "\(holder) holds \(path): one agent per state directory; "
        + "stop that agent or give this one another --state-dir")
  }

  /// `mkdir` of `directory` failed (`stateDirectory` is the one asked for; `directory` may be a parent).
  static func cannotCreateDirectory(
    _ directory: String, for stateDirectory: String, errno code: Errno
  ) -> StateDirectoryLockError {
    let what =
      directory == stateDirectory
      ? "the state directory \(directory)" : "\(directory) (for the state directory \(stateDirectory))"
    return StateDirectoryLockError(
      .unavailable, path: directory, errno: code, "cannot create \(what): \(reason(code))")
  }

  /// Opening (or creating) the lock file failed.
  static func cannotOpen(_ path: String, errno code: Errno) -> StateDirectoryLockError {
    let why =
      switch code {
      case .tooManySymbolicLinkLevels:
        "it is a symbolic link, which faultline does not follow (so that it never locks or truncates "
          + "another file); remove it"
      case .isDirectory: "it is a directory; remove it"
      default: reason(code)
      }
    return StateDirectoryLockError(
      .unavailable, path: path, errno: code, "cannot open the lock file \(path): \(why)")
  }

  /// `flock` failed for a reason other than another holder.
  static func cannotLock(_ path: String, errno code: Errno) -> StateDirectoryLockError {
    let why =
      code == .noLocks
      ? "\(code) (the file system may not support flock, as some network file systems "
        + "do not); give the agent a --state-dir on a local file system"
      : reason(code)
    return StateDirectoryLockError(.unavailable, path: path, errno: code, "cannot lock \(path): \(why)")
  }

  /// Writing the holder's pid into the lock file failed.
  static func cannotRecordPID(_ path: String, errno code: Errno) -> StateDirectoryLockError {
    StateDirectoryLockError(
      .unavailable, path: path, errno: code, "cannot write this agent's pid to \(path): \(reason(code))")
  }

  /// The system's message, then what to do about the common causes.
  private static func reason(_ code: Errno) -> String {
    let advice =
      switch code {
      case .permissionDenied, .notPermitted:
        "run the agent as a user that may write there (it runs as root to change qdiscs anyway) "
          + "or give it another --state-dir"
      case .readOnlyFileSystem:
        "the file system is read-only; mount a writable volume there (a hostPath in Kubernetes) "
          + "or give the agent another --state-dir"
      case .noSpace, .diskQuotaExceeded: "free some space or give the agent another --state-dir"
      case .notDirectory: "a part of the path is a file, not a directory; give the agent another --state-dir"
      default: "give the agent a --state-dir it can create and write"
      }
    return "\(code); \(advice)"
  }
}
