import CLinux
import FaultModel
import Foundation
import Glibc

/// Which namespace an operation ran in: the path given and the nsfs inode it resolved to.
public struct NamespaceIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The path opened (`/proc/self/ns/net` for the current namespace).
  public var path: String
  /// The namespace's inode number (what `ip netns identify` and `lsns` compare).
  public var inode: UInt64

  /// An identity of `path` with `inode`.
  public init(path: String, inode: UInt64) {
    self.path = path
    self.inode = inode
  }

  /// `net:[4026531840] (/proc/42/ns/net)`.
  public var description: String { "net:[\(inode)] (\(path))" }
}

/// Runs work inside a network namespace on a dedicated thread.
///
/// `setns(2)` changes the namespace of the calling thread only, so each operation gets a fresh thread
/// of its own (never a thread of the Swift cooperative pool or of Dispatch, whose other work would
/// silently run in the wrong namespace). The thread exits when the work is done, taking its
/// namespace reference with it.
enum NamespaceThread {
  static func run<T: Sendable>(
    in namespace: NetworkNamespaceRef, procRoot: String = "/proc",
    _ body: @escaping @Sendable (NamespaceIdentity) throws -> T
  ) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
      let thread = Thread {
        do {
          let identity = try enter(namespace, procRoot: procRoot)
          continuation.resume(returning: try body(identity))
        } catch {
          continuation.resume(throwing: error)
        }
      }
      thread.name = "faultline-netns"
      thread.start()
    }
  }

  /// Moves the calling thread into `namespace` and says which namespace it is now in.
  private static func enter(_ namespace: NetworkNamespaceRef, procRoot: String) throws(KernelError)
    -> NamespaceIdentity
  {
    guard let path = namespace.path(procRoot: procRoot) else {
      return NamespaceIdentity(path: "/proc/self/ns/net", inode: try inode(of: "/proc/thread-self/ns/net"))
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
      let code = errno
      if code == EACCES || code == EPERM {
        throw KernelError.missingCapabilities(["CAP_SYS_PTRACE"], operation: "opening \(path)")
      }
      throw KernelError.namespaceNotFound(path, errno: code)
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw KernelError.system("fstat \(path)", errno: errno) }
    if faultline_setns(fd, faultline_clone_newnet()) != 0 {
      let code = errno
      if code == EPERM {
        throw KernelError.missingCapabilities(["CAP_SYS_ADMIN"], operation: "setns into \(path)")
      }
      if code == EINVAL { throw KernelError.notANamespace(path) }
      throw KernelError.system("setns \(path)", errno: code)
    }
    return NamespaceIdentity(path: path, inode: UInt64(info.st_ino))
  }

  private static func inode(of path: String) throws(KernelError) -> UInt64 {
    var info = stat()
    guard stat(path, &info) == 0 else { throw KernelError.system("stat \(path)", errno: errno) }
    return UInt64(info.st_ino)
  }
}
