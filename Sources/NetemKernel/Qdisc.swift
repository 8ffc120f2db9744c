import CLinux
import Glibc
import SystemPackage

/// A qdisc as the kernel dumps it (`tc qdisc show`): enough to recognise it and to recreate it.
public struct QdiscSnapshot: Sendable, Hashable, Codable {
  /// The qdisc kind, e.g. `netem`, `tbf`, `noqueue`.
  public var kind: String
  /// Its handle (`major:minor` packed; major 0 for the kernel's defaults).
  public var handle: UInt32
  /// Its parent (`TC_H_ROOT` for a root qdisc).
  public var parent: UInt32
  /// The raw `TCA_OPTIONS` payload, which the kernel accepts back to recreate it.
  public var options: [UInt8]

  /// A snapshot of the given fields.
  public init(kind: String, handle: UInt32, parent: UInt32 = rootParent, options: [UInt8]) {
    self.kind = kind
    self.handle = handle
    self.parent = parent
    self.options = options
  }

  /// Whether this is one of the kernel's defaults (handle `0:`, e.g. `noqueue`, `pfifo_fast`, `mq`).
  public var isKernelDefault: Bool { handle >> 16 == 0 }

  /// Whether faultline created it: its reserved handle, and kind netem (a plain fault) or prio (the
  /// root of a targeted fault's tree, see ``NetemKernel/applyShaped(_:shape:to:expectedInode:force:prepare:)``).
  public var isFaultline: Bool { handle == NetemKernel.handle && (kind == "netem" || kind == "prio") }

  /// Whether this is the root of faultline's targeted-fault tree (prio `fa17:`).
  public var isShapedRoot: Bool { handle == NetemKernel.handle && kind == "prio" }

  /// `tbf 8001:`.
  public var summary: String { "\(kind) \(formatHandle(handle))" }

  /// Parses an `RTM_NEWQDISC` message (header included); nil for another message type.
  init?(message bytes: [UInt8]) {
    let reader = NetlinkReader(bytes)
    guard bytes.count >= 36, reader.u16(at: 4) == UInt16(RTM_NEWQDISC) else { return nil }
    ifindex = Int32(bitPattern: reader.u32(at: 20))
    handle = reader.u32(at: 24)
    parent = reader.u32(at: 28)
    (kind, options) = reader.kindAndOptions()
  }

  /// The interface index it was dumped for (not persisted: indexes change).
  var ifindex: Int32 = 0

  private enum CodingKeys: String, CodingKey { case kind, handle, parent, options }

  /// The root qdisc of `ifindex` among `messages` (a dump's parts, or a change's echo).
  static func root(of ifindex: Int32, in messages: [[UInt8]]) -> QdiscSnapshot? {
    messages.lazy.compactMap { QdiscSnapshot(message: $0) }.first {
      $0.ifindex == ifindex && $0.parent == rootParent
    }
  }
}

extension NetlinkReader {
  /// `TCA_KIND` and `TCA_OPTIONS` of a tc message (qdisc, class or filter: `struct tcmsg` first).
  func kindAndOptions() -> (kind: String, options: [UInt8]) {
    var kind = ""
    var options: [UInt8] = []
    forEachAttribute(from: 36) { type, payload in
      if type == UInt16(TCA_KIND) {
        kind = String(decoding: bytes[payload].prefix { $0 != 0 }, as: UTF8.self)
      }
      if type == UInt16(TCA_OPTIONS) { options = Array(bytes[payload]) }
    }
    return (kind, options)
  }
}

/// `TC_H_ROOT`.
public let rootParent: UInt32 = 0xFFFF_FFFF

/// `struct tcmsg` for one interface (`info`: a filter's priority and protocol).
func tcmsg(ifindex: Int32, handle: UInt32 = 0, parent: UInt32 = 0, info: UInt32 = 0) -> [UInt8] {
  var w = NetlinkWriter()
  w.append(UInt8(AF_UNSPEC))
  w.append(UInt8(0))
  w.append(UInt16(0))
  w.append(ifindex)
  w.append(handle)
  w.append(parent)
  w.append(info)
  return w.bytes
}

extension NetlinkRequest {
  /// `tc qdisc replace dev IF root handle H: KIND …`: creates the root qdisc or replaces it.
  static func replaceRoot(ifindex: Int32, interface: String, kind: String, handle: UInt32, options: [UInt8])
    -> NetlinkRequest
  {
    NetlinkRequest(
      operation: "RTM_NEWQDISC \(kind) \(formatHandle(handle)) on \(interface)", type: Int32(RTM_NEWQDISC),
      flags: NLM_F_CREATE | NLM_F_REPLACE,
      header: tcmsg(ifindex: ifindex, handle: handle, parent: rootParent),
      attributes: [(UInt16(TCA_KIND), Array(kind.utf8) + [0]), (UInt16(TCA_OPTIONS), options)])
  }

  /// `tc qdisc del dev IF root handle H:`.
  static func deleteRoot(ifindex: Int32, interface: String, handle: UInt32) -> NetlinkRequest {
    NetlinkRequest(
      operation: "RTM_DELQDISC \(formatHandle(handle)) on \(interface)", type: Int32(RTM_DELQDISC), flags: 0,
      header: tcmsg(ifindex: ifindex, handle: handle, parent: rootParent), attributes: [])
  }

  /// `tc qdisc show` in the whole namespace: an `RTM_GETQDISC` dump (Linux 6.1 dumps every
  /// interface's qdiscs whatever index the request names).
  static func dumpQdiscs(ifindex: Int32, interface: String) -> NetlinkRequest {
    NetlinkRequest(
      operation: "RTM_GETQDISC dump for \(interface)", type: Int32(RTM_GETQDISC), flags: NLM_F_DUMP,
      header: tcmsg(ifindex: ifindex), attributes: [], dump: true)
  }
}

extension NetlinkSocket {
  /// The index of the interface named `name` and its root qdisc, in one round trip: the link lookup
  /// and the qdisc dump go in one `send` (neither needs the other's answer). Nil when there is no
  /// such interface.
  ///
  /// `ip link show NAME; tc qdisc show dev NAME root`.
  func interfaceAndRoot(named name: String) throws(KernelError) -> (ifindex: Int32, root: QdiscSnapshot?)? {
    if isRemembered(name) {
      // Only the dump: a link notification queued before it is read before its replies (one queue),
      // and forgets the index; then the link is looked up again.
      let dump = try request(.dumpQdiscs(ifindex: 0, interface: name))
      var index = remembered(name)
      if index == nil { index = try interfaceIndex(named: name) }
      guard let index else { return nil }
      return (index, QdiscSnapshot.root(of: index, in: dump))
    }
    let replies: [[[UInt8]]]
    do {
      replies = try exchange([.getLink(named: name), .dumpQdiscs(ifindex: 0, interface: name)])
    } catch  where error.errno == Errno.operationNotSupportedByDevice {
      return nil
    }
    guard let link = replies[0].lazy.compactMap({ LinkRecord(message: $0) }).first(where: { $0.name == name })
    else { return nil }
    remember(link.index, of: name)
    return (link.index, QdiscSnapshot.root(of: link.index, in: replies[1]))
  }

  /// The root qdisc of `ifindex` (`tc qdisc show dev IF root`).
  ///
  /// A dump filtered here rather than a GET: Linux 6.1 answers RTM_GETQDISC only through a
  /// notification (`NLM_F_ECHO`), which would also be broadcast to every `tc monitor`.
  func rootQdisc(ifindex: Int32, interface: String) throws(KernelError) -> QdiscSnapshot? {
    QdiscSnapshot.root(of: ifindex, in: try request(.dumpQdiscs(ifindex: ifindex, interface: interface)))
  }

  /// Creates or replaces the root qdisc (`tc qdisc replace dev IF root handle H: KIND …`).
  ///
  /// When `handle` is the current root's handle the kernel changes it in place; otherwise it creates
  /// the new qdisc and grafts it over the old root, which is destroyed.
  ///
  /// - Parameter echo: ask the kernel to send the change's notification back (`NLM_F_ECHO`, what
  ///   `tc monitor` would print) and return the root it describes: the qdisc as the kernel holds it
  ///   after the change, read back in the same round trip. Nil without `echo`, or when the kernel sent
  ///   none.
  @discardableResult
  func replaceRoot(
    ifindex: Int32, interface: String, kind: String, handle: UInt32, options: [UInt8], echo: Bool = false
  ) throws(KernelError) -> QdiscSnapshot? {
    var request = NetlinkRequest.replaceRoot(
      ifindex: ifindex, interface: interface, kind: kind, handle: handle, options: options)
    request.echo = echo
    return QdiscSnapshot.root(of: ifindex, in: try self.request(request))
  }

  /// Deletes the root qdisc if its handle is `handle` (`tc qdisc del dev IF root handle H:`); the kernel
  /// refuses (ENOENT) when the root has another handle, so a foreign qdisc is never deleted.
  func deleteRoot(ifindex: Int32, interface: String, handle: UInt32) throws(KernelError) {
    try request(.deleteRoot(ifindex: ifindex, interface: interface, handle: handle))
  }

  /// What hangs under the root qdisc `root` that recreating it from its options would lose: child
  /// qdiscs given a handle, and the classes of kinds whose classes are always user-made (htb, hfsc, …).
  /// tbf's or prio's built-in classes do not count: the kernel recreates them with the qdisc.
  func userChildren(ifindex: Int32, interface: String, under root: QdiscSnapshot) throws(KernelError) -> Int {
    let children = try qdiscs(ifindex: ifindex, interface: interface).filter {
      $0.parent != rootParent && $0.parent >> 16 == root.handle >> 16
        && $0.handle >> 16 != 0
    }.count
    guard ["htb", "hfsc", "cbq", "drr", "qfq", "ets"].contains(root.kind) else { return children }
    let classes = try request(
      "RTM_GETTCLASS dump of \(interface)", type: Int32(RTM_GETTCLASS), flags: NLM_F_DUMP,
      header: tcmsg(ifindex: ifindex), attributes: [], dump: true)
    return children
      + classes.filter { bytes in
        let reader = NetlinkReader(bytes)
        return bytes.count >= 36 && reader.u16(at: 4) == UInt16(RTM_NEWTCLASS)
          && Int32(bitPattern: reader.u32(at: 20)) == ifindex && reader.u32(at: 24) >> 16 == root.handle >> 16
      }.count
  }
}
