import FaultModel

/// Picks pods for a ``PodSelectionMode``, deterministically for a seed.
///
/// Each candidate gets a score from a hash of the seed and its key (the pod UID); the lowest scores
/// win. So one seed always picks the same pods from the same candidates, and when a pod comes or
/// goes the others keep their places (a watch does not reshuffle which pods have the fault). The
/// seed of a profile is ``seed(forProfile:)``, which `faultline plan` and the daemon share.
///
/// Counts follow Chaos Mesh: `one` picks 1, `fixed:N` picks min(N, count), `percent:P` picks
/// ⌈count · P / 100⌉ (at least one pod when there is any, as Chaos Mesh's `fixed-percent`).
/// In a DaemonSet every agent picks among the pods on its own node.
public enum PodSelection {
  /// How many of `total` candidates `mode` picks.
  public static func count(_ mode: PodSelectionMode, of total: Int) -> Int {
    guard total > 0 else { return 0 }
    switch mode {
    case .all: return total
    case .one: return 1
    case .fixed(let count): return min(max(count, 0), total)
    case .percent(let share):
      let exact = Double(total) * share.value / 100
      // Guard against 0.1 + 0.2-style noise pushing a whole number to the next one.
      let rounded = (exact - 1e-9).rounded(.up)
      return min(max(Int(rounded), share.isZero ? 0 : 1), total)
    }
  }

  /// The candidates `mode` picks, in their original order.
  public static func choose<Candidate>(
    _ candidates: [Candidate], mode: PodSelectionMode, seed: UInt64, key: (Candidate) -> String
  ) -> [Candidate] {
    let wanted = count(mode, of: candidates.count)
    if wanted >= candidates.count { return candidates }
    let ranked = candidates.indices.map { (index: $0, score: score(key(candidates[$0]), seed: seed)) }
      .sorted { ($0.score, $0.index) < ($1.score, $1.index) }
    let chosen = Set(ranked.prefix(wanted).map(\.index))
    return candidates.indices.filter { chosen.contains($0) }.map { candidates[$0] }
  }

  /// The seed of a profile: a stable hash of its name (FNV-1a), the same in every process.
  public static func seed(forProfile name: String) -> UInt64 {
    fnv1a(name, basis: 0xcbf2_9ce4_8422_2325)
  }

  /// The rank of `key` under `seed` (SplitMix64 finaliser over FNV-1a).
  static func score(_ key: String, seed: UInt64) -> UInt64 {
    var z = fnv1a(key, basis: 0xcbf2_9ce4_8422_2325 ^ seed) &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }

  private static func fnv1a(_ text: String, basis: UInt64) -> UInt64 {
    var hash = basis
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
  }
}
