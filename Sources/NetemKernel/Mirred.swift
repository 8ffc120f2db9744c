// The ingress redirect filter's wire format: `matchall` with one `mirred egress redirect` action, as
// `tc filter add dev IF ingress pref P handle H matchall skip_hw action mirred egress redirect dev IFB`
// sends it, and the parts of a filter dump that say where a filter redirects to.
//
// The UAPI numbers below come from <linux/pkt_sched.h>, <linux/pkt_cls.h> and
// <linux/tc_act/tc_mirred.h>; they are spelled out here (the shim includes only pkt_sched.h) and each
// one is pinned by a host test against its header value, as are the byte layouts.

import CLinux

/// Handles and parents of the ingress hook (`<linux/pkt_sched.h>`).
enum IngressHook {
  /// `TC_H_INGRESS` (= `TC_H_CLSACT`): the parent of an `ingress` or `clsact` qdisc.
  static let qdiscParent: UInt32 = 0xFFFF_FFF1
  /// `TC_H_MAKE(TC_H_CLSACT, 0)`, `ffff:`: the handle of an `ingress` or `clsact` qdisc.
  static let qdiscHandle: UInt32 = 0xFFFF_0000
  /// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`, `ffff:fff2`: the parent of ingress filters (what
  /// `tc filter … ingress` sends). The `ingress` qdisc accepts it too, so one parent covers both kinds.
  static let ingressFilterParent: UInt32 = 0xFFFF_FFF2
  /// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)`, `ffff:fff3`: a clsact's egress filters.
  static let egressFilterParent: UInt32 = 0xFFFF_FFF3
  /// `htons(ETH_P_ALL)` as the low 16 bits of `tcm_info` hold it (`protocol all`).
  static let protocolAll = UInt16(0x0003).bigEndian

  /// `tcm_info` of a filter: its priority (`pref`) above its protocol.
  static func filterInfo(priority: UInt16, protocol: UInt16 = protocolAll) -> UInt32 {
    UInt32(priority) << 16 | UInt32(`protocol`)
  }
}

/// `struct tc_mirred` (`<linux/tc_act/tc_mirred.h>`): `tc_gen` (index, capab, action, refcnt,
/// bindcnt), then eaction and ifindex; 28 bytes in host order.
struct MirredParameters: Hashable {
  /// `TC_ACT_STOLEN`: what `tc … mirred egress redirect` sets as the action's verdict (the packet
  /// leaves with the redirect; nothing else on this hook sees it).
  static let actionStolen: Int32 = 4
  /// `TCA_EGRESS_REDIR`: send the packet out of the target device (through its egress qdisc).
  static let egressRedirect: Int32 = 1
  /// `TCA_ACT_KIND`, `TCA_ACT_OPTIONS` (`<linux/pkt_cls.h>`).
  static let actKind: UInt16 = 1
  static let actOptions: UInt16 = 2
  /// `TCA_MIRRED_PARMS`.
  static let parms: UInt16 = 2
  /// The encoded size of `struct tc_mirred`.
  static let size = 28

  var index: UInt32 = 0
  var capab: UInt32 = 0
  var action: Int32
  var refcnt: Int32 = 0
  var bindcnt: Int32 = 0
  var eaction: Int32
  var ifindex: UInt32

  /// `mirred egress redirect dev <ifindex>`.
  static func redirect(toIfindex ifindex: Int32) -> MirredParameters {
    MirredParameters(action: actionStolen, eaction: egressRedirect, ifindex: UInt32(bitPattern: ifindex))
  }

  /// The struct's bytes.
  var encoded: [UInt8] {
    var w = NetlinkWriter()
    w.append(index)
    w.append(capab)
    w.append(action)
    w.append(refcnt)
    w.append(bindcnt)
    w.append(eaction)
    w.append(ifindex)
    return w.bytes
  }

  /// Reads the struct back; nil when `bytes` is too short.
  init?(decoding bytes: [UInt8]) {
    guard bytes.count >= Self.size else { return nil }
    let r = NetlinkReader(bytes)
    index = r.u32(at: 0)
    capab = r.u32(at: 4)
    action = Int32(bitPattern: r.u32(at: 8))
    refcnt = Int32(bitPattern: r.u32(at: 12))
    bindcnt = Int32(bitPattern: r.u32(at: 16))
    eaction = Int32(bitPattern: r.u32(at: 20))
    ifindex = r.u32(at: 24)
  }

  init(action: Int32, eaction: Int32, ifindex: UInt32) {
    self.action = action
    self.eaction = eaction
    self.ifindex = ifindex
  }
}

/// The `TCA_OPTIONS` of faultline's redirect filter (`cls_matchall`, `<linux/pkt_cls.h>`).
enum MatchallRedirect {
  /// The classifier's kind.
  static let kind = "matchall"
  /// `TCA_MATCHALL_ACT`.
  static let actions: UInt16 = 2
  /// `TCA_MATCHALL_FLAGS`.
  static let flags: UInt16 = 3
  /// `TCA_CLS_FLAGS_SKIP_HW`: never offloaded (a NIC cannot redirect to a software IFB; asking
  /// would only fail on NICs that offload tc).
  static let skipHardware: UInt32 = 1
  /// `NLA_F_NESTED`, set on every nest as the kernel's strict policies want (the others ignore it).
  static let nested: UInt16 = 0x8000

  /// `matchall skip_hw action mirred egress redirect dev <ifindex>`: the flags, then the action list
  /// holding one action at index 1 (kind `mirred`, options `TCA_MIRRED_PARMS`).
  static func options(redirectingTo ifindex: Int32) -> [UInt8] {
    var w = NetlinkWriter()
    w.attribute(flags) { $0.append(skipHardware) }
    w.attribute(actions | nested) { list in
      list.attribute(1 | nested) { action in
        action.attribute(MirredParameters.actKind) { $0.append(bytesOf: "mirred") }
        action.attribute(MirredParameters.actOptions | nested) { options in
          options.attribute(MirredParameters.parms) {
            $0.append(contentsOf: MirredParameters.redirect(toIfindex: ifindex).encoded)
          }
        }
      }
    }
    return w.bytes
  }

  /// The interface index a matchall filter's options redirect to (its first `mirred egress
  /// redirect` action), or nil when it has none.
  static func redirectTarget(options: [UInt8]) -> Int32? {
    guard let list = NetlinkReader(options).attributes(from: 0).first(where: { $0.0 == actions })?.1 else {
      return nil
    }
    for (_, action) in NetlinkReader(list).attributes(from: 0) {
      let parts = NetlinkReader(action).attributes(from: 0)
      guard let kind = parts.first(where: { $0.0 == MirredParameters.actKind })?.1,
        String(decoding: kind.prefix { $0 != 0 }, as: UTF8.self) == "mirred",
        let actionOptions = parts.first(where: { $0.0 == MirredParameters.actOptions })?.1,
        let raw = NetlinkReader(actionOptions).attributes(from: 0).first(where: {
          $0.0 == MirredParameters.parms
        })?.1,
        let parms = MirredParameters(decoding: raw), parms.eaction == MirredParameters.egressRedirect
      else { continue }
      return Int32(bitPattern: parms.ifindex)
    }
    return nil
  }
}

/// One filter as an `RTM_GETTFILTER` dump reports it (`tc filter show dev IF ingress`).
///
/// A dump reports each (priority, protocol) classifier once on its own, without a handle or options,
/// then each of its filters with their handle.
struct IngressFilterRecord: Hashable {
  var ifindex: Int32
  var handle: UInt32
  var parent: UInt32
  /// `pref`.
  var priority: UInt16
  /// `tcm_info`'s low 16 bits, in network order as the kernel keeps them.
  var `protocol`: UInt16
  var kind: String
  var options: [UInt8]

  /// Parses an `RTM_NEWTFILTER` message (header included); nil for another message type.
  init?(message bytes: [UInt8]) {
    let reader = NetlinkReader(bytes)
    guard bytes.count >= 36, reader.u16(at: 4) == UInt16(RTM_NEWTFILTER) else { return nil }
    ifindex = Int32(bitPattern: reader.u32(at: 20))
    handle = reader.u32(at: 24)
    parent = reader.u32(at: 28)
    let info = reader.u32(at: 32)
    priority = UInt16(info >> 16)
    `protocol` = UInt16(info & 0xFFFF)
    kind = ""
    options = []
    for (type, payload) in reader.attributes(from: 36) {
      if type == UInt16(TCA_KIND) { kind = String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self) }
      if type == UInt16(TCA_OPTIONS) { options = payload }
    }
  }

  /// Where this filter redirects to when it is a matchall with a `mirred egress redirect`.
  var redirectTarget: Int32? {
    kind == MatchallRedirect.kind ? MatchallRedirect.redirectTarget(options: options) : nil
  }
}

extension NetlinkWriter {
  /// A NUL-terminated string, as `TCA_KIND`-style attributes carry them.
  fileprivate mutating func append(bytesOf string: String) {
    for byte in string.utf8 { append(byte) }
    append(UInt8(0))
  }
}
