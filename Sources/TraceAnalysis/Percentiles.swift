/// Percentiles by the nearest-rank method: the smallest value with at least p % of the values at
/// or below it. Exact (no sketch), always one of the observed values, and monotonic in p.
public enum Percentiles {
  /// The `p`-th percentile (0 ≤ p ≤ 100; 0 is the smallest value) of `sorted` (ascending); nil
  /// when empty.
  public static func nearestRank(_ p: Double, sorted: [Int64]) -> Int64? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }
}
