// The route-netlink socket every kernel operation goes through.
//
// Requests are written and read here, on a plain NETLINK_ROUTE socket: one `send` of a message built
// in Swift, `recvmmsg` into one reused buffer, the kernel's extended ack parsed in place. libnl's
// per-request machinery (a message object, callback tables, a receive that peeks before it reads)
// and its socket setup (buffer sizes, a port lookup) cost more than the kernel's own work per round
// trip. libnl lists links (its link cache, a cold path: `status` and error messages).

import CLinux
import Glibc
import SystemCalls
import SystemPackage
import Synchronization

/// A route-netlink socket, bound to the network namespace of the thread that created it. It stays in
/// that namespace whatever thread uses it later, so one socket serves every operation in its
/// namespace (``NetlinkSessions``); it is closed in `deinit` (an open socket keeps a deleted
/// namespace alive).
///
/// Not thread-safe: one request at a time (``NetlinkSessions`` serialises the users of one socket).
final class NetlinkSocket {
  /// Requests sent to the kernel by every socket of this process, each one round trip (the
  /// benchmarks report it next to what the same change costs with `tc`).
  static let requestsSent = Atomic<Int>(0)

  /// Netlink sockets of this process that are open now (the tests check none outlives its namespace).
  static let open = Atomic<Int>(0)

  /// One datagram's room. The kernel sizes a dump's buffers by what the reader asks for (up to
  /// 32 KiB), and a kernel that zeroes what it allocates (`init_on_alloc`, on in Debian's) clears all
  /// of it for every part: a small room makes more, smaller parts, which cost less than a few large
  /// ones for the handful of qdiscs and filters faultline reads. No message it reads comes near 8 KiB
  /// (link statistics and VF lists are not asked for).
  static let slotSize = 8 * 1024
  /// Datagrams read per system call (``receive(_:_:)``).
  private static let slots = 4

  private let fd: Int32
  private let buffer: UnsafeMutableRawBufferPointer
  private var sequence: UInt32 = 1

  /// The kernel's own text for the last failed request (its extended ack), or "".
  private(set) var kernelMessage = ""

  /// Opens a `NETLINK_ROUTE` socket with extended acks (error text) and capped acks (no echo of the
  /// request in an error), in the calling thread's network namespace.
  init() throws(KernelError) {
    let fd = faultline_open_route_socket()
    guard fd >= 0 else { throw KernelError.system("socket(NETLINK_ROUTE)", errno: Errno(rawValue: -fd)) }
    self.fd = fd
    buffer = .allocate(byteCount: Self.slotSize * Self.slots, alignment: 8)
    Self.open.add(1, ordering: .relaxed)
  }

  deinit {
    close(fd)
    buffer.deallocate()
    Self.open.subtract(1, ordering: .relaxed)
  }

  /// Names and indexes of every interface in the namespace (`ip link show`), through libnl's link cache.
  func interfaces() throws(KernelError) -> [(name: String, index: Int32)] {
    drainNotifications()
    // libnl reads through a duplicate of this socket's descriptor (the same socket), which freeing
    // its handle closes.
    guard let handle = nl_socket_alloc() else {
      throw KernelError.system("nl_socket_alloc", errno: .noMemory)
    }
    defer { nl_socket_free(handle) }
    let copy = dup(fd)
    guard copy >= 0 else { throw KernelError.system("dup", errno: .current) }
    guard nl_socket_set_fd(handle, NETLINK_ROUTE, copy) == 0 else {
      close(copy)
      throw KernelError.system("nl_socket_set_fd", errno: .invalidArgument)
    }
    // A link notification must not pass for a reply out of order.
    nl_socket_disable_seq_check(handle)
    var cache: OpaquePointer?
    let rc = retryingLibnlInterrupts { rtnl_link_alloc_cache(handle, AF_UNSPEC, &cache) }
    Self.requestsSent.add(1, ordering: .relaxed)
    guard rc >= 0, let cache else { throw Self.libnlError("RTM_GETLINK dump", rc) }
    defer { nl_cache_free(cache) }
    var result: [(String, Int32)] = []
    var object = nl_cache_get_first(cache)
    while let current = object {
      if let name = rtnl_link_get_name(current) {
        result.append((String(cString: name), rtnl_link_get_ifindex(current)))
      }
      object = nl_cache_get_next(current)
    }
    return result.sorted { $0.1 < $1.1 }
  }

  /// The interface index of `name`, or nil when there is none (`ip link show NAME`).
  func interfaceIndex(named name: String) throws(KernelError) -> Int32? {
    if let index = rememberedIndex(of: name) { return index }
    let index = try link(named: name)?.index
    if let index { indexes[name] = index }
    return index
  }

  /// Interface indexes looked up on this socket, kept until the kernel reports any link change in the
  /// namespace (a link added, removed, renamed or changed: the socket listens to `RTNLGRP_LINK`). So
  /// an operation on an interface already seen sends no `RTM_GETLINK`.
  private var indexes: [String: Int32] = [:]

  /// The index remembered for `name`, after reading any link notification that came since.
  func rememberedIndex(of name: String) -> Int32? {
    drainNotifications()
    return indexes[name]
  }

  /// Whether an index is remembered for `name`, without reading notifications first (the caller
  /// reads them with its next request).
  func isRemembered(_ name: String) -> Bool { indexes[name] != nil }

  /// The index remembered for `name` as of the last notification read.
  func remembered(_ name: String) -> Int32? { indexes[name] }

  /// Remembers an index the caller looked up (``NetlinkSocket/interfaceAndRoot(named:)``).
  func remember(_ index: Int32, of name: String) { indexes[name] = index }

  /// Reads the notifications waiting on the socket without blocking; a link change forgets every
  /// remembered index, and so does a lost notification (the receive queue overflowed).
  private func drainNotifications() {
    // One plain non-blocking recv: usually nothing is there (EAGAIN).
    while true {
      let count: Int
      do {
        count = try Errno.retrying {
          recv(fd, buffer.baseAddress, Self.slotSize, Int32(MSG_DONTWAIT | MSG_TRUNC))
        }
      } catch .noBufferSpace {
        indexes.removeAll()
        continue
      } catch {
        return
      }
      // A notification too large for its room: some link changed.
      if count > Self.slotSize { indexes.removeAll() }
      noteNotifications(in: UnsafeRawBufferPointer(rebasing: buffer[0..<min(count, Self.slotSize)]))
    }
  }

  private var lengths = [UInt32](repeating: 0, count: NetlinkSocket.slots)
  private var truncated = [Int32](repeating: 0, count: NetlinkSocket.slots)

  /// Reads up to ``slots`` datagrams in one system call; their count.
  private func receiveDatagrams(dontWait: Bool) throws(Errno) -> Int {
    try lengths.withUnsafeMutableBufferPointer { lengths throws(Errno) in
      try truncated.withUnsafeMutableBufferPointer { truncated throws(Errno) in
        Int(
          try Errno.retryingNegated({
            faultline_receive(
              fd, buffer.baseAddress, UInt32(Self.slotSize), UInt32(Self.slots), dontWait ? 1 : 0,
              lengths.baseAddress, truncated.baseAddress)
          }))
      }
    }
  }

  /// Forgets the remembered indexes when `datagram` holds a link notification.
  private func noteNotifications(in datagram: UnsafeRawBufferPointer) {
    var offset = 0
    while offset + 16 <= datagram.count {
      let length = Int(datagram.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
      guard length >= 16 else { return }
      let type = Int32(datagram.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self))
      if type == RTM_NEWLINK || type == RTM_DELLINK { indexes.removeAll() }
      offset += (length + 3) & ~3
    }
  }

  /// Sends one request and reads until its ack (or, for a dump, `NLMSG_DONE`); returns the messages
  /// that came before: a GET's reply, a dump's parts, the notification an `echo` asks for.
  ///
  /// - Parameters:
  ///   - operation: names the request in errors (e.g. `RTM_NEWQDISC netem on eth0`).
  ///   - dump: the request is a dump (`NLM_F_DUMP`): read until `NLMSG_DONE`, no ack.
  ///   - echo: `NLM_F_ECHO`: the kernel sends the change's notification back to this socket, the
  ///     object as it is after the change (a read-back that costs no second round trip).
  @discardableResult
  func request(
    _ operation: @autoclosure @escaping () -> String, type: Int32, flags: Int32, header: [UInt8],
    attributes: [(UInt16, [UInt8])],
    dump: Bool = false, echo: Bool = false
  ) throws(KernelError) -> [[UInt8]] {
    try request(
      NetlinkRequest(
        operation: operation(), type: type, flags: flags, header: header, attributes: attributes, dump: dump,
        echo: echo))
  }

  /// Sends `request` and reads its reply (see ``request(_:type:flags:header:attributes:dump:echo:)``).
  @discardableResult
  func request(_ request: NetlinkRequest) throws(KernelError) -> [[UInt8]] {
    try exchange([request])[0]
  }

  /// Sends the requests in one `send` and reads every reply: one round trip for requests whose
  /// answers are all needed (a link lookup and a dump, neither depending on the other). The kernel
  /// handles them in order; a dump goes last (its later parts are made as they are read).
  ///
  /// - Returns: each request's replies, in order.
  /// - Throws: the first failure among them (``kernelMessage`` is its text) once all are answered.
  func exchange(_ requests: [NetlinkRequest]) throws(KernelError) -> [[[UInt8]]] {
    let first = sequence &+ 1
    var bytes: [UInt8]
    if requests.count == 1 {
      sequence &+= 1
      bytes = requests[0].encoded(sequence: sequence, acknowledged: true)
    } else {
      bytes = []
      for request in requests {
        sequence &+= 1
        bytes += request.encoded(sequence: sequence, acknowledged: true)
      }
    }
    // Named only when something fails: most requests succeed, and the names cost string building.
    let operation = { requests.map { $0.operation() }.joined(separator: " + ") }
    try send(bytes, operation: operation)
    Self.requestsSent.add(1, ordering: .relaxed)
    var replies = [[[UInt8]]](repeating: [], count: requests.count)
    var failure: (error: KernelError, text: String)?
    var pending = requests.count
    try receive(operation) { message, seq, type in
      let index = Int(seq &- first)
      // Left over from an earlier request that failed halfway: not ours.
      guard index >= 0, index < requests.count else { return false }
      switch type {
      case .reply:
        replies[index].append(Array(message))
        return false
      case .ack:
        break
      case .done(let code):
        if code != 0 {
          failure =
            failure ?? (KernelError.system(requests[index].operation(), errno: Errno(rawValue: code)), "")
        }
      case .error(let code, let text):
        failure =
          failure
          ?? (
            KernelError.system(
              requests[index].operation(), errno: Errno(rawValue: code), kernelMessage: text),
            text
          )
      }
      pending -= 1
      return pending == 0
    }
    if let failure {
      kernelMessage = failure.text
      throw failure.error
    }
    return replies
  }

  /// Sends every request in one `send` and reads the answers: one round trip where there would be as
  /// many as requests. Changes only (no dumps, no replies).
  ///
  /// The kernel handles the messages of one `send` in order, each as if sent alone, and answers a
  /// request without `NLM_F_ACK` only when it fails. So only the last asks for an ack: its ack means
  /// every request before it was handled, and the failures among them have arrived by then.
  ///
  /// - Returns: each request's failure (nil: done) with the kernel's text for it, in order. Later
  ///   requests are handled whether or not an earlier one failed.
  func batch(_ requests: [NetlinkRequest]) throws(KernelError) -> [(
    error: KernelError, kernelMessage: String
  )?] {
    guard !requests.isEmpty else { return [] }
    let first = sequence &+ 1
    var bytes: [UInt8] = []
    for (index, request) in requests.enumerated() {
      sequence &+= 1
      bytes += request.encoded(sequence: sequence, acknowledged: index == requests.count - 1)
    }
    let operation = { "\(requests.count) requests from \(requests[0].operation())" }
    try send(bytes, operation: operation)
    Self.requestsSent.add(1, ordering: .relaxed)
    var results = [(error: KernelError, kernelMessage: String)?](repeating: nil, count: requests.count)
    try receive(operation) { _, seq, type in
      let index = Int(seq &- first)
      guard index >= 0, index < requests.count else { return false }
      if case .error(let code, let text) = type {
        results[index] = (
          KernelError.system(requests[index].operation(), errno: Errno(rawValue: code), kernelMessage: text),
          text
        )
      }
      return index == requests.count - 1
    }
    kernelMessage = results.lazy.compactMap { $0?.kernelMessage }.first ?? ""
    return results
  }

  private func send(_ bytes: [UInt8], operation: () -> String) throws(KernelError) {
    kernelMessage = ""
    let sent = bytes.withUnsafeBytes { raw in
      Result { () throws(Errno) in try Errno.retrying { Glibc.send(fd, raw.baseAddress, raw.count, 0) } }
    }
    if case .failure(let error) = sent { throw KernelError.system(operation(), errno: error) }
  }

  /// What a received message is.
  private enum Received {
    case ack
    case error(Int32, String)
    case done(Int32)
    case reply
  }

  /// Reads datagrams and hands each message to `handle` until it says the reply is complete.
  private func receive(
    _ operation: () -> String, _ handle: (UnsafeRawBufferPointer, UInt32, Received) -> Bool
  ) throws(KernelError) {
    while true {
      let count: Int
      do { count = try receiveDatagrams(dontWait: false) } catch {
        throw KernelError.system(operation(), errno: error)
      }
      var complete = false
      for index in 0..<count where truncated[index] != 0 {
        // A notification too large for its room still says a link changed; a reply must be whole.
        let start = index * Self.slotSize
        guard buffer.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self) == 0 else {
          throw KernelError.system(operation(), errno: .messageTooLong)
        }
        indexes.removeAll()
      }
      for datagram in 0..<count {
        var offset = datagram * Self.slotSize
        // A truncated datagram (a notification, see above) is not parsed.
        let end = offset + (truncated[datagram] != 0 ? 0 : Int(lengths[datagram]))
        while offset + 16 <= end {
          let length = Int(buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
          guard length >= 16, offset + length <= end else { break }
          let message = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
          offset += (length + 3) & ~3
          let type = message.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
          let seq = message.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
          if seq == 0 {
            // A notification (our requests never use 0).
            noteNotifications(in: message)
            continue
          }
          let received: Received
          switch Int32(type) {
          case NLMSG_NOOP: continue
          case NLMSG_ERROR:
            let code = length >= 20 ? message.loadUnaligned(fromByteOffset: 16, as: Int32.self) : -EIO
            received = code == 0 ? .ack : .error(-code, Self.extendedAckMessage(message))
          case NLMSG_DONE:
            let code = length >= 20 ? message.loadUnaligned(fromByteOffset: 16, as: Int32.self) : 0
            received = .done(-code)
          default:
            received = .reply
          }
          // Messages after the last one a request needs belong to nobody (a stale datagram's tail).
          if handle(message, seq, received) { complete = true }
        }
      }
      if complete { return }
    }
  }

  /// `NLMSGERR_ATTR_MSG` of an `NLMSG_ERROR` message (capped: the request is not echoed), or "".
  static func extendedAckMessage(_ message: UnsafeRawBufferPointer) -> String {
    let flags = message.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
    // nlmsghdr (16) + error (4) + the request's nlmsghdr (16), then the attributes.
    guard flags & UInt16(NLM_F_ACK_TLVS) != 0, flags & UInt16(NLM_F_CAPPED) != 0, message.count > 36 else {
      return ""
    }
    let reader = NetlinkReader(Array(message[36...]))
    guard let text = reader.attributes(from: 0).first(where: { $0.0 == 1 /* NLMSGERR_ATTR_MSG */ }) else {
      return ""
    }
    return String(decoding: text.1.prefix { $0 != 0 }, as: UTF8.self)
  }

  private static func libnlError(_ operation: String, _ rc: Int32) -> KernelError {
    KernelError.system(
      operation, errno: Errno(rawValue: errnoCodeFromLibnl(rc)),
      kernelMessage: String(cString: nl_geterror(rc)))
  }

  /// The errno equivalent of a libnl error code.
  private static func errnoCodeFromLibnl(_ rc: Int32) -> Int32 {
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

/// One netlink request, built before it is sent (so that several can go in one `send`).
struct NetlinkRequest {
  /// Names the request in errors (e.g. `RTM_NEWQDISC netem on eth0`); made only when one is needed.
  var operation: () -> String
  var type: Int32
  var flags: Int32
  /// The fixed header after `nlmsghdr` (`struct tcmsg`, `struct ifinfomsg`).
  var header: [UInt8]
  var attributes: [(UInt16, [UInt8])]
  /// `NLM_F_DUMP`: answered by parts and `NLMSG_DONE`, no ack.
  var dump = false
  /// `NLM_F_ECHO`: the change's notification comes back to the sender.
  var echo = false

  init(
    operation: @autoclosure @escaping () -> String, type: Int32, flags: Int32, header: [UInt8],
    attributes: [(UInt16, [UInt8])], dump: Bool = false, echo: Bool = false
  ) {
    self.operation = operation
    self.type = type
    self.flags = flags
    self.header = header
    self.attributes = attributes
    self.dump = dump
    self.echo = echo
  }

  /// The whole message (`nlmsghdr` included) with sequence number `sequence`, to the kernel.
  ///
  /// - Parameter acknowledged: ask for an ack (`NLM_F_ACK`) when the change succeeds; without it the
  ///   kernel answers only a failure (see ``NetlinkSocket/batch(_:)``).
  func encoded(sequence: UInt32, acknowledged: Bool) -> [UInt8] {
    var message = NetlinkWriter()
    message.reserve(16 + header.count + 3 + attributes.reduce(0) { $0 + 4 + $1.1.count + 3 })
    var extra = Int32(NLM_F_REQUEST) | (dump || !acknowledged ? 0 : Int32(NLM_F_ACK))
    if echo { extra |= Int32(NLM_F_ECHO) }
    message.append(UInt32(0))  // nlmsg_len, set below
    message.append(UInt16(type))
    message.append(UInt16(truncatingIfNeeded: flags | extra))
    message.append(sequence)
    message.append(UInt32(0))  // nlmsg_pid: the kernel
    message.append(raw: header)
    for (attributeType, payload) in attributes { message.attribute(attributeType, payload) }
    message.set(UInt32(message.bytes.count), at: 0)
    return message.bytes
  }
}

/// Runs a libnl call again while it fails because a signal interrupted it: libnl reports that as
/// `-NLE_INTR`, not `errno`, so ``Errno/retrying(_:)`` cannot see it. The same policy, libnl's codes.
@inline(__always)
func retryingLibnlInterrupts(_ body: () -> Int32) -> Int32 {
  while true {
    let rc = body()
    if rc == -NLE_INTR { continue }
    return rc
  }
}
