import CLinux
import Glibc
import Synchronization

/// A route-netlink socket (libnl `struct nl_sock`), bound to the network namespace of the thread
/// that created it. It stays in that namespace whatever thread uses it later; it is closed in `deinit`
/// (an open socket would keep a deleted namespace alive).
final class NetlinkSocket {
  /// Requests sent to the kernel by every socket of this process, each one round trip (the
  /// benchmarks report it next to what the same change costs with `tc`).
  static let requestsSent = Atomic<Int>(0)

  private let socket: OpaquePointer
  private let status: UnsafeMutablePointer<faultline_nl_status>

  /// Opens and connects a `NETLINK_ROUTE` socket with extended acks.
  init() throws(KernelError) {
    guard let socket = nl_socket_alloc() else {
      throw KernelError.system("nl_socket_alloc", errno: ENOMEM)
    }
    self.socket = socket
    status = .allocate(capacity: 1)
    status.initialize(to: faultline_nl_status())
    let rc = nl_connect(socket, NETLINK_ROUTE)
    if rc < 0 {
      nl_socket_free(socket)
      status.deallocate()
      throw Self.libnlError("nl_connect(NETLINK_ROUTE)", rc)
    }
    _ = faultline_enable_ext_ack(socket)
    _ = faultline_install_error_handler(socket, status)
  }

  deinit {
    nl_socket_free(socket)
    status.deallocate()
  }

  /// The interface index of `name`, or nil when there is none (`ip link show NAME`).
  func interfaceIndex(named name: String) throws(KernelError) -> Int32? {
    var link: OpaquePointer?
    let rc = retryingEINTR { rtnl_link_get_kernel(socket, 0, name, &link) }
    Self.requestsSent.add(1, ordering: .relaxed)
    if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV || (rc < 0 && status.pointee.error == ENODEV) {
      return nil
    }
    guard rc >= 0, let link else { throw requestError("RTM_GETLINK \(name)", rc) }
    defer { rtnl_link_put(link) }
    return rtnl_link_get_ifindex(link)
  }

  /// Names and indexes of every interface in the namespace (`ip link show`).
  func interfaces() throws(KernelError) -> [(name: String, index: Int32)] {
    var cache: OpaquePointer?
    let rc = retryingEINTR { rtnl_link_alloc_cache(socket, AF_UNSPEC, &cache) }
    Self.requestsSent.add(1, ordering: .relaxed)
    guard rc >= 0, let cache else { throw requestError("RTM_GETLINK dump", rc) }
    defer { nl_cache_free(cache) }
    var result: [(String, Int32)] = []
    var object = nl_cache_get_first(cache)
    while let current = object {
      let link = current
      if let name = rtnl_link_get_name(link) {
        result.append((String(cString: name), rtnl_link_get_ifindex(link)))
      }
      object = nl_cache_get_next(current)
    }
    return result.sorted { $0.1 < $1.1 }
  }

  /// Sends one request and waits for the kernel's ack; returns the replies that arrived before it.
  ///
  /// - Parameters:
  ///   - operation: names the request in errors (e.g. `RTM_NEWQDISC netem on eth0`).
  ///   - expectReply: read a reply message before the ack (GET requests).
  ///   - dump: the request is a dump (`NLM_F_DUMP`): read until `NLMSG_DONE`, no ack.
  @discardableResult
  func request(
    _ operation: String, type: Int32, flags: Int32, header: [UInt8], attributes: [(UInt16, [UInt8])],
    expectReply: Bool = false, dump: Bool = false
  ) throws(KernelError) -> [[UInt8]] {
    let size = 64 + header.count + attributes.reduce(0) { $0 + 8 + $1.1.count }
    guard let message = nlmsg_alloc_size(size) else { throw KernelError.system(operation, errno: ENOMEM) }
    defer { nlmsg_free(message) }
    guard nlmsg_put(message, UInt32(NL_AUTO_PORT), UInt32(NL_AUTO_SEQ), type, 0, flags) != nil else {
      throw KernelError.system(operation, errno: ENOBUFS)
    }
    var rc = header.withUnsafeBytes { raw in
      nlmsg_append(
        message, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count, Int32(NLMSG_ALIGNTO))
    }
    for (attributeType, payload) in attributes where rc >= 0 {
      rc = payload.withUnsafeBytes { raw in
        nla_put(message, Int32(attributeType), Int32(raw.count), raw.baseAddress)
      }
    }
    guard rc >= 0 else { throw Self.libnlError(operation, rc) }

    status.pointee.error = 0
    status.pointee.message.0 = 0
    rc = retryingEINTR { nl_send_auto(socket, message) }
    guard rc >= 0 else { throw Self.libnlError(operation, rc) }
    Self.requestsSent.add(1, ordering: .relaxed)

    let collector = ReplyCollector()
    let context = Unmanaged.passUnretained(collector).toOpaque()
    nl_socket_modify_cb(
      socket, NL_CB_VALID, NL_CB_CUSTOM,
      { message, context in
        guard let message, let context else { return Int32(NL_SKIP.rawValue) }
        let collector = Unmanaged<ReplyCollector>.fromOpaque(context).takeUnretainedValue()
        let length = Int(faultline_msg_length(message))
        let bytes = UnsafeRawBufferPointer(start: faultline_msg_bytes(message), count: length)
        collector.replies.append(Array(bytes))
        return Int32(NL_OK.rawValue)
      }, context)
    nl_socket_modify_cb(
      socket, NL_CB_ACK, NL_CB_CUSTOM,
      { _, context in
        guard let context else { return Int32(NL_STOP.rawValue) }
        Unmanaged<ReplyCollector>.fromOpaque(context).takeUnretainedValue().acknowledged = true
        return Int32(NL_STOP.rawValue)
      }, context)
    defer {
      nl_socket_modify_cb(socket, NL_CB_VALID, NL_CB_DEFAULT, nil, nil)
      nl_socket_modify_cb(socket, NL_CB_ACK, NL_CB_DEFAULT, nil, nil)
    }
    // A dump ends with NLMSG_DONE (nl_recvmsgs returns then); any other request with its ack (or
    // error), which may come alone (a GET with nothing to report) or after the reply.
    try withExtendedLifetime(collector) { () throws(KernelError) in
      repeat {
        rc = retryingEINTR { nl_recvmsgs_default(socket) }
        guard rc >= 0 else { throw requestError(operation, rc) }
      } while !dump && !collector.acknowledged
    }
    _ = expectReply
    return collector.replies
  }

  /// The kernel's own text for the last failed request (its extended ack), or "".
  var kernelMessage: String {
    withUnsafeBytes(of: status.pointee.message) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
  }

  /// The kernel's errno for the last failed request, or 0.
  var kernelErrno: Int32 { status.pointee.error }

  private func requestError(_ operation: String, _ rc: Int32) -> KernelError {
    let code = status.pointee.error != 0 ? status.pointee.error : Self.errno(fromLibnl: rc)
    return KernelError.system(operation, errno: code, kernelMessage: kernelMessage)
  }

  private static func libnlError(_ operation: String, _ rc: Int32) -> KernelError {
    KernelError.system(
      operation, errno: errno(fromLibnl: rc), kernelMessage: String(cString: nl_geterror(rc)))
  }

  /// libnl error codes that have an errno equivalent.
  private static func errno(fromLibnl rc: Int32) -> Int32 {
    switch -rc {
    case NLE_PERM: EPERM
    case NLE_NOACCESS: EACCES
    case NLE_NODEV: ENODEV
    case NLE_OBJ_NOTFOUND: ENOENT
    case NLE_NOMEM: ENOMEM
    case NLE_INVAL: EINVAL
    case NLE_EXIST: EEXIST
    case NLE_MSGSIZE: EMSGSIZE
    case NLE_BUSY: EBUSY
    case NLE_OPNOTSUPP: EOPNOTSUPP
    default: EIO
    }
  }
}

/// Replies gathered by the `NL_CB_VALID` callback.
private final class ReplyCollector {
  var replies: [[UInt8]] = []
  var acknowledged = false
}

/// Runs a libnl call again while it fails because a signal interrupted a system call.
@inline(__always)
func retryingEINTR(_ body: () -> Int32) -> Int32 {
  while true {
    let rc = body()
    if rc == -NLE_INTR || (rc == -1 && errno == EINTR) { continue }
    return rc
  }
}
