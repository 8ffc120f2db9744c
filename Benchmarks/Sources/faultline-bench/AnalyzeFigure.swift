import Foundation
import Glibc

/// `analyze_spans_per_s`: how fast `faultline analyze` reads a span file, against plain parses of
/// the same file: the protobuf library's own JSON parser (`json_format.Parse` into an
/// `ExportTraceServiceRequest`, what a script that loads Collector files does) and Foundation's
/// `JSONSerialization` (a parse with nothing done after it). The claim: the analysis streams, so its
/// memory follows the spans of the windows and their baselines, not the size of the file. So the
/// window holds the same spans whatever the file's size, and the default file is about 1 GB.
enum AnalyzeFigure {
  /// Spans per line, as the Collector's file exporter batches them.
  static let spansPerLine = 100
  /// Spans in the window, and as many again in its baseline: a 5-minute window at 100 requests/s.
  static let windowSpans = 30_000

  static func measure(faultline: String, spans: Int) throws -> (
    figures: [String: Any], details: [String: Any]
  ) {
    let directory = NSTemporaryDirectory() + "fl-bench-analyze-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = directory + "/spans.json"
    let lines = max(3, spans / spansPerLine)
    let bytes = try writeSpanFile(file, lines: lines)
    let total = lines * spansPerLine + 1
    progress("analyze: \(total) spans, \(bytes / 1_000_000) MB")

    let run = try Spawn.timed([
      faultline, "analyze", file, "--experiment", "bench-analyze", "--output", "json",
    ])
    guard run.status == 0 else { throw BenchError("faultline analyze exited \(run.status)") }
    let analyzeRate = Double(total) / run.seconds

    let protobuf = try protobufParse(file)
    let foundation = try foundationParse(file)
    progress(
      "analyze: \(Int(analyzeRate)) spans/s (peak RSS \(run.maxRSSKiB / 1024) MiB); protobuf json_format "
        + "\(Int(protobuf)) spans/s; JSONSerialization \(Int(foundation)) spans/s")
    let figures: [String: Any] = [
      "analyze_spans_per_s": Int(analyzeRate),
      "analyze_peak_rss_mib": rounded(Double(run.maxRSSKiB) / 1024),
      "protobuf_json_parse_spans_per_s": Int(protobuf),
      "jsonserialization_parse_spans_per_s": Int(foundation),
    ]
    let details: [String: Any] = [
      "method":
        "a synthetic Collector file (\(lines) lines of \(spansPerLine) spans: gateway, frontend and backend "
        + "server and client spans with HTTP attributes, a span every 10 ms, and one chaos.experiment span in "
        + "the middle over \(Self.windowSpans) spans, or the middle tenth of a smaller file, so that the window "
        + "and its baseline hold the same spans whatever the file's size), "
        + "read by `faultline analyze --experiment --output json` (the whole command: both passes, the "
        + "statistics, the report; wall clock and peak RSS from wait4), by Python protobuf's "
        + "json_format.Parse line by line (timed inside the interpreter, imports excluded), and by "
        + "JSONSerialization line by line in this process",
      "spans": total, "file_bytes": bytes, "analyze_seconds": rounded(run.seconds, 3),
    ]
    return (figures, details)
  }

  /// Writes the file; returns its size in bytes.
  private static func writeSpanFile(_ path: String, lines: Int) throws -> Int {
    guard let handle = FileHandle(forWritingAtPath: path) ?? createAndOpen(path) else {
      throw BenchError("cannot write \(path)")
    }
    defer { try? handle.close() }
    let start: UInt64 = 1_800_000_000_000_000_000
    let step: UInt64 = 10_000_000  // a span every 10 ms
    let duration = UInt64(lines * spansPerLine) * step
    var written = 0
    // In the middle of the file; in a file too small for a baseline of its own length, the middle tenth.
    let window = min(UInt64(Self.windowSpans) * step, duration / 10)
    let experiment = line(
      service: "faultline",
      spans: [
        span(
          trace: 1, id: 1, name: "chaos.experiment", kind: 1, start: start + duration / 2 - window / 2,
          end: start + duration / 2 + window / 2,
          attributes: #"{"key":"chaos.experiment.name","value":{"stringValue":"bench-analyze"}}"#)
      ])
    handle.write(Data(experiment.utf8))
    written += experiment.utf8.count
    let services = [
      ("gateway", 3, "GET /checkout"), ("frontend", 2, "GET /checkout"), ("backend", 2, "GET /data"),
    ]
    for index in 0..<lines {
      let (service, kind, name) = services[index % services.count]
      var spans: [String] = []
      spans.reserveCapacity(spansPerLine)
      for offset in 0..<spansPerLine {
        let number = UInt64(index * spansPerLine + offset)
        let begin = start + number * step
        let latency = UInt64(5_000_000 + (number % 97) * 100_000)
        spans.append(
          span(
            trace: number + 2, id: number + 2, name: name, kind: kind, start: begin,
            end: begin + latency,
            attributes: #"{"key":"http.request.method","value":{"stringValue":"GET"}},"#
              + #"{"key":"http.response.status_code","value":{"intValue":"200"}}"#))
      }
      let text = line(service: service, spans: spans)
      handle.write(Data(text.utf8))
      written += text.utf8.count
    }
    return written
  }

  private static func createAndOpen(_ path: String) -> FileHandle? {
    FileManager.default.createFile(atPath: path, contents: nil)
    return FileHandle(forWritingAtPath: path)
  }

  private static func hex(_ value: UInt64, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }

  /// One span of its own trace (the figure reads files, it does not follow calls).
  private static func span(
    trace: UInt64, id: UInt64, name: String, kind: Int, start: UInt64, end: UInt64, attributes: String
  ) -> String {
    #"{"traceId":"\#(hex(trace, width: 32))","spanId":"\#(hex(id, width: 16))","#
      + #""name":"\#(name)","kind":\#(kind),"startTimeUnixNano":"\#(start)","endTimeUnixNano":"\#(end)","#
      + #""attributes":[\#(attributes)],"status":{}}"#
  }

  private static func line(service: String, spans: [String]) -> String {
    #"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"\#(service)"}}]},"#
      + #""scopeSpans":[{"scope":{"name":"bench"},"spans":[\#(spans.joined(separator: ","))]}]}]}"# + "\n"
  }

  /// Spans per second through protobuf's `json_format.Parse`, timed inside Python.
  private static func protobufParse(_ file: String) throws -> Double {
    let script = """
      import json, sys, time
      from google.protobuf import json_format
      from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
      spans = 0
      began = time.perf_counter()
      with open(sys.argv[1]) as f:
          for line in f:
              request = json_format.Parse(line, ExportTraceServiceRequest())
              spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
      print(json.dumps({"spans": spans, "seconds": time.perf_counter() - began}))
      """
    let text = try Spawn.must(["python3", "-c", script, file])
    guard let data = text.split(separator: "\n").last.map({ Data($0.utf8) }),
      let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
      let spans = object["spans"] as? Double ?? (object["spans"] as? Int).map(Double.init),
      let seconds = object["seconds"] as? Double, seconds > 0
    else { throw BenchError("protobuf parse: unexpected output \(text)") }
    return spans / seconds
  }

  /// Spans per second through `JSONSerialization`, one line at a time, in this process.
  private static func foundationParse(_ file: String) throws -> Double {
    let data = try Data(contentsOf: URL(fileURLWithPath: file))
    var spans = 0
    let began = monotonicNanoseconds()
    for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
      let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
      for resource in object?["resourceSpans"] as? [[String: Any]] ?? [] {
        for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
          spans += (scope["spans"] as? [Any])?.count ?? 0
        }
      }
    }
    let seconds = Double(monotonicNanoseconds() - began) / 1e9
    return Double(spans) / seconds
  }
}
