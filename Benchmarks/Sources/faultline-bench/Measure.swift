import Foundation
import Glibc

/// Nanoseconds on `CLOCK_MONOTONIC` (a vDSO call: about 20 ns, no system call).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Measurements in one unit, summarized by nearest-rank percentiles.
struct Samples {
  /// The raw values, in the order measured.
  private(set) var values: [Double] = []

  /// An empty set.
  init() {}

  /// A set of `values`.
  init(_ values: [Double]) { self.values = values }

  /// Adds one measurement.
  mutating func append(_ value: Double) { values.append(value) }

  /// Adds every measurement of `other`.
  mutating func append(contentsOf other: Samples) { values.append(contentsOf: other.values) }

  /// How many values there are.
  var count: Int { values.count }

  /// The nearest-rank percentile `p` (0...100): the smallest value with at least p% of the values at
  /// or below it. NaN when empty.
  func percentile(_ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }

  /// The median (nearest rank).
  var median: Double { percentile(50) }

  /// The 99th percentile (nearest rank).
  var p99: Double { percentile(99) }

  /// The arithmetic mean; NaN when empty.
  var mean: Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

  /// `{"n", "min", "p50", "p90", "p99", "max", "mean"}`, rounded to `digits` decimals.
  func summary(digits: Int = 1) -> [String: Any] {
    guard !values.isEmpty else { return ["n": 0] }
    return [
      "n": values.count, "min": rounded(percentile(0), digits), "p50": rounded(median, digits),
      "p90": rounded(percentile(90), digits), "p99": rounded(p99, digits),
      "max": rounded(percentile(100), digits), "mean": rounded(mean, digits),
    ]
  }
}

/// `value` rounded to `digits` decimals, for JSON and tables.
func rounded(_ value: Double, _ digits: Int = 1) -> Double {
  guard value.isFinite else { return value }
  let scale = pow(10, Double(digits))
  return (value * scale).rounded() / scale
}

/// Runs `body` and returns how long it took, in microseconds.
func microseconds(_ body: () throws -> Void) rethrows -> Double {
  let start = monotonicNanoseconds()
  try body()
  return Double(monotonicNanoseconds() - start) / 1000
}

/// Runs `body` and returns how long it took, in microseconds.
func microseconds(_ body: () async throws -> Void) async rethrows -> Double {
  let start = monotonicNanoseconds()
  try await body()
  return Double(monotonicNanoseconds() - start) / 1000
}

/// A failure that stops the benchmark, with what to do about it.
struct BenchError: Error, CustomStringConvertible {
  /// The message printed as `faultline-bench: MESSAGE`.
  var description: String

  /// An error saying `description`.
  init(_ description: String) { self.description = description }
}

/// Prints a progress line on stderr (stdout carries only the final table).
func progress(_ text: String) {
  FileHandle.standardError.write(Data("faultline-bench: \(text)\n".utf8))
}
