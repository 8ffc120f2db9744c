import Foundation

/// A small deterministic generator (SplitMix64) for the bounded property and fuzz tests, so a failing
/// case can be replayed from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  /// A generator that produces the same sequence for the same `seed`.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// The seed of a property test run: `FAULTLINE_TEST_SEED` when set (to replay a failure), else a
  /// new one each run. Printed, so that even a crash leaves the seed in the log.
  public static func testSeed(_ test: String) -> UInt64 {
    let seed =
      ProcessInfo.processInfo.environment["FAULTLINE_TEST_SEED"].flatMap { UInt64($0) }
      ?? UInt64(Date().timeIntervalSince1970 * 1_000_000)
    print("\(test): seed \(seed) (replay with FAULTLINE_TEST_SEED=\(seed))")
    return seed
  }
}
