import ChaosAnnotations
import Foundation
import Glibc

/// `annotation_read_ns` vs `annotation_naive_read_ns`: "is chaos on?" per request, through the
/// cached ``ExperimentReader`` and by opening, reading and parsing the file every time (as the seed
/// article's middleware does). `annotation_read_bounded_ns` is the reader with
/// ``boundedStaleness`` (no system call while its last look is younger than that).
enum AnnotationFigures {
  /// A file as faultline writes it while one experiment runs.
  static let sample = AnnotationFormat.render([
    "chaos.experiment/active": "true",
    "chaos.experiment/name": "payment-latency",
    "chaos.experiment/id": "5f0c2e7d9a1b4c3d8e6f708192a3b4c5",
    "chaos.experiment/interface": "eth0",
    "chaos.experiment/started-at": "2026-01-01T10:00:00Z",
    "chaos.experiment/ends-at": "2026-01-01T10:05:00Z",
    "chaos.experiment/fault": "delay=100ms jitter=10ms correlation=25% loss=1%",
  ])

  /// The staleness the bounded reader is measured with.
  static let boundedStaleness = Duration.milliseconds(100)

  /// Times both ways over `batches` batches; per call, the median batch's mean.
  ///
  /// Each batch has as many calls as take about `batchSeconds` (calibrated on a first run of 1000
  /// calls), so the figure costs seconds on the host and in the VM alike; `calls` fixes the count
  /// instead (for a profiler).
  static func measure(batches: Int = 15, batchSeconds: Double = 0.2, calls: Int? = nil) throws
    -> (figures: [String: Any], details: [String: Any])
  {
    let directory = NSTemporaryDirectory() + "faultline-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/annotations"
    try sample.write(toFile: path, atomically: true, encoding: .utf8)

    let reader = ExperimentReader(path: path)
    let bounded = ExperimentReader(path: path, maxStaleness: boundedStaleness)
    guard reader.current()?.names == ["payment-latency"], naiveRead(path)?.names == ["payment-latency"],
      bounded.current()?.names == ["payment-latency"]
    else { throw BenchError("the annotation sample does not read back as one active experiment") }

    var seen = 0
    /// Nanoseconds per call over `count` calls of `body`.
    func perCall(_ count: Int, _ body: () -> Int) -> Double {
      let start = monotonicNanoseconds()
      for _ in 0..<count { seen &+= body() }
      return Double(monotonicNanoseconds() - start) / Double(count)
    }
    let cachedCall = { reader.current()?.names.count ?? 0 }
    let boundedCall = { bounded.current()?.names.count ?? 0 }
    let naiveCall = { naiveRead(path)?.names.count ?? 0 }
    let calibration = 1000
    let cachedCalls = calls ?? max(calibration, Int(batchSeconds * 1e9 / perCall(calibration, cachedCall)))
    let naiveCalls =
      calls.map { max(1, $0 / 20) } ?? max(100, Int(batchSeconds * 1e9 / perCall(100, naiveCall)))
    let boundedCalls = calls ?? max(calibration, Int(batchSeconds * 1e9 / perCall(calibration, boundedCall)))
    var cached = Samples()
    var boundedTimes = Samples()
    var naive = Samples()
    for _ in 0..<batches {
      cached.append(perCall(cachedCalls, cachedCall))
      boundedTimes.append(perCall(boundedCalls, boundedCall))
      naive.append(perCall(naiveCalls, naiveCall))
    }
    guard seen > 0 else { throw BenchError("no call saw the experiment") }
    // Both readers follow a change: the default one at once, the bounded one after its staleness.
    try sample.replacingOccurrences(of: "payment-latency", with: "checkout-loss")
      .write(toFile: path, atomically: true, encoding: .utf8)
    let seenAtOnce = reader.current()?.names == ["checkout-loss"]
    usleep(UInt32(boundedStaleness.components.attoseconds / 1_000_000_000_000) + 20_000)
    guard seenAtOnce, bounded.current()?.names == ["checkout-loss"] else {
      throw BenchError("a reader missed the change of the annotation file")
    }
    progress(
      "annotations: cached \(rounded(cached.median)) ns/call, bounded \(rounded(boundedTimes.median)) ns/call, "
        + "naive \(rounded(naive.median)) ns/call "
        + "(\(reader.parseCount) parses by the cached reader)")
    return (
      [
        "annotation_read_ns": rounded(cached.median),
        "annotation_read_bounded_ns": rounded(boundedTimes.median),
        "annotation_naive_read_ns": rounded(naive.median),
      ],
      [
        "method":
          "ExperimentReader.current() on an unchanging \(sample.utf8.count)-byte file with one active "
          + "experiment (default reader: one stat per call), \(cachedCalls) calls per batch; the same "
          + "with maxStaleness \(boundedStaleness) (no system call between looks), \(boundedCalls) per "
          + "batch; vs open + read + AnnotationFormat.parse + ActiveExperiments per call, \(naiveCalls) "
          + "per batch; ns per call, median of \(batches) batches (single thread)",
        "cached_ns_per_batch": cached.summary(), "bounded_ns_per_batch": boundedTimes.summary(),
        "naive_ns_per_batch": naive.summary(), "cached_reader_parses": reader.parseCount,
      ]
    )
  }

  /// Only the cached check, `calls` times (for a profiler).
  static func cachedLoop(calls: Int) throws {
    let path = NSTemporaryDirectory() + "faultline-bench-\(getpid())-annotations"
    try sample.write(toFile: path, atomically: true, encoding: .utf8)
    defer { unlink(path) }
    let reader = ExperimentReader(path: path)
    var seen = 0
    for _ in 0..<calls { seen &+= reader.current()?.names.count ?? 0 }
    guard seen == calls else { throw BenchError("the reader lost the experiment") }
  }

  /// Opens, reads and parses the file: what a reader without a cache does per request.
  static func naiveRead(_ path: String) -> ActiveExperiments? { ExperimentReader.readNow(path: path) }
}
