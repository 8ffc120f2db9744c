import Synchronization
import SystemPackage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The experiment(s) active according to an annotation file.
public struct ActiveExperiments: Sendable, Hashable {
  /// Experiment names, in file order.
  public var names: [String]
  /// Experiment ids (`chaos.experiment.id` on faultline's spans), same order.
  public var ids: [String]
  /// W3C traceparents of the experiments' spans, same order (empty when not published).
  public var traceparents: [String]
  /// Interfaces, same order.
  public var interfaces: [String]
  /// The fault description (`delay=500ms loss=1%`).
  public var fault: String?
  /// RFC 3339 start time.
  public var startedAt: String?
  /// RFC 3339 end time (nil when open-ended).
  public var endsAt: String?

  /// Reads the `chaos.experiment/…` keys; nil unless `chaos.experiment/active` is `"true"`.
  public init?(annotations: [String: String]) {
    guard annotations["chaos.experiment/active"] == "true" else { return nil }
    func list(_ key: String) -> [String] {
      (annotations["chaos.experiment/\(key)"] ?? "").split(separator: ",").map(String.init)
    }
    names = list("name")
    ids = list("id")
    traceparents = list("traceparent")
    interfaces = list("interface")
    fault = annotations["chaos.experiment/fault"]
    startedAt = annotations["chaos.experiment/started-at"]
    endsAt = annotations["chaos.experiment/ends-at"]
  }
}

/// Answers "is chaos on?" per request, cheaply: the file is re-read only when its inode, mtime or
/// size changes (faultline replaces it atomically), so a check is one `stat(2)`.
///
/// With a `maxStaleness` above zero a check makes no system call at all while the last look at the
/// file is younger than that: it reads the kernel's coarse monotonic clock (vDSO, no system call) and
/// answers from the cache; only then does it `stat(2)` the file again. A change is then seen up to
/// `maxStaleness` (plus one clock tick, 1–4 ms) late. The `stat(2)` is what a default check costs
/// (1–3 µs on a virtualised host, most of it the kernel's path walk; see docs/BENCHMARKS.md), a
/// bounded check tens of nanoseconds. The default (zero) stats on every call, so the next check after
/// a change sees it.
///
/// Thread-safe; share one reader per process. A missing or unreadable file means no experiment.
public final class ExperimentReader: Sendable {
  /// The default path (`FAULTLINE_ANNOTATIONS`, else `/var/run/faultline/annotations`).
  public static var defaultPath: String {
    if let env = getenv("FAULTLINE_ANNOTATIONS") { return String(cString: env) }
    return "/var/run/faultline/annotations"
  }

  /// The parsed file, boxed: copying the reference out of the lock is one retain, where copying the
  /// struct goes through Optional's generic value witnesses (~300 instructions).
  private final class Snapshot: Sendable {
    let value: ActiveExperiments
    init(_ value: ActiveExperiments) { self.value = value }
  }

  private struct Cache {
    var key: (UInt64, Int64, Int64, Int64)?
    var value: Snapshot?
    var parses = 0
    /// When the file was last looked at (coarse monotonic ns); nil before the first look.
    var checkedAt: UInt64?
  }

  /// The file read.
  public let path: String
  /// How long a check may answer from the cache without looking at the file (zero: never).
  public let maxStaleness: Duration
  private let stalenessNanoseconds: UInt64
  /// `path` as a C string, made once: passing a `String` to `stat(2)` would allocate one per call.
  private let cPath: [CChar]
  private let cache = Mutex(Cache())

  /// A reader of `path` whose checks may be up to `maxStaleness` behind the file (default zero: every
  /// check looks at the file). Middleware that can live with a change showing up a little late (say
  /// `.milliseconds(100)`) makes its per-request check free of system calls.
  public init(path: String = ExperimentReader.defaultPath, maxStaleness: Duration = .zero) {
    self.path = path
    cPath = Array(path.utf8CString)
    self.maxStaleness = max(maxStaleness, .zero)
    let (seconds, attoseconds) = self.maxStaleness.components
    stalenessNanoseconds =
      UInt64(min(seconds, 1_000_000_000)) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
  }

  /// The active experiments now (or, with a `maxStaleness`, as of at most that long ago), or nil.
  public func current() -> ActiveExperiments? {
    // Results leave the lock through these locals (a `withLock` returning `Snapshot??` would copy
    // through the generic Optional witnesses).
    var hit = false
    var value: Snapshot?
    var now: UInt64 = 0
    if stalenessNanoseconds > 0 {
      now = Self.coarseNanoseconds()
      cache.withLock { c in
        if let checked = c.checkedAt, now &- checked < stalenessNanoseconds {
          hit = true
          value = c.value
        }
      }
      if hit { return value?.value }
    }
    var info = stat()
    guard stat(cPath, &info) == 0 else {
      cache.withLock { $0 = Cache(key: nil, value: nil, parses: $0.parses, checkedAt: now) }
      return nil
    }
    #if canImport(Darwin)
      let modified = info.st_mtimespec
    #else
      let modified = info.st_mtim
    #endif
    let key = (UInt64(info.st_ino), Int64(modified.tv_sec), Int64(modified.tv_nsec), Int64(info.st_size))
    cache.withLock { c in
      if let k = c.key, k == key {
        c.checkedAt = now
        hit = true
        value = c.value
      }
    }
    if hit { return value?.value }
    value = Self.readNow(cPath).map(Snapshot.init)
    cache.withLock { [value] in
      $0.key = key
      $0.value = value
      $0.parses += 1
      $0.checkedAt = now
    }
    return value?.value
  }

  /// `CLOCK_MONOTONIC_COARSE` in nanoseconds: served from the vDSO without a system call, advancing
  /// once per kernel tick.
  private static func coarseNanoseconds() -> UInt64 {
    var time = timespec()
    // The coarse clock costs no syscall (vDSO) and a tick is all the staleness bound needs; Darwin
    // has no coarse clock, and its monotonic one is cheap too.
    #if canImport(Darwin)
      clock_gettime(CLOCK_MONOTONIC, &time)
    #else
      clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
    #endif
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
  }

  /// How many times the file was parsed (for tests and benchmarks).
  public var parseCount: Int { cache.withLock { $0.parses } }

  /// Opens, reads and parses `path` now, without any cache: what a reader without one does per
  /// request (the benchmarks compare against it).
  public static func readNow(path: String) -> ActiveExperiments? {
    readNow(Array(path.utf8CString))
  }

  private static func readNow(_ cPath: [CChar]) -> ActiveExperiments? {
    let path = cPath.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
    guard let file = try? FileDescriptor.open(path, .readOnly, options: .closeOnExec) else { return nil }
    defer { try? file.close() }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      // swift-system retries a read a signal interrupted.
      guard let n = try? buffer.withUnsafeMutableBytes({ try file.read(into: $0) }), n > 0 else { break }
      bytes.append(contentsOf: buffer[0..<n])
    }
    return ActiveExperiments(annotations: AnnotationFormat.parse(String(decoding: bytes, as: UTF8.self)))
  }
}
