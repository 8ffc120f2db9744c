// A scan of /proc and /run/netns written against opendir/readdir/stat directly: it runs on every
// resync of every window whose path went stale, over thousands of processes on a busy node, and
// Foundation's directory enumeration would build a URL or String per entry. Only the entries that
// parse as a PID become paths.
import CLinux
import FaultModel
import Glibc

/// Finds a path that names a network namespace now, given the namespace's inode.
///
/// A fault window holds its namespace by inode, because a `/proc/PID/ns/net` path is only as good as
/// the process behind it: the process can exit while the pod's namespace lives on (held by another
/// container), and its PID can be reused by a process in another namespace. When the window's path
/// fails or names another namespace, the agent asks here for one that names the same namespace.
///
/// The scan reads bind mounts under `netnsDirectory` (from `ip netns add`) first, then the numeric
/// entries of `procRoot` in ascending PID order: a pod's oldest process (its sandbox's pause process)
/// tends to have the lowest PID and to live as long as the namespace. Processes may exit during the
/// scan, and another user's processes cannot be read without `CAP_SYS_PTRACE`: entries that fail are
/// skipped.
public struct NamespaceLocator: Sendable {
  private let procRoot: String
  private let netnsDirectory: String

  /// A locator reading processes under `procRoot` and named namespaces under `netnsDirectory`.
  public init(procRoot: String = "/proc", netnsDirectory: String = "/run/netns") {
    self.procRoot = procRoot
    self.netnsDirectory = netnsDirectory
  }

  /// A path naming the namespace with `inode` now, or nil when no process or bind mount holds it.
  ///
  /// Blocking: one `stat` per process. The namespace may still go away right after; the caller
  /// checks the inode again when it opens the path (``NetemKernel`` does, given `expectedInode`).
  public func locate(inode: UInt64) -> NetworkNamespaceRef? {
    var names: [String] = []
    Self.forEachEntry(in: netnsDirectory) { name in
      if !Self.isDotEntry(name) { names.append(String(cString: name)) }
    }
    for name in names.sorted() {
      let path = "\(netnsDirectory)/\(name)"
      if Self.names(path, inode: inode) { return .path(path) }
    }
    var pids: [UInt32] = []
    Self.forEachEntry(in: procRoot) { name in
      if let pid = Self.pid(name) { pids.append(pid) }
    }
    pids.sort()
    for pid in pids {
      let path = "\(procRoot)/\(pid)/ns/net"
      if Self.names(path, inode: inode) { return .path(path) }
    }
    return nil
  }

  /// Whether `path` (followed through symlinks and `/proc`'s magic links) is the namespace file with
  /// `inode`. Inode numbers are unique only within one filesystem, so a match must also be on nsfs:
  /// a leftover regular file under `/run/netns` must not pass for a namespace.
  private static func names(_ path: String, inode: UInt64) -> Bool {
    var info = stat()
    guard stat(path, &info) == 0, UInt64(info.st_ino) == inode else { return false }
    return faultline_is_nsfs(path) != 0
  }

  /// Calls `body` with the name of every entry of `directory` (none when it cannot be opened).
  private static func forEachEntry(in directory: String, _ body: (UnsafePointer<CChar>) -> Void) {
    guard let dir = opendir(directory) else { return }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
      withUnsafePointer(to: &entry.pointee.d_name) { tuple in
        tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
          body($0)
        }
      }
    }
  }

  private static func isDotEntry(_ name: UnsafePointer<CChar>) -> Bool {
    name[0] == 0x2E && (name[1] == 0 || (name[1] == 0x2E && name[2] == 0))
  }

  /// The PID a `/proc` entry name spells (all decimal digits), or nil (`self`, `net`, `sys`, …).
  private static func pid(_ name: UnsafePointer<CChar>) -> UInt32? {
    var value: UInt32 = 0
    var index = 0
    while name[index] != 0 {
      let digit = UInt8(bitPattern: name[index]) &- 0x30
      guard digit <= 9 else { return nil }
      let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
      let (sum, carry) = times10.addingReportingOverflow(UInt32(digit))
      guard !overflow, !carry else { return nil }
      value = sum
      index += 1
    }
    return index == 0 ? nil : value
  }
}
