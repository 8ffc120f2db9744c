/// Builds netlink attribute payloads in host byte order with 4-byte alignment (`NLA_ALIGN`).
struct NetlinkWriter {
  private(set) var bytes: [UInt8] = []

  mutating func append<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
  }

  /// Appends an array of integers in host byte order, in one copy (a 4096-entry distribution table
  /// appended value by value was three quarters of an apply's instructions).
  mutating func append<T: FixedWidthInteger>(contentsOf values: [T]) {
    values.withUnsafeBytes { bytes.append(contentsOf: $0) }
  }

  /// Makes room for `count` bytes in all, so that appending them copies each once.
  mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }

  /// Appends raw bytes (a fixed header such as `struct tcmsg`), padded to 4 bytes.
  mutating func append(raw: [UInt8]) {
    bytes.append(contentsOf: raw)
    while bytes.count % 4 != 0 { bytes.append(0) }
  }

  /// Appends one attribute (`struct nlattr` header, `payload`, padding).
  mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
    append(UInt16(4 + payload.count))
    append(type)
    append(raw: payload)
  }

  /// Overwrites the integer at `offset` (a length known only at the end).
  mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
    withUnsafeBytes(of: value) { raw in
      for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
    }
  }

  /// Appends one attribute (`struct nlattr` header, payload, padding) whose payload `body` writes.
  mutating func attribute(_ type: UInt16, _ body: (inout NetlinkWriter) -> Void) {
    var inner = NetlinkWriter()
    body(&inner)
    append(UInt16(4 + inner.bytes.count))
    append(type)
    bytes.append(contentsOf: inner.bytes)
    while bytes.count % 4 != 0 { bytes.append(0) }
  }
}

/// Reads host-byte-order integers and attribute streams out of a netlink payload.
struct NetlinkReader {
  let bytes: [UInt8]

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  private func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
    guard offset >= 0, offset + MemoryLayout<T>.size <= bytes.count else { return 0 }
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { raw in
      for i in 0..<MemoryLayout<T>.size { raw[i] = bytes[offset + i] }
    }
    return value
  }

  func u16(at offset: Int) -> UInt16 { load(UInt16.self, at: offset) }
  func u32(at offset: Int) -> UInt32 { load(UInt32.self, at: offset) }
  func u64(at offset: Int) -> UInt64 { load(UInt64.self, at: offset) }

  /// The `(type, payload)` pairs of the attribute stream starting at `offset`; stops at a malformed one.
  func attributes(from offset: Int) -> [(UInt16, [UInt8])] {
    var result: [(UInt16, [UInt8])] = []
    forEachAttribute(from: offset) { type, payload in result.append((type, Array(bytes[payload]))) }
    return result
  }

  /// Calls `body` with the type and payload range of each attribute from `offset`, copying nothing
  /// (a dump's messages carry statistics nobody reads); stops at a malformed one.
  func forEachAttribute(from offset: Int, _ body: (UInt16, Range<Int>) -> Void) {
    var position = offset
    while position + 4 <= bytes.count {
      let length = Int(u16(at: position))
      let type = u16(at: position + 2) & 0x3FFF  // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
      guard length >= 4, position + length <= bytes.count else { break }
      body(type, (position + 4)..<(position + length))
      position += (length + 3) & ~3
    }
  }
}
