import Glibc

/// One `struct inotify_event` as read from an inotify descriptor.
///
/// The kernel packs variable-length records back to back: `wd` (Int32), `mask`, `cookie`, `len`
/// (UInt32 each), then `len` bytes of NUL-padded name. ``DirectoryWatcher`` needs `wd` and `mask` to
/// tell a change in the directory from the directory itself going away.
struct InotifyRecord: Hashable, Sendable {
  /// The watch the event belongs to (-1 for `IN_Q_OVERFLOW`).
  var wd: Int32
  /// `IN_*` bits.
  var mask: UInt32
  /// Pairs `IN_MOVED_FROM` with `IN_MOVED_TO`.
  var cookie: UInt32
  /// The entry's name inside the watched directory; empty for events about the directory itself.
  var name: String

  /// The size of the fixed part of a record.
  static let headerSize = 16

  /// The records in `bytes`, as returned by one `read(2)`; a truncated tail (which the kernel never
  /// produces) is ignored.
  static func parse(_ bytes: UnsafeRawBufferPointer) -> [InotifyRecord] {
    var records: [InotifyRecord] = []
    var offset = 0
    while offset + headerSize <= bytes.count {
      let wd = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
      let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
      let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
      let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
      let nameStart = offset + headerSize
      guard nameStart + length <= bytes.count else { break }
      let nameBytes = bytes[nameStart..<nameStart + length].prefix { $0 != 0 }
      records.append(
        InotifyRecord(wd: wd, mask: mask, cookie: cookie, name: String(decoding: nameBytes, as: UTF8.self)))
      offset = nameStart + length
    }
    return records
  }

  /// Whether the watch is gone or no longer watches the path: the directory was deleted
  /// (`IN_DELETE_SELF`), renamed (`IN_MOVE_SELF`: the watch follows the inode away from the path),
  /// unmounted (`IN_UNMOUNT`), or the kernel dropped the watch (`IN_IGNORED`).
  var endsWatch: Bool {
    mask & (UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF) | UInt32(IN_UNMOUNT) | UInt32(IN_IGNORED)) != 0
  }

  /// Whether events were lost because the kernel's queue overflowed (`IN_Q_OVERFLOW`).
  var isOverflow: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }
}
