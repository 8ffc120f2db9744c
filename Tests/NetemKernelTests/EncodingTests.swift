import FaultModel
import Foundation
import Testing

@testable import NetemKernel

/// Pure tests of the kernel-unit conversion and the TCA_OPTIONS layout (no privileges needed).
@Suite struct EncodingTests {
  private func fault(_ flags: [(String, String)]) throws -> NetemFault {
    var f = NetemFault()
    for (key, value) in flags { try f.set(key, to: value) }
    return try f.validated()
  }

  @Test func percentagesUseTheKernelsTwoToTheThirtyTwoScaleRoundedLikeTc() {
    #expect(NetemParameters.probability(Percent(100)) == UInt32.max)
    #expect(NetemParameters.probability(Percent(0)) == 0)
    // rint(0.05 * 4294967295) = 214748365
    #expect(NetemParameters.probability(Percent(5)) == 214_748_365)
    #expect(NetemParameters.percent(214_748_365).description == "5%")
  }

  @Test func optionsStartWithTheQoptStructInTicksThenCarry64BitTimes() throws {
    let p = NetemParameters(try fault([("delay", "100ms"), ("loss", "5%")]), distribution: nil)
    let bytes = p.encodedOptions()
    let reader = NetlinkReader(bytes)
    #expect(reader.u32(at: 0) == 100_000_000 / 64)  // latency in 64 ns ticks
    #expect(reader.u32(at: 4) == 1000)  // limit
    #expect(reader.u32(at: 8) == 214_748_365)  // loss
    let attributes = Dictionary(
      reader.attributes(from: 24).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    #expect(NetlinkReader(attributes[10] ?? []).u64(at: 0) == 100_000_000)  // TCA_NETEM_LATENCY64
    // Every field is always present so that a change in place leaves nothing stale.
    for type: UInt16 in [1, 3, 4, 6, 7, 10, 11, 12] { #expect(attributes[type] != nil, "attribute \(type)") }
    #expect(attributes[2] == nil)  // no distribution table without jitter
  }

  @Test(arguments: [
    [("delay", "100ms"), ("jitter", "10ms"), ("correlation", "25%"), ("loss", "5%")],
    [("delay", "50ms"), ("jitter", "5ms"), ("distribution", "normal")],
    [("loss-state", "1%,30%,2%,90%,0.5%")],
    [("loss-gemodel", "1%,10%,70%,0.1%"), ("ecn", "true")],
    [("delay", "10ms"), ("reorder", "25%"), ("reorder-correlation", "50%"), ("gap", "5")],
    [
      ("duplicate", "1%"), ("duplicate-correlation", "10%"), ("corrupt", "0.1%"),
      ("corrupt-correlation", "5%"),
    ],
    [("rate", "1mbit,20,53,5"), ("limit", "500")],
    [("rate", "50gbit")],
    [("slot", "10ms,20ms,packets=5,bytes=3000")],
  ])
  func encodingRoundTripsThroughTheDumpParser(flags: [(String, String)]) throws {
    let requested = NetemParameters(try fault(flags), distribution: DistributionTable.uniform)
    let decoded = try NetemParameters(decodingOptions: requested.encodedOptions())
    #expect(requested.mismatches(against: decoded).isEmpty, "\(requested.mismatches(against: decoded))")
  }

  @Test func aStaleCorrelationIsReportedAsAMismatch() throws {
    let asked = NetemParameters(try fault([("delay", "100ms"), ("jitter", "10ms")]), distribution: nil)
    var kernel = asked
    kernel.delayCorrelation = NetemParameters.probability(Percent(25))
    #expect(asked.mismatches(against: kernel).first?.hasPrefix("delay_correlation") == true)
  }

  @Test func tcDescriptionReadsLikeTcQdiscShow() throws {
    let p = NetemParameters(
      try fault([("delay", "100ms"), ("jitter", "10ms"), ("correlation", "25%"), ("loss", "5%")]),
      distribution: nil)
    #expect(p.tcDescription == "limit 1000 delay 100ms  10ms 25% loss 5%")
  }

  @Test func rateAbove32BitsUsesRate64() throws {
    let p = NetemParameters(try fault([("rate", "50gbit")]), distribution: nil)
    let attributes = NetlinkReader(p.encodedOptions()).attributes(from: 24)
    #expect(attributes.contains { $0.0 == 8 })  // TCA_NETEM_RATE64
    #expect(p.rate == 50_000_000_000 / 8)
  }

  @Test func generatedNormalTableMatchesIproute2sFileWhenPresent() throws {
    let path = DistributionTable.searchPath.map { "\($0)/normal.dist" }.first {
      FileManager.default.fileExists(atPath: $0)
    }
    #expect(DistributionTable.normal.count == 4096)
    guard let path else { return }
    let shipped = try DistributionTable.parse(String(contentsOfFile: path, encoding: .utf8), path: path)
    #expect(shipped == DistributionTable.normal)
  }

  @Test func uniformTableIsCenteredAndSpansOneJitterEachWay() {
    let t = DistributionTable.uniform
    #expect(t.count == 4096)
    #expect(t.first! >= -8192 && t.last! < 8192)
    #expect(t.reduce(0) { $0 + Int($1) } == 0)
  }

  @Test func malformedDistributionFileNamesFileAndWord() {
    #expect(throws: KernelError.self) { try DistributionTable.parse("1 2 x3", path: "/tmp/bad.dist") }
  }
}
