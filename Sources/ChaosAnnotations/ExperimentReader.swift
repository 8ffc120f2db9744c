import Glibc
import Synchronization

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
/// Thread-safe; share one reader per process. A missing or unreadable file means no experiment.
public final class ExperimentReader: Sendable {
  /// The default path (`FAULTLINE_ANNOTATIONS`, else `/var/run/faultline/annotations`).
  public static var defaultPath: String {
    if let env = getenv("FAULTLINE_ANNOTATIONS") { return String(cString: env) }
    return "/var/run/faultline/annotations"
  }

  private struct Cache {
    var key: (ino_t, Int, Int64, off_t)?
    var value: ActiveExperiments?
    var parses = 0
  }

  /// The file read.
  public let path: String
  private let cache = Mutex(Cache())

  /// A reader of `path`.
  public init(path: String = ExperimentReader.defaultPath) { self.path = path }

  /// The active experiments now, or nil.
  public func current() -> ActiveExperiments? {
    var info = stat()
    guard stat(path, &info) == 0 else {
      cache.withLock { $0 = Cache(key: nil, value: nil, parses: $0.parses) }
      return nil
    }
    let key = (info.st_ino, info.st_mtim.tv_sec, Int64(info.st_mtim.tv_nsec), info.st_size)
    if let cached = cache.withLock({ c -> ActiveExperiments?? in
      guard let k = c.key, k == key else { return nil }
      return .some(c.value)
    }) {
      return cached
    }
    let value = read().flatMap { ActiveExperiments(annotations: AnnotationFormat.parse($0)) }
    cache.withLock {
      $0.key = key
      $0.value = value
      $0.parses += 1
    }
    return value
  }

  /// How many times the file was parsed (for tests and benchmarks).
  public var parseCount: Int { cache.withLock { $0.parses } }

  private func read() -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      bytes.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
