import FaultModel
import Foundation

/// Delay distribution tables (`TCA_NETEM_DELAY_DIST`): iproute2's `.dist` files, or generated.
///
/// Values are in units of `NETEM_DIST_SCALE` (8192 = one jitter); the kernel picks one at random per
/// packet and adds `jitter * value / 8192` to the delay.
public enum DistributionTable {
  /// Where iproute2 keeps its tables: `$TC_LIB_DIR` first, then Debian's multiarch path (which libnl
  /// 3.7 misses), then the classic ones.
  public static var searchPath: [String] {
    var paths: [String] = []
    if let dir = ProcessInfo.processInfo.environment["TC_LIB_DIR"], !dir.isEmpty { paths.append(dir) }
    paths += [
      "/usr/lib/x86_64-linux-gnu/tc", "/usr/lib/aarch64-linux-gnu/tc", "/usr/lib64/tc", "/usr/lib/tc",
      "/usr/local/lib/tc", "/usr/share/tc",
    ]
    return paths
  }

  /// The table for `distribution`: `uniform` and (when no file is found) `normal` are generated;
  /// `pareto` and `paretonormal` are read from iproute2's files.
  ///
  /// - Throws: ``KernelError`` when a file is needed and none is found, or it is malformed.
  public static func table(for distribution: DelayDistribution) throws(KernelError) -> [Int16] {
    switch distribution {
    case .uniform: return uniform
    case .normal: return (try? load(distribution)) ?? normal
    case .pareto, .paretonormal: return try load(distribution)
    }
  }

  /// Reads `NAME.dist` from the first directory of ``searchPath`` that has it.
  static func load(_ distribution: DelayDistribution) throws(KernelError) -> [Int16] {
    let name = "\(distribution.rawValue).dist"
    for dir in searchPath {
      let path = "\(dir)/\(name)"
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
      return try parse(text, path: path)
    }
    throw KernelError.distributionUnavailable(distribution.rawValue, searched: searchPath)
  }

  /// Parses iproute2's table format: whitespace-separated integers, `#` comments.
  static func parse(_ text: String, path: String) throws(KernelError) -> [Int16] {
    var values: [Int16] = []
    for line in text.split(separator: "\n") {
      let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
      for word in content.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
        guard let value = Int16(word) else {
          throw KernelError.malformedDistribution(path, "\"\(word)\" is not a 16-bit integer")
        }
        values.append(value)
      }
    }
    guard (1...16384).contains(values.count) else {
      throw KernelError.malformedDistribution(path, "\(values.count) values; expected 1 to 16384")
    }
    return values
  }

  /// 4096 evenly spaced values over [-8192, 8192): the same shape as netem's table-less jitter.
  public static let uniform: [Int16] = (0..<4096).map { Int16(-8192 + 4 * $0 + 2) }

  /// The normal table as iproute2's `netem/normal.c` generates it.
  public static let normal: [Int16] = {
    let size = 16384
    var table = [Double](repeating: 0, count: size + 1)
    var x = -10.0
    while x < 10.05 {
      let cdf = 0.5 + 0.5 * erf(x / 2.0.squareRoot())
      let index = Int((Double(size) * cdf).rounded(.toNearestOrEven))
      if index >= 0 && index <= size { table[index] = x }
      x += 0.00005
    }
    return stride(from: 0, to: size, by: 4).map { i in
      Int16(clamping: Int((table[i] * 8192).rounded(.toNearestOrEven)))
    }
  }()
}
