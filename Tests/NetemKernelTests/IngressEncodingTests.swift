import Foundation
import Testing

@testable import NetemKernel

/// Pure tests of the ingress redirect's names and wire format (no privileges needed): the numbers
/// and layouts are those of the kernel UAPI headers, written out here from the headers' text.
@Suite struct IngressEncodingTests {
  // MARK: IFB names

  @Test func theIFBNameIsStableShortAndDerivedFromTheInterface() {
    // FNV-1a 32 of the name, as a fresh process doing crash recovery derives it again.
    #expect(NetemKernel.ingressDeviceName(for: "eth0") == "fl-67b19724")
    #expect(NetemKernel.ingressDeviceName(for: "va") == "fl-4449c878")
    #expect(NetemKernel.ingressDeviceName(for: "eth0") == NetemKernel.ingressDeviceName(for: "eth0"))
  }

  @Test(arguments: ["eth0", "lo", "va", "veth1234567890a", "net1", "cali12345678901", "ens5f0np0", "é"])
  func theIFBNameIsAValidInterfaceName(interface: String) {
    let name = NetemKernel.ingressDeviceName(for: interface)
    // dev_valid_name: 1 to 15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or whitespace, not . or ..
    #expect(!name.isEmpty && name.utf8.count <= 15, "\(name)")
    #expect(name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
    #expect(name != interface)
  }

  @Test func differentInterfacesGetDifferentIFBs() {
    let interfaces =
      (0..<256).map { "eth\($0)" } + (0..<256).map { "net\($0)" } + (0..<64).map { "veth\($0)" } + [
        "lo", "va", "vb",
      ]
    let names = Set(interfaces.map(NetemKernel.ingressDeviceName(for:)))
    #expect(names.count == interfaces.count)
  }

  // MARK: handles and filter header

  @Test func clsactHandlesAreTheUAPIConstants() {
    #expect(IngressHook.qdiscParent == 0xFFFF_FFF1)  // TC_H_INGRESS == TC_H_CLSACT
    #expect(IngressHook.qdiscHandle == 0xFFFF_0000)  // TC_H_MAKE(TC_H_CLSACT, 0), "ffff:"
    #expect(IngressHook.ingressFilterParent == 0xFFFF_FFF2)  // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
    #expect(IngressHook.egressFilterParent == 0xFFFF_FFF3)  // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)
    #expect(formatHandle(IngressHook.qdiscHandle) == "ffff:")
  }

  @Test func theFilterHeaderCarriesPriorityAboveProtocolAllInNetworkOrder() {
    #expect(NetemKernel.ingressFilterPriority == 64023)
    // TC_H_MAKE(pref << 16, htons(ETH_P_ALL)): the low 16 bits hold ETH_P_ALL (0x0003) big-endian, so
    // in memory (a little-endian u32) they read 00 03, and the kernel's TC_H_MIN gives back htons(3).
    let info = IngressHook.filterInfo(priority: 0xFA17)
    #expect(info >> 16 == 0xFA17)
    #expect(withUnsafeBytes(of: info) { Array($0) } == [0x00, 0x03, 0x17, 0xFA])
    // struct tcmsg: family, 3 pad bytes, ifindex, handle, parent, info.
    let header = tcmsg(
      ifindex: 5, handle: 0xFA17, parent: IngressHook.ingressFilterParent, info: info)
    #expect(
      header == [
        0, 0, 0, 0, 5, 0, 0, 0, 0x17, 0xFA, 0, 0, 0xF2, 0xFF, 0xFF, 0xFF, 0x00, 0x03, 0x17, 0xFA,
      ])
  }

  // MARK: mirred and matchall

  @Test func tcMirredIsTcGenThenEactionAndIfindex() throws {
    // struct tc_mirred { __u32 index; __u32 capab; int action; int refcnt; int bindcnt; int eaction; __u32 ifindex; }
    let bytes = MirredParameters.redirect(toIfindex: 7).encoded
    #expect(bytes.count == 28)
    #expect(
      bytes == [
        0, 0, 0, 0,  // index: the kernel allocates one
        0, 0, 0, 0,  // capab
        4, 0, 0, 0,  // action TC_ACT_STOLEN
        0, 0, 0, 0,  // refcnt
        0, 0, 0, 0,  // bindcnt
        1, 0, 0, 0,  // eaction TCA_EGRESS_REDIR
        7, 0, 0, 0,  // ifindex
      ])
    let decoded = try #require(MirredParameters(decoding: bytes))
    #expect(decoded == MirredParameters.redirect(toIfindex: 7))
    #expect(MirredParameters(decoding: Array(bytes.prefix(27))) == nil)
  }

  @Test func matchallOptionsAreFlagsThenOneMirredActionNestedAsTcSendsThem() {
    let bytes = MatchallRedirect.options(redirectingTo: 7)
    let expected: [UInt8] =
      [
        8, 0, 3, 0, 1, 0, 0, 0,  // TCA_MATCHALL_FLAGS = TCA_CLS_FLAGS_SKIP_HW
        56, 0, 2, 0x80,  // TCA_MATCHALL_ACT (nested)
        52, 0, 1, 0x80,  //   action 1 (nested)
        11, 0, 1, 0,  //     TCA_ACT_KIND "mirred\0" + 1 pad byte
      ] + Array("mirred".utf8) + [0, 0]
      + [
        36, 0, 2, 0x80,  //     TCA_ACT_OPTIONS (nested)
        32, 0, 2, 0,  //       TCA_MIRRED_PARMS: struct tc_mirred
      ] + MirredParameters.redirect(toIfindex: 7).encoded
    #expect(bytes == expected)
    #expect(MatchallRedirect.redirectTarget(options: bytes) == 7)
  }

  @Test func aDumpedRedirectFilterIsReadBackWithItsTarget() throws {
    // What the kernel dumps: the options plus TCA_MIRRED_TM and TCA_MATCHALL_PCNT, which are skipped.
    var options = NetlinkWriter()
    options.attribute(MatchallRedirect.actions | MatchallRedirect.nested) { list in
      list.attribute(1 | MatchallRedirect.nested) { action in
        action.attribute(1) { for b in Array("mirred".utf8) + [0] { $0.append(b) } }
        action.attribute(2 | MatchallRedirect.nested) { o in
          o.attribute(1) { for _ in 0..<32 { $0.append(UInt8(0)) } }  // TCA_MIRRED_TM
          o.attribute(2) { $0.append(contentsOf: MirredParameters.redirect(toIfindex: 12).encoded) }
        }
      }
    }
    options.attribute(4) { $0.append(UInt64(0)) }  // TCA_MATCHALL_PCNT
    let header = tcmsg(
      ifindex: 3, handle: 0xFA17, parent: IngressHook.ingressFilterParent,
      info: IngressHook.filterInfo(priority: 64023))
    var message = NetlinkWriter()
    var attributes = NetlinkWriter()
    attributes.attribute(1) { for b in Array("matchall".utf8) + [0] { $0.append(b) } }
    attributes.attribute(2 | MatchallRedirect.nested) { $0.append(contentsOf: options.bytes) }
    message.append(UInt32(16 + header.count + attributes.bytes.count))
    message.append(UInt16(44))  // RTM_NEWTFILTER
    message.append(UInt16(0))
    message.append(UInt32(1))
    message.append(UInt32(0))
    message.append(contentsOf: header + attributes.bytes)
    let record = try #require(IngressFilterRecord(message: message.bytes))
    #expect(record.ifindex == 3)
    #expect(record.handle == 0xFA17)
    #expect(record.priority == 64023)
    #expect(record.protocol == IngressHook.protocolAll)
    #expect(record.kind == "matchall")
    #expect(record.redirectTarget == 12)
    #expect(record.isFaultlines)
  }

  @Test func aMirrorOrAnotherClassifierIsNotARedirect() {
    var mirror = MirredParameters.redirect(toIfindex: 4)
    mirror.eaction = 2  // TCA_EGRESS_MIRROR
    var options = NetlinkWriter()
    options.attribute(MatchallRedirect.actions) { list in
      list.attribute(1) { action in
        action.attribute(1) { for b in Array("mirred".utf8) + [0] { $0.append(b) } }
        action.attribute(2) { $0.attribute(2) { $0.append(contentsOf: mirror.encoded) } }
      }
    }
    #expect(MatchallRedirect.redirectTarget(options: options.bytes) == nil)
    #expect(MatchallRedirect.redirectTarget(options: []) == nil)
  }

  // MARK: links

  @Test func ifinfomsgAndALinkDumpRoundTrip() throws {
    #expect(ifinfomsg(index: 9, flags: 1, change: 1) == [0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    var attributes = NetlinkWriter()
    attributes.attribute(3) { for b in Array("fl-67b19724".utf8) + [0] { $0.append(b) } }  // IFLA_IFNAME
    attributes.attribute(18 | MatchallRedirect.nested) { info in  // IFLA_LINKINFO
      info.attribute(1) { for b in Array("ifb".utf8) + [0] { $0.append(b) } }  // IFLA_INFO_KIND
    }
    let header = ifinfomsg(index: 9, flags: 0x1 | 0x40)  // IFF_UP | IFF_RUNNING
    var message = NetlinkWriter()
    message.append(UInt32(16 + header.count + attributes.bytes.count))
    message.append(UInt16(16))  // RTM_NEWLINK
    message.append(UInt16(0))
    message.append(UInt32(1))
    message.append(UInt32(0))
    message.append(contentsOf: header + attributes.bytes)
    let link = try #require(LinkRecord(message: message.bytes))
    #expect(link.index == 9)
    #expect(link.name == "fl-67b19724")
    #expect(link.kind == "ifb")
    #expect(link.isUp)
  }

  // MARK: errors

  @Test func aMissingModuleNamesItAndModprobeAndExitsFive() {
    let error = KernelError.moduleUnavailable("act_mirred", kernelMessage: "Failed to load TC action module")
    #expect(error.kind == .moduleUnavailable)
    #expect(error.exitCode == 5)
    #expect(error.description.contains("modprobe act_mirred"))
    #expect(error.description.contains("Failed to load TC action module"))
  }

  @Test func theRedirectRecordRoundTripsThroughJSON() throws {
    let record = IngressRedirect(
      interface: "eth0", ifb: "fl-67b19724", createdQdisc: true, qdiscKind: "clsact", filterPriority: 64023)
    let data = try JSONEncoder().encode(record)
    #expect(try JSONDecoder().decode(IngressRedirect.self, from: data) == record)
  }
}
