import CLinux
import FaultModel
import Foundation
import Glibc
import SystemCalls
import SystemPackage

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

/// Where a namespace worker is: the namespace's identity and the device of its nsfs file.
struct EnteredNamespace: Sendable {
  var identity: NamespaceIdentity
  var device: UInt64
}

/// Runs work inside a network namespace on a dedicated thread.
///
/// `setns(2)` changes the namespace of the calling thread only, so it runs on faultline's own worker
/// threads (never a thread of the Swift cooperative pool or of Dispatch, whose other work would
/// silently run in the wrong namespace). A worker enters the target namespace, runs the job (opening
/// the netlink socket that then serves the namespace, see ``NetlinkSessions``) and goes back to its
/// home namespace (a descriptor it opened when it started) before it takes the next one; a worker
/// that cannot go back exits instead of being reused. Up to ``idleWorkers`` wait between jobs, so a
/// fan-out over many namespaces does not start a thread for each.
enum NamespaceThread {
  /// How many workers may wait idle for the next job.
  static let idleWorkers = 4

  static func run<T: Sendable>(
    in namespace: NetworkNamespaceRef, procRoot: String = "/proc",
    _ body: @escaping @Sendable (EnteredNamespace) throws -> T
  ) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
      NamespaceWorker.take().submit {
        do {
          let entered = try enter(namespace, procRoot: procRoot)
          continuation.resume(returning: try body(entered))
        } catch {
          continuation.resume(throwing: error)
        }
      }
    }
  }

  /// Runs blocking work that stays in the home namespace (a `/proc` scan) on a worker thread, off
  /// the cooperative pool, whose few threads every other task of the process shares.
  static func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
      NamespaceWorker.take().submit(staysHome: true) { continuation.resume(returning: body()) }
    }
  }

  /// Moves the calling thread into `namespace` and says which namespace it is now in.
  private static func enter(_ namespace: NetworkNamespaceRef, procRoot: String) throws(KernelError)
    -> EnteredNamespace
  {
    guard let path = namespace.path(procRoot: procRoot) else {
      var info = stat()
      let own = "/proc/thread-self/ns/net"
      guard stat(own, &info) == 0 else { throw KernelError.system("stat \(own)", errno: .current) }
      return EnteredNamespace(
        identity: NamespaceIdentity(path: "/proc/self/ns/net", inode: UInt64(info.st_ino)),
        device: UInt64(info.st_dev))
    }
    let file: FileDescriptor
    do { file = try FileDescriptor.open(path, .readOnly, options: .closeOnExec) } catch {
      // swift-system's calls throw Errno, untyped.
      throw openError(path: path, errno: error as? Errno ?? .ioError)
    }
    defer { try? file.close() }
    var info = stat()
    guard fstat(file.rawValue, &info) == 0 else {
      throw KernelError.system("fstat \(path)", errno: .current)
    }
    do {
      _ = try Errno.retrying { () -> Int32 in faultline_setns(file.rawValue, faultline_clone_newnet()) }
    } catch {
      if error == .notPermitted {
        throw KernelError.missingCapabilities(["CAP_SYS_ADMIN"], operation: "setns into \(path)")
      }
      if error == .invalidArgument { throw KernelError.notANamespace(path) }
      throw KernelError.system("setns \(path)", errno: error)
    }
    return EnteredNamespace(
      identity: NamespaceIdentity(path: path, inode: UInt64(info.st_ino)), device: UInt64(info.st_dev))
  }

  /// What a failed `open()` of a namespace path means.
  ///
  /// Only `ENOENT` (no such file: the process exited, or the bind mount is gone) and `ESRCH` (the
  /// process is exiting) say the namespace is gone; callers act on that by forgetting the namespace,
  /// so anything else must not look like it. Running out of descriptors or memory (`EMFILE`,
  /// `ENFILE`, `ENOMEM`) says nothing about the namespace and is a plain system failure worth retrying.
  static func openError(path: String, errno code: Errno) -> KernelError {
    switch code {
    case .noSuchFileOrDirectory, .noSuchProcess: KernelError.namespaceNotFound(path, errno: code)
    case .permissionDenied, .notPermitted:
      KernelError.missingCapabilities(["CAP_SYS_PTRACE"], operation: "opening \(path)")
    default: KernelError.system("opening \(path)", errno: code)
    }
  }
}

/// One worker thread: runs one job at a time, each job free to `setns`, and returns home after each.
private final class NamespaceWorker: @unchecked Sendable {
  private static let idle = NSLock()
  nonisolated(unsafe) private static var idleList: [NamespaceWorker] = []

  private let condition = NSCondition()
  private var job: (@Sendable () -> Void)?
  private var jobStaysHome = false

  /// An idle worker, or a new one.
  static func take() -> NamespaceWorker {
    if let worker = idle.withLock({ idleList.popLast() }) { return worker }
    let worker = NamespaceWorker()
    let thread = Thread { worker.loop() }
    thread.name = "faultline-netns"
    thread.start()
    return worker
  }

  /// Hands the worker its next job (it has none: it was just taken).
  ///
  /// - Parameter staysHome: the job never calls `setns`, so the worker need not go back home after
  ///   it (going back needs `CAP_SYS_ADMIN`: without it the worker would exit instead of waiting).
  func submit(staysHome: Bool = false, _ work: @escaping @Sendable () -> Void) {
    condition.withLock {
      job = work
      jobStaysHome = staysHome
      condition.signal()
    }
  }

  private func loop() {
    // The namespace this thread started in, to come back to after every job.
    let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
    defer { if home >= 0 { close(home) } }
    while true {
      let (work, staysHome): (@Sendable () -> Void, Bool) = condition.withLock {
        while job == nil { condition.wait() }
        defer { job = nil }
        return (job!, jobStaysHome)
      }
      work()
      // Back home; a thread that cannot return must not run anything else.
      if !staysHome {
        guard home >= 0, faultline_setns(home, faultline_clone_newnet()) == 0 else { return }
      }
      let parked = Self.idle.withLock {
        guard Self.idleList.count < NamespaceThread.idleWorkers else { return false }
        Self.idleList.append(self)
        return true
      }
      if !parked { return }
    }
  }
}
