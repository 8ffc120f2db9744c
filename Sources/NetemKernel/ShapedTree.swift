import CLinux
import FaultModel
import Glibc
import SystemPackage

/// faultline's targeted-fault tree on one interface, in kernel terms:
///
/// ```
/// prio fa17: root, bands 2, priomap all 0 ──▶ class fa17:1 (band 0): the kernel's pfifo, untouched
///   │ flower filters on fa17:                  class fa17:2 (band 1): netem fa18: (the fault)
///   │   excluded matches (lower prefs) → classid fa17:1
///   │   faulted matches (after them)   → classid fa17:2
/// ```
///
/// Everything a filter does not select follows the priomap to band 0 and is not delayed. The filters
/// live in one of two banks of priorities: a reshape adds the new set in the other bank before it
/// deletes the old one, so the fault never lapses for the selected peers.
enum ShapedTree {
  /// The root `prio` qdisc's handle: faultline's reserved `fa17:`.
  static let rootHandle = NetemKernel.handle
  /// The netem child's handle, `fa18:`.
  static let netemHandle: UInt32 = 0xFA18_0000
  /// Band 0, where unselected and excluded packets go untouched.
  static let passClass: UInt32 = 0xFA17_0001
  /// Band 1, holding the netem.
  static let faultClass: UInt32 = 0xFA17_0002
  /// Two bands: the minimum `prio` accepts (`TCQ_MIN_PRIO_BANDS`).
  static let bands: Int32 = 2
  /// `TC_PRIO_MAX + 1` priomap entries.
  static let priomapSize = 16

  /// The first filter priority of bank 0 and of bank 1.
  static let bankBases: [UInt16] = [1000, 11000]

  /// The bank a filter priority belongs to.
  static func bank(ofPref pref: UInt16) -> Int { pref >= bankBases[1] ? 1 : 0 }

  /// The `TCA_OPTIONS` payload of the root: `struct tc_prio_qopt { int bands; __u8 priomap[16]; }`
  /// with every priority mapped to band 0 (`tc … prio bands 2 priomap 0 0 … 0`).
  static func prioOptions() -> [UInt8] {
    var w = NetlinkWriter()
    w.append(bands)
    w.append(contentsOf: [UInt8](repeating: 0, count: priomapSize))
    return w.bytes
  }

  /// What a dumped prio's options say: its band count and priomap; nil when too short.
  static func decodePrio(_ options: [UInt8]) -> (bands: Int32, priomap: [UInt8])? {
    guard options.count >= 4 + priomapSize else { return nil }
    return (Int32(bitPattern: NetlinkReader(options).u32(at: 0)), Array(options[4..<(4 + priomapSize)]))
  }

  /// The filters that carry `shape` in `bank`: excluded matches first (they win), then faulted ones.
  static func filters(for shape: TrafficShape, bank: Int) -> [FlowerFilter] {
    let base = bankBases[bank]
    let excluded = shape.excluded.enumerated().map { index, match in
      FlowerFilter(pref: base + UInt16(index), match: match, side: shape.side, classid: passClass)
    }
    let faulted = shape.faulted.enumerated().map { index, match in
      FlowerFilter(
        pref: base + UInt16(shape.excluded.count + index), match: match, side: shape.side, classid: faultClass
      )
    }
    return excluded + faulted
  }

  /// The shape a set of filters carries (those of the bank with the lowest priorities, which the
  /// kernel consults first); nil when there are none.
  static func shape(of filters: [FlowerFilter]) -> TrafficShape? {
    guard let first = filters.min(by: { $0.pref < $1.pref }) else { return nil }
    let bank = bank(ofPref: first.pref)
    let mine = filters.filter { Self.bank(ofPref: $0.pref) == bank }.sorted { $0.pref < $1.pref }
    return TrafficShape(
      faulted: mine.filter { $0.classid == faultClass }.map(\.match),
      excluded: mine.filter { $0.classid != faultClass }.map(\.match),
      side: mine.first { $0.sideIsKnown }?.side ?? .destination)
  }

  /// `tc qdisc replace dev IF root handle fa17: prio bands 2 priomap 0 …`, the netem child and the filters.
  static func tcCommands(netemWords: String, shape: TrafficShape, interface: String) -> [String] {
    let priomap = Array(repeating: "0", count: priomapSize).joined(separator: " ")
    return [
      "tc qdisc replace dev \(interface) root handle \(formatHandle(rootHandle)) prio bands \(bands) "
        + "priomap \(priomap)",
      "tc qdisc replace dev \(interface) parent \(formatHandle(faultClass)) handle \(formatHandle(netemHandle)) "
        + "netem \(netemWords)",
    ] + filters(for: shape, bank: 0).map { "tc filter add dev \(interface) \($0.tcArguments)" }
  }
}

/// One flower filter of the tree: a ``FlowMatch`` at a priority, sending to a class of the prio root.
struct FlowerFilter: Hashable, CustomStringConvertible {
  /// Its priority (`tc filter … pref N`): lower numbers are consulted first.
  var pref: UInt16
  /// What it selects.
  var match: FlowMatch
  /// Whether `match` names destinations or sources.
  var side: MatchSide
  /// `fa17:1` (pass) or `fa17:2` (fault).
  var classid: UInt32
  /// Whether a dump said which side it matches (a /0 prefix without ports carries no key that does).
  var sideIsKnown = true

  init(pref: UInt16, match: FlowMatch, side: MatchSide, classid: UInt32) {
    self.pref = pref
    self.match = match
    self.side = side
    self.classid = classid
  }

  /// Whether a dumped filter says what this one asked: the same priority, class and match, and the
  /// same side unless the dump could not tell (a /0 prefix without ports has no key naming it).
  func agrees(with dumped: FlowerFilter) -> Bool {
    pref == dumped.pref && classid == dumped.classid && match == dumped.match
      && (side == dumped.side || !dumped.sideIsKnown)
  }

  /// `ETH_P_IP` or `ETH_P_IPV6`.
  var ethType: UInt16 { match.prefix.isIPv6 ? 0x86DD : 0x0800 }

  /// `tcm_info`: the priority in the upper half, the protocol (network byte order) in the lower.
  var info: UInt32 { UInt32(pref) << 16 | UInt32(ethType.bigEndian) }

  /// `TCA_FLOWER_*` attribute numbers (`include/uapi/linux/pkt_cls.h`).
  enum Key {
    static let classid: UInt16 = 1
    static let ethType: UInt16 = 8
    static let ipProto: UInt16 = 9
    static let ipv4Src: UInt16 = 10
    static let ipv4SrcMask: UInt16 = 11
    static let ipv4Dst: UInt16 = 12
    static let ipv4DstMask: UInt16 = 13
    static let ipv6Src: UInt16 = 14
    static let ipv6SrcMask: UInt16 = 15
    static let ipv6Dst: UInt16 = 16
    static let ipv6DstMask: UInt16 = 17
    static let tcpSrc: UInt16 = 18
    static let tcpDst: UInt16 = 19
    static let udpSrc: UInt16 = 20
    static let udpDst: UInt16 = 21
    static let flags: UInt16 = 22
    static let portSrcMin: UInt16 = 87
    static let portSrcMax: UInt16 = 88
    static let portDstMin: UInt16 = 89
    static let portDstMax: UInt16 = 90
  }

  /// The nested `TCA_OPTIONS` payload, attribute for attribute in the order `tc filter add … flower
  /// ip_proto P dst_ip A/L dst_port X[-Y] classid C` sends them: the keys as given, then
  /// `TCA_FLOWER_FLAGS` (0) and `TCA_FLOWER_KEY_ETH_TYPE`, which `tc` appends last.
  func encodedOptions() -> [UInt8] {
    var out = NetlinkWriter()
    let v6 = match.prefix.isIPv6
    let source = side == .source
    if let proto = match.ipProtocol {
      out.attribute(Key.ipProto) { $0.append(proto.number(ipv6: v6)) }
    }
    let (addressKey, maskKey) =
      v6
      ? (source ? (Key.ipv6Src, Key.ipv6SrcMask) : (Key.ipv6Dst, Key.ipv6DstMask))
      : (source ? (Key.ipv4Src, Key.ipv4SrcMask) : (Key.ipv4Dst, Key.ipv4DstMask))
    // A /0 sends no address at all, as `tc` does for a filter without dst_ip: with the key present
    // flower requires the packet's address type to be dissected, and with an all-zero mask the
    // dissector never looks at addresses, so the filter would match nothing.
    if match.prefix.length > 0 {
      out.attribute(addressKey) { $0.append(contentsOf: match.prefix.address) }
      out.attribute(maskKey) { $0.append(contentsOf: match.prefix.mask) }
    }
    if let ports = match.ports {
      if ports.lower == ports.upper {
        let key =
          match.ipProtocol == .tcp
          ? (source ? Key.tcpSrc : Key.tcpDst) : (source ? Key.udpSrc : Key.udpDst)
        out.attribute(key) { $0.append(ports.lower.bigEndian) }
      } else {
        // The kernel takes a range only when min < max strictly; one port is its own key above.
        out.attribute(source ? Key.portSrcMin : Key.portDstMin) { $0.append(ports.lower.bigEndian) }
        out.attribute(source ? Key.portSrcMax : Key.portDstMax) { $0.append(ports.upper.bigEndian) }
      }
    }
    out.attribute(Key.classid) { $0.append(classid) }
    out.attribute(Key.flags) { $0.append(UInt32(0)) }
    out.attribute(Key.ethType) { $0.append(ethType.bigEndian) }
    return out.bytes
  }

  /// A filter from an `RTM_NEWTFILTER` dump message (header included). Nil for the message that
  /// only announces a priority (handle 0) and for other message types; a filter that is not flower,
  /// or not one faultline could have made, is reported as `.foreign` with its description.
  static func decode(message bytes: [UInt8]) -> DumpedFilter? {
    let reader = NetlinkReader(bytes)
    guard bytes.count >= 36, reader.u16(at: 4) == UInt16(RTM_NEWTFILTER), reader.u32(at: 24) != 0 else {
      return nil
    }
    let info = reader.u32(at: 32)
    let pref = UInt16(info >> 16)
    let protocolNumber = UInt16(bigEndian: UInt16(truncatingIfNeeded: info))
    let (kind, options) = reader.kindAndOptions()
    // Described only when foreign: a read-back decodes every filter of faultline's tree.
    func label() -> String { "pref \(pref) protocol 0x\(String(protocolNumber, radix: 16)) \(kind)" }
    guard kind == "flower", protocolNumber == 0x0800 || protocolNumber == 0x86DD else {
      return .foreign(pref: pref, label())
    }
    guard let filter = FlowerFilter(pref: pref, ipv6: protocolNumber == 0x86DD, options: options) else {
      return .foreign(pref: pref, "\(label()) (keys faultline does not set)")
    }
    return .flower(filter)
  }

  /// Reads flower's dumped keys; nil when they hold anything a ``FlowMatch`` cannot express.
  private init?(pref: UInt16, ipv6: Bool, options: [UInt8]) {
    // Only the keys read below are kept (a dump also carries flags, counters and the eth type).
    var keys: [UInt16: [UInt8]] = [:]
    NetlinkReader(options).forEachAttribute(from: 0) { type, payload in
      if type <= Key.udpDst || (Key.portSrcMin...Key.portDstMax).contains(type) {
        keys[type] = Array(options[payload])
      }
    }
    func be16(_ key: UInt16) -> UInt16? {
      guard let p = keys[key], p.count >= 2 else { return nil }
      return UInt16(p[0]) << 8 | UInt16(p[1])
    }
    guard let classBytes = keys[Key.classid], classBytes.count >= 4 else { return nil }
    self.pref = pref
    classid = NetlinkReader(classBytes).u32(at: 0)
    let width = ipv6 ? 16 : 4
    let src = ipv6 ? (Key.ipv6Src, Key.ipv6SrcMask) : (Key.ipv4Src, Key.ipv4SrcMask)
    let dst = ipv6 ? (Key.ipv6Dst, Key.ipv6DstMask) : (Key.ipv4Dst, Key.ipv4DstMask)
    let sourceKeys = [src.0, Key.tcpSrc, Key.udpSrc, Key.portSrcMin, Key.portSrcMax]
    let destinationKeys = [dst.0, Key.tcpDst, Key.udpDst, Key.portDstMin, Key.portDstMax]
    let hasSource = sourceKeys.contains { keys[$0] != nil }
    let hasDestination = destinationKeys.contains { keys[$0] != nil }
    if hasSource && hasDestination { return nil }
    side = hasSource ? .source : .destination
    sideIsKnown = hasSource || hasDestination
    let (addressKey, maskKey) = side == .source ? src : dst
    var prefix = IPPrefix(address: [UInt8](repeating: 0, count: width), length: 0)
    if let address = keys[addressKey] {
      // The kernel leaves a key with an all-zero mask (a /0) out of the dump.
      guard address.count == width, let mask = keys[maskKey], mask.count == width,
        let length = Self.prefixLength(mask), let parsed = IPPrefix(kernelAddress: address, length: length)
      else { return nil }
      prefix = parsed
    }
    var ipProtocol: IPProtocolMatch?
    if let proto = keys[Key.ipProto]?.first {
      guard let known = IPProtocolMatch(number: proto), known.number(ipv6: ipv6) == proto else { return nil }
      ipProtocol = known
    }
    var ports: PortSpan?
    let source = side == .source
    if let low = be16(source ? Key.portSrcMin : Key.portDstMin),
      let high = be16(source ? Key.portSrcMax : Key.portDstMax)
    {
      ports = PortSpan(low, high)
    } else if let port = be16(
      ipProtocol == .tcp ? (source ? Key.tcpSrc : Key.tcpDst) : (source ? Key.udpSrc : Key.udpDst))
    {
      ports = PortSpan(port, port)
    }
    match = FlowMatch(prefix: prefix, ipProtocol: ipProtocol, ports: ports)
  }

  /// The number of leading one bits of a contiguous mask; nil for a mask with holes.
  private static func prefixLength(_ mask: [UInt8]) -> Int? {
    var bits = 0
    var ended = false
    for byte in mask {
      for shift in (0..<8).reversed() {
        if byte >> shift & 1 == 1 {
          if ended { return nil }
          bits += 1
        } else {
          ended = true
        }
      }
    }
    return bits
  }

  /// `parent fa17: protocol ip pref 1000 flower ip_proto udp dst_ip 10.0.0.0/8 dst_port 53 classid fa17:2`.
  var tcArguments: String {
    let v6 = match.prefix.isIPv6
    let source = side == .source
    var words = [
      "parent", formatHandle(ShapedTree.rootHandle), "protocol", v6 ? "ipv6" : "ip", "pref", "\(pref)",
      "flower",
    ]
    if let proto = match.ipProtocol { words += ["ip_proto", proto.tcWord(ipv6: v6)] }
    if match.prefix.length > 0 { words += [source ? "src_ip" : "dst_ip", match.prefix.description] }
    if let ports = match.ports { words += [source ? "src_port" : "dst_port", ports.tcText] }
    words += ["classid", formatHandle(classid)]
    return words.joined(separator: " ")
  }

  var description: String { tcArguments }
}

/// A filter as dumped under faultline's root.
enum DumpedFilter: Hashable {
  /// One faultline could have made.
  case flower(FlowerFilter)
  /// Anything else (described): someone else's, or tampered with.
  case foreign(pref: UInt16, String)

  /// Its priority.
  var pref: UInt16 {
    switch self {
    case .flower(let filter): filter.pref
    case .foreign(let pref, _): pref
    }
  }

  /// The flower filter, when it is one faultline could have made.
  var flower: FlowerFilter? {
    if case .flower(let filter) = self { filter } else { nil }
  }
}

extension NetlinkSocket {
  /// Every qdisc of `ifindex` (`tc qdisc show dev IF`).
  func qdiscs(ifindex: Int32, interface: String) throws(KernelError) -> [QdiscSnapshot] {
    try request(.dumpQdiscs(ifindex: ifindex, interface: interface)).compactMap { QdiscSnapshot(message: $0) }
      .filter { $0.ifindex == ifindex }
  }

  /// Creates or changes the qdisc `handle` under `parent` (`tc qdisc replace dev IF parent P handle H: KIND …`).
  func replaceQdisc(
    ifindex: Int32, interface: String, kind: String, handle: UInt32, parent: UInt32, options: [UInt8]
  ) throws(KernelError) {
    try request(
      .replaceQdisc(
        ifindex: ifindex, interface: interface, kind: kind, handle: handle, parent: parent, options: options))
  }

  /// Adds one flower filter on faultline's root (`tc filter add dev IF parent fa17: protocol ip pref N
  /// flower …`).
  func addFilter(ifindex: Int32, interface: String, _ filter: FlowerFilter) throws(KernelError) {
    try request(.addFilter(ifindex: ifindex, interface: interface, filter))
  }

  /// Deletes every filter at priority `pref` on faultline's root (`tc filter del dev IF parent fa17:
  /// pref N`); one already gone is not an error.
  func deleteFilters(ifindex: Int32, interface: String, pref: UInt16) throws(KernelError) {
    do {
      try request(
        "RTM_DELTFILTER pref \(pref) on \(interface)", type: Int32(RTM_DELTFILTER), flags: 0,
        header: tcmsg(ifindex: ifindex, parent: ShapedTree.rootHandle, info: UInt32(pref) << 16),
        attributes: [])
    } catch  where error.errno == Errno.noSuchFileOrDirectory {
      return
    }
  }

  /// The filters on faultline's root (`tc filter show dev IF parent fa17:`).
  func filters(ifindex: Int32, interface: String) throws(KernelError) -> [DumpedFilter] {
    try request(.dumpFilters(ifindex: ifindex, interface: interface)).compactMap {
      FlowerFilter.decode(message: $0)
    }
  }
}

extension NetlinkRequest {
  /// `tc qdisc replace dev IF parent P handle H: KIND …`.
  static func replaceQdisc(
    ifindex: Int32, interface: String, kind: String, handle: UInt32, parent: UInt32, options: [UInt8]
  ) -> NetlinkRequest {
    NetlinkRequest(
      operation:
        "RTM_NEWQDISC \(kind) \(formatHandle(handle)) parent \(formatHandle(parent)) on \(interface)",
      type: Int32(RTM_NEWQDISC), flags: NLM_F_CREATE | NLM_F_REPLACE,
      header: tcmsg(ifindex: ifindex, handle: handle, parent: parent),
      attributes: [(UInt16(TCA_KIND), Array(kind.utf8) + [0]), (UInt16(TCA_OPTIONS), options)])
  }

  /// `tc filter show dev IF parent fa17:`: an `RTM_GETTFILTER` dump of faultline's root.
  static func dumpFilters(ifindex: Int32, interface: String) -> NetlinkRequest {
    NetlinkRequest(
      operation: "RTM_GETTFILTER dump for \(interface)", type: Int32(RTM_GETTFILTER), flags: NLM_F_DUMP,
      header: tcmsg(ifindex: ifindex, parent: ShapedTree.rootHandle), attributes: [], dump: true)
  }

  /// `tc filter add dev IF parent fa17: protocol ip pref N flower …` (one filter on faultline's root).
  static func addFilter(ifindex: Int32, interface: String, _ filter: FlowerFilter) -> NetlinkRequest {
    NetlinkRequest(
      operation: "RTM_NEWTFILTER flower pref \(filter.pref) on \(interface)", type: Int32(RTM_NEWTFILTER),
      flags: NLM_F_CREATE | NLM_F_EXCL,
      header: tcmsg(ifindex: ifindex, parent: ShapedTree.rootHandle, info: filter.info),
      attributes: [
        (UInt16(TCA_KIND), Array("flower".utf8) + [0]),
        (UInt16(TCA_OPTIONS) | UInt16(NLA_F_NESTED), filter.encodedOptions()),
      ])
  }
}
