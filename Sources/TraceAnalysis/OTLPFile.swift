import Foundation

/// Streams an OTLP JSON file (the Collector `file` exporter's format: one
/// `ExportTraceServiceRequest` per line), plain or gzip (recognised by its magic bytes, not its
/// name), holding one chunk and one line in memory at a time.
public struct OTLPFile: Sendable {
  /// The file.
  public var path: String
  /// A line longer than this is reported as malformed and skipped, so one runaway line cannot
  /// exhaust memory (the Collector's batches are far smaller).
  public var maxLineBytes: Int

  private static let chunkBytes = 1 << 20

  /// A reader of `path`.
  public init(path: String, maxLineBytes: Int = 256 << 20) {
    self.path = path
    self.maxLineBytes = maxLineBytes
  }

  /// Calls `body` with each non-empty line (without its newline) and its 1-based line number;
  /// a line over ``maxLineBytes`` comes as nil, for the caller to report.
  public func forEachLine(_ body: ([UInt8]?, Int) -> Void) throws(TraceInputError) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
      var isDirectory: ObjCBool = false
      let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
      throw .unreadable(
        path, reason: !exists ? "no such file" : isDirectory.boolValue ? "a directory" : "permission denied")
    }
    defer { try? handle.close() }
    var splitter = LineSplitter(maxLineBytes: maxLineBytes)
    var inflater: GzipInflater?
    var first = true
    while true {
      let chunk: [UInt8]
      do {
        chunk = Array(try handle.read(upToCount: Self.chunkBytes) ?? Data())
      } catch {
        throw .unreadable(path, reason: "\(error.localizedDescription)")
      }
      if first {
        first = false
        if chunk.count >= 2, chunk[0] == 0x1F, chunk[1] == 0x8B { inflater = try GzipInflater() }
      }
      if chunk.isEmpty { break }
      if let inflater {
        do {
          try inflater.inflate(chunk) { splitter.add($0, body) }
        } catch {
          throw error.naming(path)
        }
      } else {
        splitter.add(chunk, body)
      }
    }
    if let inflater, !inflater.isComplete {
      throw TraceInputError.gzip("the file ends inside a gzip member (cut short?)").naming(path)
    }
    splitter.finish(body)
  }
}

/// Cuts a byte stream into lines.
private struct LineSplitter {
  let maxLineBytes: Int
  var pending: [UInt8] = []
  var lineNumber = 0
  var overlong = false

  init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

  mutating func add(_ bytes: [UInt8], _ body: ([UInt8]?, Int) -> Void) {
    var start = 0
    while let newline = bytes[start...].firstIndex(of: 0x0A) {
      append(bytes[start..<newline])
      emit(body)
      start = newline + 1
    }
    append(bytes[start...])
  }

  private mutating func append(_ bytes: ArraySlice<UInt8>) {
    guard !overlong else { return }
    if pending.count + bytes.count > maxLineBytes {
      overlong = true
      pending = []
    } else {
      pending.append(contentsOf: bytes)
    }
  }

  private mutating func emit(_ body: ([UInt8]?, Int) -> Void) {
    lineNumber += 1
    if overlong {
      body(nil, lineNumber)
    } else if pending.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) {
      body(pending, lineNumber)
    }
    pending.removeAll(keepingCapacity: true)
    overlong = false
  }

  mutating func finish(_ body: ([UInt8]?, Int) -> Void) {
    if !pending.isEmpty || overlong { emit(body) }
  }
}
