import FaultModel
import Foundation
import SystemCalls
import SystemPackage
import Logging
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
    pid: Int32 = ProcessIdentity.current.pid, processStart: UInt64 = ProcessIdentity.current.startTime
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
  public var ownerIsAlive: Bool { ProcessIdentity(pid: pid, startTime: processStart).isRunning }

  /// Whether this process wrote this entry.
  public var isOwnedByThisProcess: Bool {
    ProcessIdentity(pid: pid, startTime: processStart) == .current
  }
}

/// A journal file that was moved aside into `<state-dir>/quarantine/` instead of being trusted.
public struct JournalQuarantine: Sendable, Hashable {
  /// The file as it was found in `active/`.
  public var file: String
  /// Where it is now.
  public var movedTo: String
  /// Why it was not trusted.
  public var reason: String
}

/// Why the journal refused an id.
public struct JournalError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The id refused.
  public let id: String
  /// What users see.
  public var description: String {
    "invalid journal id \"\(id)\": ids are 1 to \(Journal.maximumIDLength) characters of A-Z a-z 0-9 . _ -, "
      + "not starting with a dot"
  }
}

/// The crash-safe record of active faults: one JSON file per fault in `<state-dir>/active/`.
///
/// An entry is written and fsynced before the kernel is touched and removed after the revert, so a
/// process killed at any point leaves a record of everything it may have left behind; the next start
/// (or `faultline revert --all`) reverts it.
///
/// Nothing read back from `active/` is trusted: a file's place is its file name, never the `id`
/// inside it, and ids are checked (``isValidID(_:)``) before they become file names. A file that is
/// not a valid entry (bad name, not a regular file, too large, not decodable, or an `id` that differs
/// from its file name) is moved into `<state-dir>/quarantine/`, logged as an error and reported to
/// `onQuarantine` (the agent counts it in `faultline_journal_entries_quarantined_total`); it is never
/// fatal and never silently skipped.
public struct Journal: Sendable {
  /// The state directory (`--state-dir`, default `/var/lib/faultline`).
  public let directory: URL
  private let logger: Logger
  private let onQuarantine: @Sendable (JournalQuarantine) -> Void

  /// The default state directory.
  public static let defaultDirectory = "/var/lib/faultline"
  /// The longest id the journal accepts.
  public static let maximumIDLength = 128
  /// The largest entry file read; real entries are a few KiB.
  public static let maximumEntrySize = 1 << 20

  /// A journal in `directory`; quarantined files are logged to `logger` and reported to `onQuarantine`.
  public init(
    directory: String = Journal.defaultDirectory, logger: Logger = Logger(label: "faultline.journal"),
    onQuarantine: @escaping @Sendable (JournalQuarantine) -> Void = { _ in }
  ) {
    self.directory = URL(fileURLWithPath: directory, isDirectory: true)
    self.logger = logger
    self.onQuarantine = onQuarantine
  }

  private var activeDirectory: URL { directory.appendingPathComponent("active", isDirectory: true) }
  private var quarantineDirectory: URL {
    directory.appendingPathComponent("quarantine", isDirectory: true)
  }

  /// Whether `id` may name a journal file: 1 to ``maximumIDLength`` characters of `A-Z a-z 0-9 . _ -`,
  /// not starting with a dot (so never `..`, a path separator or a hidden temporary file).
  public static func isValidID(_ id: String) -> Bool {
    let bytes = Array(id.utf8)
    guard !bytes.isEmpty, bytes.count <= maximumIDLength, bytes[0] != UInt8(ascii: ".") else { return false }
    return bytes.allSatisfy { byte in
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
        true
      default: false
      }
    }
  }

  /// Records `entry` durably (temp file, fsync, rename, fsync of the directory).
  /// - Throws: ``JournalError`` when the entry's id is not valid (nothing is written).
  public func record(_ entry: JournalEntry) throws {
    guard Self.isValidID(entry.id) else { throw JournalError(id: entry.id) }
    try FileManager.default.createDirectory(at: activeDirectory, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    try writeAtomically(
      try encoder.encode(entry), to: activeDirectory.appendingPathComponent("\(entry.id).json"))
  }

  /// Marks an entry reverted (removes it durably). Removing one that is gone is not an error.
  /// - Throws: ``JournalError`` when `id` is not valid (nothing is removed).
  public func remove(id: String) throws {
    guard Self.isValidID(id) else { throw JournalError(id: id) }
    let url = activeDirectory.appendingPathComponent("\(id).json")
    do { _ = try Errno.retrying { unlink(url.path) } } catch  where error != .noSuchFileOrDirectory {
      throw SafeFileError(operation: "unlink", path: url.path, errno: error)
    } catch {}
    syncDirectory(activeDirectory)
  }

  /// Removes the temporary files of writers that died mid-write (`kill -9` between creating an
  /// entry's temporary file and renaming it into place): they are never entries, and nothing else
  /// would ever remove them. A file whose writer is alive is being written and is left alone; one
  /// that names no writer (an older faultline's) goes once it is a minute old.
  private func removeAbandonedTemporaries(_ names: [String]) {
    for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
      let path = activeDirectory.appendingPathComponent(name).path
      let abandoned: Bool
      if DirectoryHandle.writer(ofTemporary: name) != nil {
        abandoned = DirectoryHandle.isAbandonedTemporary(name)
      } else {
        var info = stat()
        abandoned =
          lstat(path, &info) == 0 && Double(info.st_mtim.tv_sec) < Date().timeIntervalSince1970 - 60
      }
      guard abandoned, unlink(path) == 0 else { continue }
      logger.info(
        "removed a temporary journal file its writer left when it died", metadata: ["path": "\(path)"])
    }
  }

  /// Every valid entry in the journal. Files that cannot be read now (permissions, I/O errors) are
  /// reported through `onError` and left in place; files that are not valid entries are quarantined
  /// (see ``Journal``).
  public func entries(onError: (String, Error) -> Void = { _, _ in }) -> [JournalEntry] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: activeDirectory.path) else {
      return []
    }
    removeAbandonedTemporaries(names)
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().compactMap { name in
      let path = activeDirectory.appendingPathComponent(name).path
      let id = String(name.dropLast(".json".count))
      guard Self.isValidID(id) else {
        quarantine(name, because: "its file name is not a valid journal id")
        return nil
      }
      let data: Data
      switch Self.readEntryFile(path) {
      case .success(let contents): data = contents
      case .failure(.notAnEntry(let why)):
        quarantine(name, because: why)
        return nil
      case .failure(.unreadable(let error)):
        onError(path, error)
        return nil
      }
      let entry: JournalEntry
      do {
        entry = try decoder.decode(JournalEntry.self, from: data)
      } catch {
        quarantine(name, because: "not a journal entry (corrupt, truncated or hand-edited): \(error)")
        return nil
      }
      guard entry.id == id else {
        quarantine(name, because: "its id \"\(entry.id.prefix(200))\" differs from its file name")
        return nil
      }
      return entry
    }
  }

  private enum ReadFailure: Error {
    case notAnEntry(String)
    case unreadable(SafeFileError)
  }

  /// The bytes of an entry file, opened without following a symlink, at most ``maximumEntrySize``.
  private static func readEntryFile(_ path: String) -> Result<Data, ReadFailure> {
    let file: FileDescriptor
    do {
      file = try FileDescriptor.open(path, .readOnly, options: [.noFollow, .nonBlocking, .closeOnExec])
    } catch {
      let code = error as? Errno ?? .ioError
      if code == .tooManySymbolicLinkLevels { return .failure(.notAnEntry("it is a symlink")) }
      return .failure(.unreadable(SafeFileError(operation: "open", path: path, errno: code)))
    }
    defer { try? file.close() }
    var info = stat()
    guard fstat(file.rawValue, &info) == 0 else {
      return .failure(.unreadable(SafeFileError(operation: "fstat", path: path, errno: .current)))
    }
    guard info.st_mode & S_IFMT == S_IFREG else { return .failure(.notAnEntry("it is not a regular file")) }
    guard info.st_size <= maximumEntrySize else {
      return .failure(.notAnEntry("it is \(info.st_size) bytes, over the \(maximumEntrySize)-byte limit"))
    }
    var data = Data(count: Int(info.st_size) + 1)
    var total = 0
    while total < data.count {
      let n: Int
      do {
        n = try data.withUnsafeMutableBytes {
          try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[total...]))
        }
      } catch {
        return .failure(
          .unreadable(SafeFileError(operation: "read", path: path, errno: error as? Errno ?? .ioError)))
      }
      if n == 0 { break }
      total += n
    }
    guard total <= maximumEntrySize else {
      return .failure(.notAnEntry("it grew past the \(maximumEntrySize)-byte limit"))
    }
    return .success(data.prefix(total))
  }

  /// Moves `name` from `active/` into `quarantine/` (under a unique name), logs why and what to do,
  /// and reports it.
  private func quarantine(_ name: String, because reason: String) {
    let source = activeDirectory.appendingPathComponent(name).path
    var movedTo: String?
    var failure: String?
    do {
      let active = try DirectoryHandle(path: activeDirectory.path)
      let target = try DirectoryHandle(path: quarantineDirectory.path, createMode: 0o700)
      let stamp = Int(Date().timeIntervalSince1970)
      let safeName = String(
        name.unicodeScalars.map { Self.isSafeScalar($0) ? Character($0) : "_" }.prefix(100))
      let newName = "\(safeName).\(stamp).\(String(UInt32.random(in: .min ... .max), radix: 16))"
      if renameat(active.fd, name, target.fd, newName) == 0 {
        target.sync()
        active.sync()
        movedTo = quarantineDirectory.appendingPathComponent(newName).path
      } else if Errno.current == .noSuchFileOrDirectory {
        return  // another reader moved it first
      } else {
        failure = SafeFileError(operation: "rename", path: source, errno: .current).description
      }
    } catch {
      failure = error.description
    }
    guard let movedTo else {
      logger.error(
        "journal entry not trusted and cannot be moved aside; it is ignored",
        metadata: ["path": "\(source)", "reason": "\(reason)", "error": "\(failure ?? "")"])
      return
    }
    logger.error(
      "journal entry not trusted; moved aside",
      metadata: [
        "path": "\(source)", "moved_to": "\(movedTo)", "reason": "\(reason)",
        "hint": """
        its fault, if any, is not reverted by faultline: check the interface with `tc qdisc show`; \
        to have faultline revert it, fix the file and move it back into \(activeDirectory.path)
        """,
      ])
    onQuarantine(JournalQuarantine(file: source, movedTo: movedTo, reason: reason))
  }

  private static func isSafeScalar(_ scalar: Unicode.Scalar) -> Bool {
    scalar.isASCII
      && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
        || "._-".unicodeScalars.contains(scalar))
  }
}
