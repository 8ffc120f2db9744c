import AgentTestSupport
import FaultModel
import Foundation
import Testing

@testable import NetemKernel

/// The decoders of what the kernel sends (qdiscs, links, flower filters, netem options), fed random
/// and mutated messages: they return nil or throw, never trap; and faultline's own encodings read
/// back to what was encoded. Bounded case counts; the seed is printed (`FAULTLINE_TEST_SEED` replays).
@Suite struct NetlinkDecodingFuzzTests {
  /// A random flower match: IPv4 or IPv6 prefix, maybe a protocol, maybe ports (tcp/udp only).
  private func match(_ random: inout SplitMix64) -> FlowMatch {
    let v6 = Bool.random(using: &random)
    let address = (0..<(v6 ? 16 : 4)).map { _ in UInt8.random(in: 0...255, using: &random) }
    let length = UInt8.random(in: 0...(v6 ? 128 : 32), using: &random)
    let proto = [nil, IPProtocolMatch.tcp, .udp, .icmp].randomElement(using: &random)!
    var ports: PortSpan?
    if proto == .tcp || proto == .udp, Bool.random(using: &random) {
      let low = UInt16.random(in: 1...65535, using: &random)
      ports = PortSpan(
        low, Bool.random(using: &random) ? low : UInt16.random(in: low...65535, using: &random))
    }
    return FlowMatch(prefix: IPPrefix(address: address, length: length), ipProtocol: proto, ports: ports)
  }

  /// `request` as the kernel would dump it: the same layout, with a filter handle (dumps name one).
  private func asDumped(_ request: NetlinkRequest) -> [UInt8] {
    var bytes = request.encoded(sequence: 1, acknowledged: false)
    bytes[24] = 1
    return bytes
  }

  @Test func flowerFiltersReadBackToWhatWasEncoded() {
    var random = SplitMix64(seed: SplitMix64.testSeed("flowerFiltersReadBackToWhatWasEncoded"))
    for index in 0..<500 {
      let side: MatchSide = Bool.random(using: &random) ? .source : .destination
      let filter = FlowerFilter(
        pref: UInt16.random(in: 1...0xF000, using: &random), match: match(&random), side: side,
        classid: Bool.random(using: &random) ? ShapedTree.faultClass : ShapedTree.passClass)
      let message = asDumped(.addFilter(ifindex: 2, interface: "eth0", filter))
      guard case .flower(let decoded) = FlowerFilter.decode(message: message) else {
        Issue.record("case \(index): \(filter.tcArguments) did not decode as faultline's")
        return
      }
      #expect(
        filter.agrees(with: decoded),
        "case \(index): \(filter.tcArguments) read back as \(decoded.tcArguments)")
    }
  }

  @Test func randomAndMutatedMessagesNeverTrapADecoder() throws {
    var random = SplitMix64(seed: SplitMix64.testSeed("randomAndMutatedMessagesNeverTrapADecoder"))
    var fault = NetemFault()
    try fault.set("delay", to: "100ms")
    try fault.set("jitter", to: "10ms")
    try fault.set("loss", to: "5%")
    let options = NetemParameters(fault, distribution: DistributionTable.uniform).encodedOptions()
    let valid: [[UInt8]] = [
      asDumped(
        .replaceRoot(
          ifindex: 2, interface: "eth0", kind: "netem", handle: NetemKernel.handle, options: options)),
      asDumped(
        .addFilter(
          ifindex: 2, interface: "eth0",
          FlowerFilter(
            pref: 10, match: match(&random), side: .destination, classid: ShapedTree.faultClass))),
      asDumped(.getLink(named: "eth0")),
    ]
    var decoded = 0
    for _ in 0..<3000 {
      var bytes: [UInt8]
      if Bool.random(using: &random) {
        bytes = (0..<Int.random(in: 0...400, using: &random)).map { _ in
          UInt8.random(in: 0...255, using: &random)
        }
      } else {
        bytes = valid.randomElement(using: &random)!
        for _ in 0..<Int.random(in: 1...8, using: &random) where !bytes.isEmpty {
          bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        }
        if Bool.random(using: &random) { bytes.removeLast(Int.random(in: 0...bytes.count, using: &random)) }
      }
      // Decoding may succeed or fail; it must not trap, whatever the bytes.
      if QdiscSnapshot(message: bytes) != nil { decoded += 1 }
      if LinkRecord(message: bytes) != nil { decoded += 1 }
      if FlowerFilter.decode(message: bytes) != nil { decoded += 1 }
      if (try? NetemParameters(decodingOptions: Array(bytes.dropFirst(min(36, bytes.count))))) != nil {
        decoded += 1
      }
    }
    // Mutations of valid messages mostly still parse: the test did reach the decoders' insides.
    #expect(decoded > 100)
  }
}
