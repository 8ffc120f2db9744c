import CLinux
import Glibc
import SystemPackage

/// faultline's IFB (intermediate functional block) devices: one per redirected interface, created
/// by name in the interface's namespace.
///
/// Never `ifb0`/`ifb1`, which the `ifb` module creates in the initial namespace when it loads
/// (unless loaded with `numifbs=0`): those may be anyone's, and live in another namespace anyway.
enum IFBDevice {
  /// The link kind (`IFLA_INFO_KIND`).
  static let kind = "ifb"

  /// `fl-` and eight hex digits of the 32-bit FNV-1a hash of the interface name, e.g. `fl-1c9d3f2a`.
  ///
  /// Stable (a restarted agent, or a fresh one doing crash recovery, derives the same name), 11
  /// bytes (interface names stop at 15), and only `[a-z0-9-]`, so it is a valid name wherever the
  /// interface's is. Names are per namespace, so only interfaces of one namespace must differ: a
  /// clash there needs two of its interfaces to collide in 32 bits.
  static func name(for interface: String) -> String {
    var hash: UInt32 = 0x811C_9DC5
    for byte in interface.utf8 {
      hash ^= UInt32(byte)
      hash = hash &* 0x0100_0193
    }
    let hex = String(hash, radix: 16)
    return "fl-" + String(repeating: "0", count: 8 - hex.count) + hex
  }
}

/// A link as `RTM_GETLINK` reports it (`ip -d link show NAME`): enough to recognise faultline's IFB.
struct LinkRecord: Hashable {
  /// `IFF_UP`.
  static let up: UInt32 = 0x1

  var index: Int32
  var name: String
  /// `ifi_flags`.
  var flags: UInt32
  /// `IFLA_INFO_KIND` (`ifb`, `veth`, …); empty for a device without one (`lo`, a physical NIC).
  var kind: String

  var isUp: Bool { flags & Self.up != 0 }

  /// Parses an `RTM_NEWLINK` message (header included); nil for another message type.
  init?(message bytes: [UInt8]) {
    let reader = NetlinkReader(bytes)
    guard bytes.count >= 32, reader.u16(at: 4) == UInt16(RTM_NEWLINK) else { return nil }
    index = Int32(bitPattern: reader.u32(at: 20))
    flags = reader.u32(at: 24)
    var name = ""
    var kind = ""
    reader.forEachAttribute(from: 32) { type, payload in
      if type == UInt16(IFLA_IFNAME) {
        name = String(decoding: bytes[payload].prefix { $0 != 0 }, as: UTF8.self)
      }
      if type == UInt16(IFLA_LINKINFO),
        let info = NetlinkReader(Array(bytes[payload])).attributes(from: 0).first(where: {
          $0.0 == UInt16(IFLA_INFO_KIND)
        })
      {
        kind = String(decoding: info.1.prefix { $0 != 0 }, as: UTF8.self)
      }
    }
    self.name = name
    self.kind = kind
  }
}

/// `struct ifinfomsg`: family, type, index, flags and the mask of flags to change.
func ifinfomsg(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) -> [UInt8] {
  var w = NetlinkWriter()
  w.append(UInt8(AF_UNSPEC))
  w.append(UInt8(0))
  w.append(UInt16(0))
  w.append(index)
  w.append(flags)
  w.append(change)
  return w.bytes
}

extension NetlinkSocket {
  /// The link named `name`, or nil when there is none (`ip -d link show NAME`).
  func link(named name: String) throws(KernelError) -> LinkRecord? {
    do throws(KernelError) {
      return try request(.getLink(named: name)).lazy.compactMap { LinkRecord(message: $0) }.first {
        $0.name == name
      }
    } catch  where error.errno == Errno.operationNotSupportedByDevice {
      return nil
    }
  }

  /// Creates an IFB device named `name` (`ip link add NAME type ifb`).
  ///
  /// The kernel loads `ifb` on demand; a kernel that has none answers "Unknown device type"
  /// (`EOPNOTSUPP`), reported as ``KernelError/moduleUnavailable(_:kernelMessage:)``.
  func addIFB(named name: String) throws(KernelError) {
    var linkInfo = NetlinkWriter()
    linkInfo.attribute(UInt16(IFLA_INFO_KIND)) { w in
      for byte in IFBDevice.kind.utf8 { w.append(byte) }
      w.append(UInt8(0))
    }
    do throws(KernelError) {
      try request(
        "RTM_NEWLINK \(name) type ifb", type: Int32(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL,
        header: ifinfomsg(),
        attributes: [
          (UInt16(IFLA_IFNAME), Array(name.utf8) + [0]),
          (UInt16(IFLA_LINKINFO) | MatchallRedirect.nested, linkInfo.bytes),
        ])
    } catch  where error.errno == Errno(rawValue: EOPNOTSUPP) || kernelMessage.contains("Unknown device type")
    {
      throw KernelError.moduleUnavailable("ifb", kernelMessage: kernelMessage)
    }
  }

  /// Brings a link up (`ip link set NAME up`).
  func setLinkUp(_ link: LinkRecord) throws(KernelError) {
    try request(
      "RTM_NEWLINK \(link.name) up", type: Int32(RTM_NEWLINK), flags: 0,
      header: ifinfomsg(index: link.index, flags: LinkRecord.up, change: LinkRecord.up), attributes: [])
  }

  /// Deletes a link (`ip link del NAME`); one already gone is a success.
  func deleteLink(_ link: LinkRecord) throws(KernelError) {
    do throws(KernelError) {
      try request(
        "RTM_DELLINK \(link.name)", type: Int32(RTM_DELLINK), flags: 0, header: ifinfomsg(index: link.index),
        attributes: [])
    } catch  where error.errno == Errno.operationNotSupportedByDevice {
      // Already gone.
    }
  }
}

extension NetlinkRequest {
  /// `ip -d link show NAME`: one `RTM_GETLINK` with `IFLA_IFNAME`. The kernel leaves the statistics
  /// out of the reply (`RTEXT_FILTER_SKIP_STATS`): they are most of its work for a link.
  static func getLink(named name: String) -> NetlinkRequest {
    var mask = NetlinkWriter()
    mask.append(UInt32(RTEXT_FILTER_SKIP_STATS))
    return NetlinkRequest(
      operation: "RTM_GETLINK \(name)", type: Int32(RTM_GETLINK), flags: 0, header: ifinfomsg(),
      attributes: [(UInt16(IFLA_IFNAME), Array(name.utf8) + [0]), (UInt16(IFLA_EXT_MASK), mask.bytes)])
  }
}
