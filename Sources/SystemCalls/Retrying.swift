import SystemPackage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// This thread's `errno`, read through the C library by name: inside `extension Errno` a bare
/// `errno` does not reach it.
@usableFromInline
var threadErrno: Int32 {
  #if canImport(Glibc)
    Glibc.errno
  #elseif canImport(Musl)
    Musl.errno
  #else
    Darwin.errno
  #endif
}

/// faultline's one policy for system calls that swift-system does not wrap (inotify, flock,
/// `openat`, `renameat`, netlink `send`/`recv`, the C shims): a call a signal interrupted is made
/// again, and a failure is a typed `Errno`. swift-system's own `FileDescriptor` methods follow the
/// same policy (their `retryOnInterrupt` defaults to true), so every layer retries `EINTR` alike and
/// no caller writes its own loop.
///
/// The helpers are concrete (`Int32` for most calls, `Int` for the `ssize_t` ones), not generic over
/// the integer type: unspecialized generic code calls into the Swift runtime between the system call
/// and the read of `errno`, and the runtime's own calls may overwrite it (measured: `EEXIST` from
/// `mkdir` came back as `EPERM`).
extension Errno {
  /// Calls `body` until it is not interrupted; its result, or the `errno` it failed with (`-1`).
  @inlinable
  public static func retrying(_ body: () -> Int32) throws(Errno) -> Int32 {
    // Widened inside the closure, right after the call: nothing runs between it and the errno read.
    Int32(truncatingIfNeeded: try retrying { Int(body()) })
  }

  /// ``retrying(_:)-(()->Int32)`` for the calls that return `ssize_t` (`send`, `recv`, `read`).
  @inlinable
  public static func retrying(_ body: () -> Int) throws(Errno) -> Int {
    while true {
      let result = body()
      if result != -1 { return result }
      let failure = Errno(rawValue: threadErrno)
      if failure != .interrupted { throw failure }
    }
  }

  /// Like ``retrying(_:)-(()->Int32)``, for calls that return `-errno` on failure instead of setting
  /// `errno` (the kernel's own convention, which faultline's C shims follow).
  @inlinable
  public static func retryingNegated(_ body: () -> Int32) throws(Errno) -> Int32 {
    while true {
      let result = body()
      if result >= 0 { return result }
      let failure = Errno(rawValue: -result)
      if failure != .interrupted { throw failure }
    }
  }

  /// The `errno` the last failed call on this thread set, for calls ``retrying(_:)-(()->Int32)``
  /// does not fit (a `-1` that is not always a failure); read it right after the call.
  /// swift-system keeps its own `Errno.current` internal.
  @inlinable
  public static var current: Errno { Errno(rawValue: threadErrno) }
}
