import CZlib

/// Inflates a gzip stream chunk by chunk with the system zlib (no gzip reader exists in Foundation
/// on Linux, and one small C call set is lighter than a package for it). Concatenated gzip members
/// (what `cat a.gz b.gz` or a rotating writer makes) are read as one stream.
final class GzipInflater {
  private let stream: UnsafeMutablePointer<z_stream>
  private var finished = false

  init() throws(TraceInputError) {
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    guard czlib_inflate_init_gzip(stream) == Z_OK else {
      stream.deallocate()
      throw TraceInputError.gzip("zlib could not start (out of memory?)")
    }
  }

  deinit {
    inflateEnd(stream)
    stream.deallocate()
  }

  /// The bytes `input` inflates to (zero or more), given to `sink` in pieces.
  func inflate(_ input: [UInt8], into sink: ([UInt8]) throws(TraceInputError) -> Void) throws(TraceInputError)
  {
    guard !input.isEmpty else { return }
    var output = [UInt8](repeating: 0, count: 256 * 1024)
    var offset = 0
    while offset < input.count {
      if finished {
        // Another gzip member follows the one that ended.
        guard inflateReset(stream) == Z_OK else {
          throw TraceInputError.gzip("cannot read the next gzip member")
        }
        finished = false
      }
      var result: Int32 = Z_OK
      var produced = 0
      var consumed = 0
      input.withUnsafeBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
          stream.pointee.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress! + offset)
          stream.pointee.avail_in = UInt32(input.count - offset)
          stream.pointee.next_out = outBuffer.baseAddress
          stream.pointee.avail_out = UInt32(outBuffer.count)
          result = CZlib.inflate(stream, Z_NO_FLUSH)
          consumed = input.count - offset - Int(stream.pointee.avail_in)
          produced = outBuffer.count - Int(stream.pointee.avail_out)
        }
      }
      offset += consumed
      if produced > 0 { try sink(Array(output[0..<produced])) }
      switch result {
      case Z_OK: continue
      case Z_STREAM_END: finished = true
      case Z_BUF_ERROR where consumed == 0 && produced == 0: return
      default:
        let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(result)"
        throw TraceInputError.gzip(message)
      }
    }
  }

  /// Whether the stream ended cleanly (false: the file was cut short).
  var isComplete: Bool { finished }
}
