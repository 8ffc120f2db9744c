import CLinux
import FaultModel
import Glibc
import SystemCalls
import SystemPackage
import Synchronization

/// One netlink socket per network namespace, shared by every operation there.
///
/// A socket belongs to the namespace it was created in, whichever thread uses it afterwards. So a
/// worker thread enters a namespace once (``NamespaceThread``), opens the socket and goes home; every
/// later operation there sends its requests over that socket from the calling task, with no thread
/// hop and no `setns`. The socket is the namespace: an operation names its namespace by path, the
/// path is `stat`ed (its nsfs inode says which namespace it names now) and the socket kept for that
/// inode is used.
///
/// An open socket keeps its namespace alive (and the pod's interfaces in it), so a socket is kept only
/// while this process has a fault in that namespace: an apply takes a hold on the interface, the
/// revert that takes the fault off drops it, and the socket closes with the last hold. Operations in a
/// namespace with no hold (a one-shot `status`, a read-only `inspect`) open a socket and close it when
/// they are done. A path that no longer opens drops the socket kept for it, and
/// ``release(inode:)`` drops one whose namespace the caller has given up on.
///
/// Operations on one namespace run one at a time (a netlink socket carries one request at a time);
/// they block their thread for the kernel's round trips, microseconds each.
final class NetlinkSessions: Sendable {
  /// The process's sessions.
  static let shared = NetlinkSessions()

  /// A namespace: the nsfs device and inode its path resolves to.
  struct Key: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
  }

  /// What an operation does to the holds of its namespace's socket.
  enum Hold: Sendable {
    /// Nothing: a read, or a change that neither adds nor removes a fault.
    case none
    /// A fault is now on these interfaces (or hooks: `ingress:eth0`), kept until released.
    case take([String])
    /// The faults on these are gone.
    case release([String])
  }

  private final class Session: Sendable {
    let socket: Mutex<NetlinkSocket>
    init(_ socket: sending NetlinkSocket) { self.socket = Mutex(socket) }
  }

  private struct Entry {
    var session: Session
    var holds: Set<String> = []
    var paths: Set<String> = []
  }

  private let table = Mutex<[Key: Entry]>([:])

  /// Whether a socket is kept for the namespace with `inode` (a fault of this process is there).
  func isKept(inode: UInt64) -> Bool { table.withLock { $0.keys.contains { $0.inode == inode } } }

  /// Runs `body` with the socket of the namespace `namespace` names now, and the namespace's identity.
  ///
  /// - Throws: ``KernelError``: `namespaceNotFound` when the path is gone, `missingCapabilities`
  ///   when it cannot be read or entered, `notANamespace`; or what `body` throws.
  func run<T: Sendable>(
    in namespace: NetworkNamespaceRef, procRoot: String, hold: Hold = .none,
    _ body: (NamespaceIdentity, NetlinkSocket) throws -> T
  ) async throws -> T {
    let path = namespace.path(procRoot: procRoot)
    let key = try identify(path)
    var identity = NamespaceIdentity(path: path ?? "/proc/self/ns/net", inode: key.inode)
    var found = table.withLock { $0[key]?.session }
    var openedKey = key
    if found == nil {
      let (opened, socket) = try await Self.open(namespace, path: path, procRoot: procRoot)
      identity = opened.identity
      openedKey = opened.key
      found = Session(socket)
    }
    let session = found!
    do {
      let result = try session.socket.withLock { socket in try body(identity, socket) }
      settle(openedKey, session, path: identity.path, hold: hold)
      return result
    } catch {
      settle(openedKey, session, path: identity.path, hold: .none)
      throw error
    }
  }

  /// Closes the socket kept for the namespace with `inode`, whatever holds it: the caller has found
  /// the namespace gone (nothing names it any more) and forgotten its faults.
  func release(inode: UInt64) {
    table.withLock { table in
      for key in table.keys where key.inode == inode { table[key] = nil }
    }
  }

  /// Records the outcome of an operation; the session is kept only while it holds a fault.
  private func settle(_ key: Key, _ session: Session, path: String, hold: Hold) {
    table.withLock { table in
      var entry = table[key] ?? Entry(session: session)
      entry.paths.insert(path)
      switch hold {
      case .none: break
      case .take(let names): entry.holds.formUnion(names)
      case .release(let names): entry.holds.subtract(names)
      }
      table[key] = entry.holds.isEmpty ? nil : entry
    }
  }

  /// The namespace `path` names now (nil: this process's own).
  private func identify(_ path: String?) throws(KernelError) -> Key {
    let name = path ?? "/proc/self/ns/net"
    var info = stat()
    guard stat(name, &info) == 0 else {
      let code = Errno.current
      if let path, code == .noSuchFileOrDirectory || code == .noSuchProcess {
        // The path is gone: so is the socket kept for whatever it named (another path may still
        // name that namespace; a later operation through it opens a socket again).
        table.withLock { table in
          for (key, entry) in table where entry.paths.contains(path) { table[key] = nil }
        }
      }
      throw NamespaceThread.openError(path: name, errno: code)
    }
    return Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
  }

  /// Opens a socket in the namespace: on this thread for the process's own, else on a worker thread
  /// that enters the namespace and goes home again.
  private static func open(_ namespace: NetworkNamespaceRef, path: String?, procRoot: String) async throws
    -> ((identity: NamespaceIdentity, key: Key), NetlinkSocket)
  {
    guard path != nil else {
      let own = "/proc/self/ns/net"
      var info = stat()
      guard stat(own, &info) == 0 else { throw KernelError.system("stat \(own)", errno: .current) }
      let key = Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
      return ((NamespaceIdentity(path: own, inode: key.inode), key), try NetlinkSocket())
    }
    let opened = try await NamespaceThread.run(in: namespace, procRoot: procRoot) { entered in
      OpenedSocket(identity: entered.identity, device: entered.device, socket: try NetlinkSocket())
    }
    return ((opened.identity, Key(device: opened.device, inode: opened.identity.inode)), opened.socket)
  }
}

/// A socket opened by a namespace worker, handed to the task that asked for it (and from then on
/// used under its session's lock only).
private struct OpenedSocket: @unchecked Sendable {
  var identity: NamespaceIdentity
  var device: UInt64
  var socket: NetlinkSocket
}
