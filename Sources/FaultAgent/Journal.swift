import FaultModel
import Foundation
import NetemKernel

/// One fault faultline has applied (or is about to apply) and not yet reverted.
public struct JournalEntry: Sendable, Hashable, Codable {
  /// The experiment id (unique per fault window); also the file name.
  public var id: String
  /// The experiment name.
  public var name: String
  /// The target as given.
  public var target: FaultTarget
  /// The namespace the target resolved to (path and inode), so a reused path is never touched.
  public var namespace: NamespaceIdentity
  /// faultline's qdisc handle.
  public var handle: UInt32
  /// The foreign root qdisc that was replaced (with `--force`), restored on revert.
  public var replaced: QdiscSnapshot?
  /// The fault.
  public var fault: NetemFault
  /// How the traffic is shaped (nil: a whole-interface egress netem, as entries before shaping).
  public var shaping: TrafficShaping?
  /// faultline's ingress redirect to its IFB device, once it is set up (for ingress shaping).
  public var ingress: IngressRedirect?
  /// When the window started.
  public var startedAt: Date
  /// When it must end at the latest (nil: until the agent stops).
  public var expiresAt: Date?
  /// The process that applied it.
  public var pid: Int32
  /// That process's start time (from `/proc/PID/stat`), so a reused PID is not mistaken for it.
  public var processStart: UInt64

  /// An entry with every field given.
  public init(
    id: String, name: String, target: FaultTarget, namespace: NamespaceIdentity, handle: UInt32,
    replaced: QdiscSnapshot?, fault: NetemFault, shaping: TrafficShaping? = nil,
    ingress: IngressRedirect? = nil,
    startedAt: Date, expiresAt: Date?,
    pid: Int32 = Journal.ownPID, processStart: UInt64 = Journal.ownStartTime
  ) {
    self.id = id
    self.name = name
    self.target = target
    self.namespace = namespace
    self.handle = handle
    self.replaced = replaced
    self.fault = fault
    self.shaping = shaping
    self.ingress = ingress
    self.startedAt = startedAt
    self.expiresAt = expiresAt
    self.pid = pid
    self.processStart = processStart
  }

  /// Whether the process that wrote this entry is still running.
  public var ownerIsAlive: Bool {
    guard let start = Journal.processStartTime(pid) else { return false }
    return start == processStart
  }

  /// Whether this process wrote this entry.
  public var isOwnedByThisProcess: Bool {
    pid == Journal.ownPID && processStart == Journal.ownStartTime
  }
}

/// The crash-safe record of active faults: one JSON file per fault in `<state-dir>/active/`.
///
/// An entry is written and fsynced before the kernel is touched and removed after the revert, so a
/// process killed at any point leaves a record of everything it may have left behind; the next start
/// (or `faultline revert --all`) reverts it.
public struct Journal: Sendable {
  /// The state directory (`--state-dir`, default `/var/lib/faultline`).
  public let directory: URL

  /// The default state directory.
  public static let defaultDirectory = "/var/lib/faultline"

  /// A journal in `directory`.
  public init(directory: String = Journal.defaultDirectory) {
    self.directory = URL(fileURLWithPath: directory, isDirectory: true)
  }

  private var activeDirectory: URL { directory.appendingPathComponent("active", isDirectory: true) }

  /// Records `entry` durably (temp file, fsync, rename, fsync of the directory).
  public func record(_ entry: JournalEntry) throws {
    try FileManager.default.createDirectory(at: activeDirectory, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    try writeAtomically(
      try encoder.encode(entry), to: activeDirectory.appendingPathComponent("\(entry.id).json"))
  }

  /// Marks an entry reverted (removes it durably). Removing one that is gone is not an error.
  public func remove(id: String) throws {
    let url = activeDirectory.appendingPathComponent("\(id).json")
    if unlink(url.path) != 0 && errno != ENOENT {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
    }
    syncDirectory(activeDirectory)
  }

  /// Every entry in the journal; unreadable files are reported through `onError` and skipped.
  public func entries(onError: (String, Error) -> Void = { _, _ in }) -> [JournalEntry] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: activeDirectory.path) else {
      return []
    }
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
      let url = activeDirectory.appendingPathComponent(name)
      do {
        return try decoder.decode(JournalEntry.self, from: Data(contentsOf: url))
      } catch {
        onError(url.path, error)
        return nil
      }
    }
  }

  /// This process's pid.
  public static let ownPID: Int32 = getpid()
  /// This process's start time (see ``processStartTime(_:)``).
  public static let ownStartTime: UInt64 = processStartTime(getpid()) ?? 0

  /// The start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`), nil if gone.
  public static func processStartTime(_ pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
  }
}
