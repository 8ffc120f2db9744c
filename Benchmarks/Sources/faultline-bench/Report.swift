import Foundation
import Glibc

/// The build configuration this binary was compiled with.
#if DEBUG
  let buildConfiguration = "debug"
#else
  let buildConfiguration = "release"
#endif

/// Writes `object` as sorted, indented JSON; NaN and infinities (a figure that could not be computed)
/// become null.
func writeJSON(_ object: [String: Any], to path: String) throws {
  func clean(_ value: Any) -> Any {
    switch value {
    case let number as Double: return number.isFinite ? number : NSNull()
    case let dictionary as [String: Any]: return dictionary.mapValues(clean)
    case let array as [Any]: return array.map(clean)
    default: return value
    }
  }
  let data = try JSONSerialization.data(
    withJSONObject: clean(object), options: [.prettyPrinted, .sortedKeys])
  try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: path))
}

/// What one side (host or VM) measured, with the machine it ran on.
struct Section {
  /// `host` or `vm`.
  var side: String
  /// Figure name → value (numbers, or null for a figure not wired yet).
  var figures: [String: Any] = [:]
  /// Figure group → method and full summaries.
  var details: [String: Any] = [:]
  /// Figure group → why it failed.
  var errors: [String: String] = [:]

  /// An empty section for `side`.
  init(where side: String) { self.side = side }

  /// Writes the section, with the machine description, as JSON.
  func write(to path: String) throws {
    var object = Self.machine()
    object["side"] = side
    object["build"] = buildConfiguration
    object["figures"] = figures
    object["details"] = details
    if !errors.isEmpty { object["errors"] = errors }
    try writeJSON(object, to: path)
  }

  /// The CPU model, online cores, memory, kernel release and the date.
  static func machine() -> [String: Any] {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model =
      cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
      .flatMap { $0.split(separator: ":", maxSplits: 1).last }
      .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
    let memoryKiB =
      meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
      .flatMap { Double($0.split(separator: " ")[1]) } ?? 0
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: name.release) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    let formatter = ISO8601DateFormatter()
    return [
      "cpu_model": model, "cores": sysconf(Int32(_SC_NPROCESSORS_ONLN)),
      "memory_gib": rounded(memoryKiB / 1_048_576), "kernel": release, "date": formatter.string(from: Date()),
      "vm": ProcessInfo.processInfo.environment["FAULTLINE_VM"] == "1",
    ]
  }
}

/// Merges the host and VM sections into `Benchmarks/results/latest.json` and prints the table.
enum Report {
  /// One row of the table: a figure, where it is judged, and its target.
  private struct Row {
    var label: String
    var host: String
    var vm: String
    var target: String
    var verdict: String
  }

  /// `faultline-bench report --host FILE --vm FILE --out FILE [--markdown]`.
  static func run(_ options: Options) throws {
    guard let hostFile = options.hostFile, let vmFile = options.vmFile, let out = options.out else {
      throw BenchError("report needs --host FILE --vm FILE --out FILE\n\(usage)")
    }
    let host = try load(hostFile)
    let vm = try load(vmFile)
    let hostFigures = host["figures"] as? [String: Any] ?? [:]
    let vmFigures = vm["figures"] as? [String: Any] ?? [:]
    let rows = table(host: hostFigures, vm: vmFigures)
    let merged: [String: Any] = [
      "schema": 1,
      "date": host["date"] ?? vm["date"] ?? "",
      "build": host["build"] ?? "",
      "machine": [
        "cpu_model": host["cpu_model"] ?? "", "cores": host["cores"] ?? 0,
        "memory_gib": host["memory_gib"] ?? 0,
        "host_kernel": host["kernel"] ?? "", "vm_kernel": vm["kernel"] ?? "",
        "vm": "qemu-system-x86_64 -accel tcg -cpu max, \(vm["cores"] ?? 1) vCPU, "
          + "\(vm["memory_gib"] ?? 2) GiB (scripts/vm-test)",
      ],
      "host": host, "vm": vm,
      "targets": Dictionary(
        uniqueKeysWithValues: rows.filter { !$0.target.isEmpty }.map { row in
          (row.label, ["target": row.target, "verdict": row.verdict, "host": row.host, "vm": row.vm])
        }),
    ]
    try FileManager.default.createDirectory(
      at: URL(fileURLWithPath: out).deletingLastPathComponent(), withIntermediateDirectories: true)
    try writeJSON(merged, to: out)

    let kernels = "host \(host["kernel"] ?? "?"), VM \(vm["kernel"] ?? "?") under qemu TCG"
    print(
      "faultline-bench \(host["build"] ?? "") build, \(host["date"] ?? ""), \(host["cpu_model"] ?? "") "
        + "(\(host["cores"] ?? "?") cores), \(kernels)")
    if options.markdown {
      print("| figure | host | VM (TCG) | target | verdict |")
      print("| --- | ---: | ---: | --- | --- |")
      for row in rows { print("| \(row.label) | \(row.host) | \(row.vm) | \(row.target) | \(row.verdict) |") }
    } else {
      let widths = [32, 11, 11, 22]
      func line(_ cells: [String]) -> String {
        zip(cells, widths + [0]).map { cell, width in
          cell.padding(toLength: max(width, cell.count), withPad: " ", startingAt: 0)
        }
        .joined(separator: " ")
      }
      print(line(["figure", "host", "vm (TCG)", "target", "verdict"]))
      for row in rows { print(line([row.label, row.host, row.vm, row.target, row.verdict])) }
    }
    for (side, section) in [("host", host), ("vm", vm)] {
      if let errors = section["errors"] as? [String: String] {
        for (name, error) in errors.sorted(by: { $0.key < $1.key }) {
          print("\(side) \(name) FAILED: \(error)")
        }
      }
    }
    progress("wrote \(out)")
  }

  private static func load(_ path: String) throws -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: path),
      let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw BenchError("cannot read \(path) (did that side run?)") }
    return object
  }

  private static func number(_ figures: [String: Any], _ key: String) -> Double? {
    (figures[key] as? NSNumber)?.doubleValue
  }

  private static func text(_ value: Double?, digits: Int = 1) -> String {
    guard let value, value.isFinite else { return "—" }
    return String(format: "%.\(digits)f", value)
  }

  private static func ratio(_ a: Double?, _ b: Double?) -> Double? {
    guard let a, let b, b > 0 else { return nil }
    return a / b
  }

  /// The rows, with verdicts judged where the figure means what the target means.
  private static func table(host: [String: Any], vm: [String: Any]) -> [Row] {
    var rows: [Row] = []
    func add(_ key: String, digits: Int = 1, target: String = "", verdict: String = "") {
      rows.append(
        Row(
          label: key, host: text(number(host, key), digits: digits),
          vm: text(number(vm, key), digits: digits),
          target: target, verdict: verdict))
    }
    func judge(_ value: Double?, _ pass: (Double) -> Bool) -> String {
      guard let value else { return "not measured" }
      return pass(value) ? "met" : "MISSED"
    }
    // Issue 13: faultline against the raw netlink floor, the same requests from a minimal C sender.
    // The host has no netem, so its figures install a tbf through the same steps (proxy_*).
    func pair(
      _ label: String, _ hostKey: String, _ vmKey: String, digits: Int = 1, target: String = "",
      _ pass: ((Double) -> Bool)? = nil
    ) {
      let values = [number(host, hostKey), number(vm, vmKey)]
      var verdict = ""
      if let pass {
        let judged = values.compactMap { $0 }
        verdict = judged.isEmpty ? "not measured" : judged.allSatisfy(pass) ? "met" : "MISSED"
      }
      rows.append(
        Row(
          label: label, host: text(values[0], digits: digits), vm: text(values[1], digits: digits),
          target: target, verdict: verdict))
    }
    pair("apply p50 (µs), socket open", "proxy_p50_us", "apply_p50_us")
    pair("raw apply p50 (µs)", "proxy_raw_p50_us", "apply_raw_p50_us")
    pair("apply / raw p50 (×)", "proxy_ratio_p50", "apply_ratio_p50", digits: 2, target: "≤ 2") { $0 <= 2 }
    pair("apply p99 (µs), socket open", "proxy_p99_us", "apply_p99_us")
    pair("raw apply p99 (µs)", "proxy_raw_p99_us", "apply_raw_p99_us")
    pair("apply / raw p99 (×)", "proxy_ratio_p99", "apply_ratio_p99", digits: 2, target: "≤ 3") { $0 <= 3 }
    rows.append(
      Row(
        label: "host proxy apply p99 (µs)", host: text(number(host, "proxy_p99_us")), vm: "—",
        target: "≤ 100", verdict: judge(number(host, "proxy_p99_us")) { $0 <= 100 }))
    pair("first apply in a netns p50 (µs)", "proxy_cold_p50_us", "apply_cold_p50_us")
    pair("raw first apply p50 (µs)", "proxy_raw_cold_p50_us", "apply_raw_cold_p50_us")
    pair("first apply / raw p50 (×)", "proxy_cold_ratio_p50", "apply_cold_ratio_p50", digits: 2)
    pair("apply round trips", "proxy_round_trips", "apply_round_trips", digits: 0)
    pair("raw apply round trips", "proxy_raw_round_trips", "apply_raw_round_trips", digits: 0)
    add("inject_p50_us")
    add(
      "inject_p99_us", target: "≤ 100 real hardware",
      verdict: number(vm, "inject_p99_us").map { $0 <= 100 ? "met (TCG)" : "TCG: see doc" } ?? "not measured")
    add("revert_p50_us")
    add("tc_p50_us")
    add("tc_p99_us")
    let speedup = ratio(number(vm, "tc_p50_us"), number(vm, "inject_p50_us"))
    let hostSpeedup = ratio(number(host, "tc_tbf_p50_us"), number(host, "apply_refused_p50_us"))
    rows.append(
      Row(
        label: "tc_p50 / inject_p50 (×)", host: text(hostSpeedup), vm: text(speedup), target: "≥ 20×",
        verdict: judge(speedup) { $0 >= 20 }))
    // fanout_N_ms: N is 100 unless a smoke run chose fewer namespaces.
    let fanoutKey =
      vm.keys.first { $0.hasPrefix("fanout_") && $0.hasSuffix("_ms") && !$0.contains("concurrent") }
      ?? "fanout_100_ms"
    add(fanoutKey)
    add("tc_\(fanoutKey)")
    let fanout = ratio(number(vm, "tc_\(fanoutKey)"), number(vm, fanoutKey))
    rows.append(
      Row(
        label: "tc_fanout / fanout (×)", host: "—", vm: text(fanout), target: "≥ 10×",
        verdict: judge(fanout) { $0 >= 10 }))
    add(fanoutKey.replacingOccurrences(of: "_ms", with: "_concurrent_ms"))
    add("raw_\(fanoutKey)")
    let fanoutPrefix = fanoutKey.replacingOccurrences(of: "_ms", with: "")
    add(
      "\(fanoutPrefix)_raw_ratio", digits: 2, target: "≤ 2",
      verdict: judge(number(vm, "\(fanoutPrefix)_raw_ratio")) { $0 <= 2 })
    add(
      "\(fanoutPrefix)_tc_speedup", target: "≥ 100",
      verdict: judge(number(vm, "\(fanoutPrefix)_tc_speedup")) { $0 >= 100 })
    for peers in [1, 10, 100] {
      add("targeted_\(peers)_apply_p50_us")
      add("targeted_\(peers)_raw_p50_us")
      add(
        "targeted_\(peers)_raw_ratio", digits: 2, target: peers == 100 ? "≤ 2" : "",
        verdict: peers == 100 ? judge(number(vm, "targeted_100_raw_ratio")) { $0 <= 2 } : "")
      add("targeted_\(peers)_round_trips", digits: 0)
      add("targeted_\(peers)_raw_round_trips", digits: 0)
      add("targeted_\(peers)_tc_p50_us")
    }
    add("status_p50_us")
    add("tc_show_p50_us")
    let show = [host, vm].map { ratio(number($0, "tc_show_p50_us"), number($0, "status_p50_us")) }
    rows.append(
      Row(label: "tc_show / status (×)", host: text(show[0]), vm: text(show[1]), target: "", verdict: ""))
    add("encode_options_us")
    add("encode_options_memcpy_us", digits: 2)
    add("thread_hop_us")
    add("tc_tbf_p50_us")
    add("ip_netns_exec_tc_tbf_p50_us")
    add("apply_refused_p50_us")
    add(
      "schedule_error_p99_ms", target: "≤ 50",
      verdict: judge(number(vm, "schedule_error_p99_ms")) { $0 <= 50 })
    add("schedule_error_p99_warm_ms")
    add("schedule_start_p99_ms")
    add("schedule_end_p99_ms")
    add("schedule_wake_p99_ms")
    add("idle_rss_mib", target: "≤ 40", verdict: judge(number(host, "idle_rss_mib")) { $0 <= 40 })
    add(
      "idle_cpu_pct", digits: 3, target: "≈ 0 (≤ 0.1)",
      verdict: judge(number(host, "idle_cpu_pct")) { $0 <= 0.1 })
    add("idle_cpu_pct_schedstat", digits: 4)
    add("idle_wakeups_per_s", digits: 2)
    add(
      "annotation_read_ns", target: "≤ 200",
      verdict: judge(number(host, "annotation_read_ns")) { $0 <= 200 })
    add(
      "annotation_read_bounded_ns", target: "≤ 200",
      verdict: judge(number(host, "annotation_read_bounded_ns")) { $0 <= 200 })
    add("annotation_naive_read_ns")
    add("analyze_spans_per_s", digits: 0)
    add("analyze_peak_rss_mib")
    add("protobuf_json_parse_spans_per_s", digits: 0)
    add("jsonserialization_parse_spans_per_s", digits: 0)
    let versus = [host, vm].map {
      ratio(number($0, "analyze_spans_per_s"), number($0, "protobuf_json_parse_spans_per_s"))
    }
    rows.append(
      Row(
        label: "analyze / protobuf json_format (×)", host: text(versus[0]), vm: text(versus[1]),
        target: "≥ 1",
        verdict: versus[0].map { $0 >= 1 ? "yes" : "no" } ?? ""))
    add("window_inject_p50_us")
    let dead = ratio(number(vm, "inject_p50_us_dead_collector"), number(vm, "window_inject_p50_us"))
    add(
      "inject_p50_us_dead_collector", target: "= window_inject_p50_us",
      verdict: judge(dead) { $0 <= 1.1 })
    return rows
  }
}
