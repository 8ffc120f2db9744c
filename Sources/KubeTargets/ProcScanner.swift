#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

import SystemCalls
import SystemPackage

/// A network namespace found through a process: its identity (the nsfs inode) and one path to open it.
public struct ProcessNetworkNamespace: Sendable, Hashable, CustomStringConvertible {
  /// The inode of the namespace (what `stat -L /proc/PID/ns/net` and `lsns` show).
  public var inode: UInt64
  /// The device of the nsfs file; with ``inode`` it identifies the namespace.
  public var device: UInt64
  /// `<procRoot>/<pid>/ns/net` of a representative process (the lowest PID seen in it).
  public var path: String
  /// The representative process.
  public var pid: Int32
  /// How many processes of the pod are in this namespace.
  public var processCount: Int

  /// A namespace seen through process `pid` at `path`.
  public init(inode: UInt64, device: UInt64, path: String, pid: Int32, processCount: Int = 1) {
    self.inode = inode
    self.device = device
    self.path = path
    self.pid = pid
    self.processCount = processCount
  }

  /// `net:[4026532281] via /proc/4242/ns/net`.
  public var description: String { "net:[\(inode)] via \(path)" }
}

/// What a scan of `/proc` found: for each pod UID, the network namespaces its processes are in.
public struct ProcScan: Sendable, Hashable {
  /// The procfs that was scanned.
  public var procRoot: String
  /// The namespace of `<procRoot>/1` (the host's), when it could be read.
  public var hostNamespace: ProcessNetworkNamespace?
  /// Pod UID → the distinct network namespaces other than the host's that its processes are in,
  /// most populated first (ties: lowest PID first). Two containers of one pod share one entry.
  public var namespacesByPodUID: [String: [ProcessNetworkNamespace]]
  /// Pods with at least one process in the host's namespace (`hostNetwork: true`).
  public var hostNetworkPodUIDs: Set<String>
  /// Processes whose cgroup said they belong to a pod (for diagnostics).
  public var podProcessCount: Int

  /// A scan result from its parts.
  public init(
    procRoot: String, hostNamespace: ProcessNetworkNamespace? = nil,
    namespacesByPodUID: [String: [ProcessNetworkNamespace]] = [:], hostNetworkPodUIDs: Set<String> = [],
    podProcessCount: Int = 0
  ) {
    self.procRoot = procRoot
    self.hostNamespace = hostNamespace
    self.namespacesByPodUID = namespacesByPodUID
    self.hostNetworkPodUIDs = hostNetworkPodUIDs
    self.podProcessCount = podProcessCount
  }

  /// The namespace faults for pod `uid` go into: the one most of its processes share (in Kubernetes
  /// every container of a pod joins the sandbox's namespace, so there is normally exactly one).
  public func namespace(forPodUID uid: String) -> ProcessNetworkNamespace? {
    namespacesByPodUID[uid.lowercased()]?.first
  }
}

/// Maps pods to network namespaces by reading `<procRoot>/<pid>/cgroup` and `<procRoot>/<pid>/ns/net`,
/// without any container-runtime API.
///
/// In a DaemonSet the host's `/proc` is mounted (with `hostPID: true`) and given as `--proc-root`;
/// reading another process's `ns/net` needs `CAP_SYS_PTRACE`. Processes that exit during the scan
/// are ignored.
public struct ProcScanner: Sendable {
  /// The procfs to scan (`--proc-root`, default `/proc`).
  public var procRoot: String

  /// A scanner of `procRoot`.
  public init(procRoot: String = "/proc") {
    var root = procRoot
    while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
    self.procRoot = root
  }

  /// Scans every process once.
  ///
  /// - Throws: ``KubeTargetsError`` when `procRoot` cannot be listed.
  public func scan() throws(KubeTargetsError) -> ProcScan {
    let pids = try listPIDs()
    let host = namespace(ofPID: 1)
    var scan = ProcScan(procRoot: procRoot, hostNamespace: host)
    // uid → (device, inode) → namespace
    var found: [String: [NamespaceKey: ProcessNetworkNamespace]] = [:]
    for pid in pids {
      // Either read can fail because the process just exited: skip it.
      guard let text = try? readSmallFile("\(procRoot)/\(pid)/cgroup"),
        let cgroup = PodCgroup(procCgroupFile: text),
        let ns = namespace(ofPID: pid)
      else { continue }
      scan.podProcessCount += 1
      if let host, host.inode == ns.inode && host.device == ns.device {
        scan.hostNetworkPodUIDs.insert(cgroup.podUID)
        continue
      }
      let key = NamespaceKey(device: ns.device, inode: ns.inode)
      if var existing = found[cgroup.podUID, default: [:]][key] {
        existing.processCount += 1
        if pid < existing.pid {
          existing.pid = pid
          existing.path = ns.path
        }
        found[cgroup.podUID]![key] = existing
      } else {
        found[cgroup.podUID, default: [:]][key] = ns
      }
    }
    for (uid, namespaces) in found {
      scan.namespacesByPodUID[uid] = namespaces.values.sorted {
        ($0.processCount, -Int64($0.pid)) > ($1.processCount, -Int64($1.pid))
      }
    }
    return scan
  }

  private struct NamespaceKey: Hashable {
    var device: UInt64
    var inode: UInt64
  }

  /// The numeric entries of `procRoot`, ascending.
  private func listPIDs() throws(KubeTargetsError) -> [Int32] {
    guard let dir = opendir(procRoot) else {
      throw .procUnreadable(procRoot, .current)
    }
    defer { closedir(dir) }
    var pids: [Int32] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if let pid = Int32(name), pid > 0 { pids.append(pid) }
    }
    return pids.sorted()
  }

  /// `stat` (following the link) of `<procRoot>/<pid>/ns/net`, or nil when it cannot be read.
  private func namespace(ofPID pid: Int32) -> ProcessNetworkNamespace? {
    let path = "\(procRoot)/\(pid)/ns/net"
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return ProcessNetworkNamespace(
      inode: UInt64(info.st_ino), device: UInt64(info.st_dev), path: path, pid: pid)
  }
}

/// The whole content of a small file (procfs files report size 0, so read until EOF), at most `limit`
/// bytes.
func readSmallFile(_ path: String, limit: Int = 1 << 20) throws(Errno) -> String {
  let file: FileDescriptor
  do { file = try FileDescriptor.open(path, .readOnly, options: .closeOnExec) } catch {
    throw error as? Errno ?? .ioError
  }
  defer { try? file.close() }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while bytes.count < limit {
    let count: Int
    do { count = try chunk.withUnsafeMutableBytes { try file.read(into: $0) } } catch {
      throw error as? Errno ?? .ioError
    }
    if count == 0 { break }
    bytes += chunk[0..<count]
  }
  return String(decoding: bytes, as: UTF8.self)
}
