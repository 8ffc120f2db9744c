import Foundation
import RawNetlink

/// The raw netlink floor (Benchmarks/Sources/RawNetlink): the requests of an apply and a revert sent
/// by a minimal C sender, timed on a thread of its own (the sender enters namespaces with `setns`,
/// which must never run on a thread of the cooperative pool).
enum RawSender {
  /// faultline's root handle `fa17:`, as the raw side sends it.
  static let handle: UInt32 = 0xFA17_0000

  /// Runs `body` on a new thread and returns its result.
  static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      let thread = Thread {
        do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
      }
      thread.start()
    }
  }

  /// Round trips the raw side has sent so far.
  static var requestsSent: Int { raw_requests_sent() }

  /// A socket in the namespace at `path` (nil: this thread's), with the interface's index.
  static func open(_ path: String?, interface: String) throws -> (fd: Int32, ifindex: Int32) {
    let fd = path.map { raw_open($0) } ?? raw_open(nil)
    guard fd >= 0 else {
      throw BenchError("raw_open(\(path ?? "own namespace")): \(String(cString: strerror(-fd)))")
    }
    let index = raw_ifindex(fd, interface)
    guard index > 0 else {
      close(fd)
      throw BenchError("raw_ifindex(\(interface)): \(String(cString: strerror(-index)))")
    }
    return (fd, index)
  }

  /// Replace the root with `kind` and `options`, then read it back (the apply's two requests).
  static func apply(_ fd: Int32, _ ifindex: Int32, kind: String, options: [UInt8]) throws {
    let rc = options.withUnsafeBytes { raw_replace_root(fd, ifindex, kind, handle, $0.baseAddress, $0.count) }
    guard rc == 0 else { throw BenchError("raw replace \(kind): \(String(cString: strerror(-rc)))") }
    var readBack = [UInt8](repeating: 0, count: 16384)
    let length = readBack.withUnsafeMutableBytes {
      raw_read_root(fd, ifindex, handle, $0.baseAddress, $0.count)
    }
    guard length >= 0 else { throw BenchError("raw read-back: \(String(cString: strerror(-length)))") }
  }

  /// Delete the root (the revert's one request).
  static func revert(_ fd: Int32, _ ifindex: Int32) throws {
    let rc = raw_delete_root(fd, ifindex, handle)
    guard rc == 0 else { throw BenchError("raw delete: \(String(cString: strerror(-rc)))") }
  }

  /// Applies on every namespace (open a socket there, look the link up, replace, read back), then
  /// reverts on every one (delete, close): the fan-out's floor. Returns (apply µs, total µs).
  static func fanout(_ paths: [String], interface: String, kind: String, options: [UInt8]) throws
    -> (Double, Double)
  {
    var sockets: [(fd: Int32, ifindex: Int32)] = []
    defer { for socket in sockets { close(socket.fd) } }
    let start = monotonicNanoseconds()
    for path in paths {
      sockets.append(try open(path, interface: interface))
      try apply(
        sockets[sockets.count - 1].fd, sockets[sockets.count - 1].ifindex, kind: kind, options: options)
    }
    let applied = monotonicNanoseconds()
    while let socket = sockets.popLast() {
      try revert(socket.fd, socket.ifindex)
      close(socket.fd)
    }
    let reverted = monotonicNanoseconds()
    return (Double(applied - start) / 1000, Double(reverted - start) / 1000)
  }
}
