import FaultModel
import Foundation
import Glibc
import Testing

@testable import NetemKernel

/// Pure tests of targeted faults: prefix parsing, shape validation, the prio and flower wire format,
/// the dump parser and the `tc` commands. The expected bytes are written out by hand from the kernel
/// UAPI (`linux/pkt_sched.h`, `linux/pkt_cls.h`, `linux/rtnetlink.h`) and from what iproute2's
/// `tc filter add … flower` appends, not produced by faultline's encoder.
@Suite struct ShapingEncodingTests {
  private func prefix(_ text: String) throws -> IPPrefix { try IPPrefix(parsing: text) }

  // MARK: - IPPrefix (parsed in FaultModel; the kernel adds the mask)

  @Test func theMaskHasLengthLeadingOneBits() throws {
    #expect(try prefix("0.0.0.0/0").mask == [0, 0, 0, 0])
    #expect(try prefix("10.0.0.0/20").mask == [255, 255, 240, 0])
    #expect(try prefix("2001:db8::/33").mask == [255, 255, 255, 255, 128] + [UInt8](repeating: 0, count: 11))
    #expect(IPPrefix(kernelAddress: [10, 0, 0, 0], length: 33) == nil)
  }

  // MARK: - Validation

  @Test func shapesTheKernelWouldRefuseOrMisreadAreRefusedFirst() throws {
    let net = try prefix("10.0.0.0/8")
    let cases: [(TrafficShape, String)] = [
      (TrafficShape(faulted: []), "needs at least one faulted"),
      (
        TrafficShape(faulted: [FlowMatch(prefix: net, ports: PortSpan(80, 80))]),
        "ports need protocol tcp or udp"
      ),
      (
        TrafficShape(faulted: [FlowMatch(prefix: net, ipProtocol: .icmp, ports: PortSpan(80, 80))]),
        "ports need protocol tcp or udp, not icmp"
      ),
      (
        TrafficShape(faulted: [FlowMatch(prefix: net, ipProtocol: .udp, ports: PortSpan(90, 80))]),
        "ports 90-80: a port range goes from a lower port"
      ),
      (
        TrafficShape(
          faulted: [FlowMatch(prefix: net)],
          excluded: Array(repeating: FlowMatch(prefix: net), count: TrafficShape.maximumMatches)),
        "at most \(TrafficShape.maximumMatches)"
      ),
    ]
    for (shape, why) in cases {
      #expect(throws: KernelError.self) { try shape.validate() }
      do { try shape.validate() } catch { #expect(error.description.contains(why), "\(error)") }
    }
    try TrafficShape(
      faulted: [FlowMatch(prefix: net, ipProtocol: .tcp, ports: PortSpan(1, 65535))],
      excluded: [FlowMatch(prefix: try prefix("10.0.0.1"))]
    ).validate()
  }

  // MARK: - Wire format

  @Test func thePrioRootCarriesTwoBandsAndAPriomapSendingEverythingToBandZero() {
    // struct tc_prio_qopt { int bands; __u8 priomap[TC_PRIO_MAX + 1]; }: 4 + 16 bytes.
    #expect(ShapedTree.prioOptions() == [2, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
    #expect(ShapedTree.decodePrio(ShapedTree.prioOptions())! == (2, [UInt8](repeating: 0, count: 16)))
  }

  /// `tc filter add dev IF parent fa17: protocol ip pref 1001 flower ip_proto udp dst_ip 10.0.0.0/8
  /// dst_port 5000-5010 classid fa17:2`.
  @Test func anIPv4PortRangeFilterIsWhatTcSends() throws {
    let filter = FlowerFilter(
      pref: 1001,
      match: FlowMatch(prefix: try prefix("10.0.0.0/8"), ipProtocol: .udp, ports: PortSpan(5000, 5010)),
      side: .destination, classid: 0xFA17_0002)
    // struct tcmsg: family, 3 pad bytes, ifindex 7, handle 0 (the kernel picks one), parent fa17:,
    // info = TC_H_MAKE(pref << 16, htons(ETH_P_IP)).
    #expect(
      tcmsg(ifindex: 7, parent: 0xFA17_0000, info: filter.info) == [
        0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x17, 0xFA, 0x08, 0x00, 0xE9, 0x03,
      ])
    let expected: [UInt8] = [
      5, 0, 9, 0, 17, 0, 0, 0,  // TCA_FLOWER_KEY_IP_PROTO (9) u8 17, padded
      8, 0, 12, 0, 10, 0, 0, 0,  // TCA_FLOWER_KEY_IPV4_DST (12) be32
      8, 0, 13, 0, 255, 0, 0, 0,  // TCA_FLOWER_KEY_IPV4_DST_MASK (13) be32
      6, 0, 89, 0, 0x13, 0x88, 0, 0,  // TCA_FLOWER_KEY_PORT_DST_MIN (89) be16 5000
      6, 0, 90, 0, 0x13, 0x92, 0, 0,  // TCA_FLOWER_KEY_PORT_DST_MAX (90) be16 5010
      8, 0, 1, 0, 0x02, 0x00, 0x17, 0xFA,  // TCA_FLOWER_CLASSID (1) u32 fa17:2
      8, 0, 22, 0, 0, 0, 0, 0,  // TCA_FLOWER_FLAGS (22) u32 0: tc always sends it
      6, 0, 8, 0, 0x08, 0x00, 0, 0,  // TCA_FLOWER_KEY_ETH_TYPE (8) be16 ETH_P_IP, tc sends it last
    ]
    #expect(filter.encodedOptions() == expected)
    #expect(
      filter.tcArguments
        == "parent fa17: protocol ip pref 1001 flower ip_proto udp dst_ip 10.0.0.0/8 dst_port 5000-5010 "
        + "classid fa17:2")
  }

  /// `tc filter add dev IF parent fa17: protocol ipv6 pref 1000 flower ip_proto tcp src_ip fd00::/64
  /// src_port 443 classid fa17:1`: one port is the protocol's own key, never a range of one.
  @Test func anIPv6SourceFilterWithOnePortIsWhatTcSends() throws {
    let filter = FlowerFilter(
      pref: 1000,
      match: FlowMatch(prefix: try prefix("fd00::/64"), ipProtocol: .tcp, ports: PortSpan(443, 443)),
      side: .source, classid: 0xFA17_0001)
    #expect(filter.info == 0x03E8_DD86)  // pref 1000, htons(ETH_P_IPV6) read as a host u16
    let zeros = { (n: Int) in [UInt8](repeating: 0, count: n) }
    let expected: [UInt8] =
      [5, 0, 9, 0, 6, 0, 0, 0]  // TCA_FLOWER_KEY_IP_PROTO tcp
      + [20, 0, 14, 0, 0xFD] + zeros(15)  // TCA_FLOWER_KEY_IPV6_SRC (14)
      + [20, 0, 15, 0] + [UInt8](repeating: 255, count: 8) + zeros(8)  // TCA_FLOWER_KEY_IPV6_SRC_MASK (15)
      + [6, 0, 18, 0, 0x01, 0xBB, 0, 0]  // TCA_FLOWER_KEY_TCP_SRC (18) be16 443
      + [8, 0, 1, 0, 0x01, 0x00, 0x17, 0xFA]  // classid fa17:1
      + [8, 0, 22, 0, 0, 0, 0, 0]  // flags
      + [6, 0, 8, 0, 0x86, 0xDD, 0, 0]  // eth type ETH_P_IPV6
    #expect(filter.encodedOptions() == expected)
  }

  @Test func icmpIsProtocolOneForIPv4AndFiftyEightForIPv6() throws {
    for (text, number, word) in [("192.0.2.0/24", 1, "icmp"), ("2001:db8::/32", 58, "icmpv6")] {
      let filter = FlowerFilter(
        pref: 1000, match: FlowMatch(prefix: try prefix(text), ipProtocol: .icmp), side: .destination,
        classid: 0xFA17_0002)
      #expect(Array(filter.encodedOptions().prefix(8)) == [5, 0, 9, 0, UInt8(number), 0, 0, 0])
      #expect(filter.tcArguments.contains("ip_proto \(word) dst_ip \(text)"))
    }
  }

  /// An `RTM_NEWTFILTER` dump message around flower options as the kernel dumps them.
  private func dumpMessage(handle: UInt32, info: UInt32, options: [UInt8]) -> [UInt8] {
    var body = NetlinkWriter()
    body.attribute(UInt16(1)) { $0.append(contentsOf: Array("flower".utf8) + [0]) }  // TCA_KIND
    body.attribute(UInt16(2) | 0x8000) { $0.append(contentsOf: options) }  // TCA_OPTIONS, nested
    let header = tcmsg(ifindex: 3, handle: handle, parent: 0xFA17_0000, info: info)
    var message = NetlinkWriter()
    message.append(UInt32(16 + header.count + body.bytes.count))
    message.append(UInt16(44))  // RTM_NEWTFILTER
    message.append(UInt16(2))  // NLM_F_MULTI
    message.append(UInt32(1))
    message.append(UInt32(0))
    return message.bytes + header + body.bytes
  }

  @Test func dumpedFiltersReadBackAsTheMatchesThatMadeThem() throws {
    let shape = TrafficShape(
      faulted: [
        FlowMatch(prefix: try prefix("10.0.0.0/8"), ipProtocol: .udp, ports: PortSpan(53, 53)),
        FlowMatch(prefix: try prefix("2001:db8::/48"), ipProtocol: .tcp, ports: PortSpan(8000, 8080)),
      ],
      excluded: [FlowMatch(prefix: try prefix("10.0.0.1"))], side: .source)
    let filters = ShapedTree.filters(for: shape, bank: 1)
    #expect(filters.map(\.pref) == [11000, 11001, 11002])
    #expect(filters.map(\.classid) == [0xFA17_0001, 0xFA17_0002, 0xFA17_0002])
    let dumped = filters.enumerated().compactMap { index, filter in
      FlowerFilter.decode(
        message: dumpMessage(handle: UInt32(index + 1), info: filter.info, options: filter.encodedOptions()))
    }
    #expect(NetemKernel.filterMismatches(expected: filters, dumped: dumped).isEmpty)
    #expect(ShapedTree.shape(of: dumped.compactMap(\.flower)) == shape)
    // The message announcing a priority (handle 0) is not a filter.
    #expect(FlowerFilter.decode(message: dumpMessage(handle: 0, info: filters[0].info, options: [])) == nil)
  }

  @Test func aZeroLengthPrefixSendsNoAddressKeyAsTcDoes() throws {
    // With TCA_FLOWER_KEY_IPV4_DST present flower requires an IPv4 address type, which the dissector
    // sets only when some mask covers addresses: an all-zero mask would match nothing (seen in the VM).
    let filter = FlowerFilter(
      pref: 1000, match: FlowMatch(prefix: try prefix("0.0.0.0/0")), side: .destination, classid: 0xFA17_0002)
    var expected = NetlinkWriter()
    expected.attribute(1) { $0.append(UInt32(0xFA17_0002)) }  // TCA_FLOWER_CLASSID
    expected.attribute(22) { $0.append(UInt32(0)) }  // TCA_FLOWER_FLAGS
    expected.attribute(8) { $0.append(UInt16(0x0800).bigEndian) }  // TCA_FLOWER_KEY_ETH_TYPE
    #expect(filter.encodedOptions() == expected.bytes)
    #expect(!filter.tcArguments.contains("dst_ip"))
  }

  @Test func aZeroLengthPrefixReadsBackThoughTheKernelOmitsItsKey() throws {
    let filter = FlowerFilter(
      pref: 1000, match: FlowMatch(prefix: try prefix("0.0.0.0/0")), side: .destination, classid: 0xFA17_0002)
    // The kernel dumps no key whose mask is all zero: only classid, flags and eth type remain.
    var options = NetlinkWriter()
    options.attribute(1) { $0.append(UInt32(0xFA17_0002)) }
    options.attribute(22) { $0.append(UInt32(8)) }  // TCA_CLS_FLAGS_NOT_IN_HW, as the kernel reports it
    options.attribute(8) { $0.append(UInt16(0x0800).bigEndian) }
    let dumped = FlowerFilter.decode(
      message: dumpMessage(handle: 1, info: filter.info, options: options.bytes))
    #expect(NetemKernel.filterMismatches(expected: [filter], dumped: [dumped!]).isEmpty)
  }

  @Test func aTamperedOrForeignFilterIsAMismatch() throws {
    let asked = FlowerFilter(
      pref: 1000, match: FlowMatch(prefix: try prefix("192.0.2.2")), side: .destination, classid: 0xFA17_0002)
    var moved = asked
    moved.match.prefix = try prefix("192.0.2.3")
    let dumped = FlowerFilter.decode(
      message: dumpMessage(handle: 1, info: moved.info, options: moved.encodedOptions()))!
    let mismatches = NetemKernel.filterMismatches(expected: [asked], dumped: [dumped])
    #expect(mismatches.count == 2, "\(mismatches)")
    #expect(
      mismatches.first?.contains("kernel has parent fa17: protocol ip pref 1000 flower dst_ip 192.0.2.3/32")
        == true)
    var u32 = NetlinkWriter()
    u32.attribute(1) { $0.append(contentsOf: Array("u32".utf8) + [0]) }
    let header = tcmsg(ifindex: 3, handle: 0x800, parent: 0xFA17_0000, info: 5 << 16 | 0x0008)
    var message = NetlinkWriter()
    message.append(UInt32(16 + header.count + u32.bytes.count))
    message.append(UInt16(44))
    message.append(UInt16(2))
    message.append(UInt64(0))
    let foreign = FlowerFilter.decode(message: message.bytes + header + u32.bytes)
    #expect(foreign == .foreign(pref: 5, "pref 5 protocol 0x800 u32"))
  }

  @Test func theShapeReadBackIsTheBankTheKernelConsultsFirst() throws {
    let one = TrafficShape(faulted: [FlowMatch(prefix: try prefix("192.0.2.2"))])
    let two = TrafficShape(faulted: [FlowMatch(prefix: try prefix("192.0.2.3"))])
    // Mid-swap both banks are there; bank 1 was just added, bank 0 still wins.
    let both = ShapedTree.filters(for: one, bank: 0) + ShapedTree.filters(for: two, bank: 1)
    #expect(ShapedTree.shape(of: both) == one)
    #expect(ShapedTree.shape(of: ShapedTree.filters(for: two, bank: 1)) == two)
    #expect(ShapedTree.shape(of: []) == nil)
  }

  // MARK: - tc commands and errors

  @Test func tcCommandsBuildTheSameTree() throws {
    var fault = NetemFault()
    try fault.set("delay", to: "100ms")
    try fault.set("jitter", to: "10ms")
    try fault.set("distribution", to: "normal")
    try fault.set("loss", to: "1%")
    let shape = TrafficShape(
      faulted: [
        FlowMatch(prefix: try prefix("10.0.0.0/8")),
        FlowMatch(prefix: try prefix("fd00::/64"), ipProtocol: .udp, ports: PortSpan(53, 53)),
      ],
      excluded: [FlowMatch(prefix: try prefix("10.1.2.3"))])
    #expect(
      NetemKernel.tcCommands(for: fault, shape: shape, interface: "eth0") == [
        "tc qdisc replace dev eth0 root handle fa17: prio bands 2 priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
        "tc qdisc replace dev eth0 parent fa17:2 handle fa18: netem limit 1000 delay 100ms 10ms loss 1% "
          + "distribution normal",
        "tc filter add dev eth0 parent fa17: protocol ip pref 1000 flower dst_ip 10.1.2.3/32 classid fa17:1",
        "tc filter add dev eth0 parent fa17: protocol ip pref 1001 flower dst_ip 10.0.0.0/8 classid fa17:2",
        "tc filter add dev eth0 parent fa17: protocol ipv6 pref 1002 flower ip_proto udp dst_ip fd00::/64 "
          + "dst_port 53 classid fa17:2",
      ])
  }

  @Test func aMissingModuleIsNamedWithModprobeAndExitsLikeAMissingNetem() {
    let error = KernelError.moduleUnavailable("cls_flower", kernelMessage: "TC classifier not found")
    #expect(error.kind == .moduleUnavailable)
    #expect(error.exitCode == KernelError.netemUnavailable(kernelMessage: "").exitCode)
    #expect(
      error.description
        == "this kernel has no cls_flower module (kernel said: TC classifier not found); load it with "
        + "`modprobe cls_flower` on the node (in a container, the host has to); needs CONFIG_NET_CLS_FLOWER")
    #expect(
      KernelError.moduleUnavailable("sch_prio", kernelMessage: "").description.contains(
        "NET_SCH_PRIO"))
    #expect(NetemKernel.isUnknownKind("Specified qdisc kind is unknown"))
    #expect(NetemKernel.isUnknownKind("TC classifier not found"))
    #expect(!NetemKernel.isUnknownKind("Specified class not found"))
  }

  @Test func faultlinesPrioRootIsFaultlinesAndSomeoneElsesIsNot() {
    #expect(QdiscSnapshot(kind: "prio", handle: 0xFA17_0000, options: []).isFaultline)
    #expect(QdiscSnapshot(kind: "prio", handle: 0xFA17_0000, options: []).isShapedRoot)
    #expect(!QdiscSnapshot(kind: "prio", handle: 0x8001_0000, options: []).isFaultline)
    #expect(!QdiscSnapshot(kind: "netem", handle: 0xFA17_0000, options: []).isShapedRoot)
  }
}
