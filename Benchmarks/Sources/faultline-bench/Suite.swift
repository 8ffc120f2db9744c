import FaultModel
import Foundation

/// The command-line help.
let usage = """
  usage:
    faultline-bench vm   --out FILE --faultline BIN [options]   netem figures (needs sch_netem: the VM)
    faultline-bench host --out FILE --faultline BIN [options]   figures that need no netem
    faultline-bench report --host FILE --vm FILE --out FILE [--markdown]
                                                                merge, write latest.json, print the table
    faultline-bench profile inject|proxy|targeted|refused|status|annotation|reader [--iterations N]
                                                                a bare loop to run under valgrind
  options:
    --iterations N        timed operations per way (default 1000)
    --warmup N            untimed operations per way first (default 100)
    --fanout N            namespaces for the fan-out figure (default 100)
    --rounds N            fan-out rounds, median reported (default 3)
    --schedule-seconds S  how long the @every 2s daemon runs (default 120)
    --idle-seconds S      idle footprint window (default 60)
    --analyze-spans N     spans in the analyze figure's file (default 3000000, about 1 GB)
    --netns NAME          profile: use this namespace (with a veth fb0) instead of making one
                          (under valgrind, Foundation's Process cannot spawn `ip`)
    --only a,b            figure groups: inject overhead targeted fanout readpath breakdown schedule
                          annotations spawn idle analyze
  """

/// The parsed command line.
struct Options {
  var command = ""
  var argument: String?
  var out: String?
  var faultline: String?
  var hostFile: String?
  var vmFile: String?
  var markdown = false
  var iterations = 1000
  var warmup = 100
  var fanout = 100
  var rounds = 3
  var scheduleSeconds = 120
  var idleSeconds = 60
  var analyzeSpans = 3_000_000
  var only: Set<String>?
  var netns: String?

  init(_ arguments: [String]) throws {
    var rest = arguments[...]
    guard let command = rest.popFirst() else { throw BenchError(usage) }
    self.command = command
    if command == "profile" { argument = rest.popFirst() }
    func value(_ flag: String) throws -> String {
      guard let value = rest.popFirst() else { throw BenchError("\(flag) needs a value\n\(usage)") }
      return value
    }
    func number(_ flag: String) throws -> Int {
      let text = try value(flag)
      guard let number = Int(text), number > 0 else {
        throw BenchError("\(flag): \"\(text)\" is not a count")
      }
      return number
    }
    while let flag = rest.popFirst() {
      switch flag {
      case "--out": out = try value(flag)
      case "--faultline": faultline = try value(flag)
      case "--host": hostFile = try value(flag)
      case "--vm": vmFile = try value(flag)
      case "--markdown": markdown = true
      case "--iterations": iterations = try number(flag)
      case "--warmup": warmup = try number(flag)
      case "--fanout": fanout = try number(flag)
      case "--rounds": rounds = try number(flag)
      case "--schedule-seconds": scheduleSeconds = try number(flag)
      case "--idle-seconds": idleSeconds = try number(flag)
      case "--analyze-spans": analyzeSpans = try number(flag)
      case "--only": only = Set(try value(flag).split(separator: ",").map(String.init))
      case "--netns": netns = try value(flag)
      case "-h", "--help": throw BenchError(usage)
      default: throw BenchError("unknown option \(flag)\n\(usage)")
      }
    }
  }

  /// Whether figure group `name` runs.
  func wants(_ name: String) -> Bool { only?.contains(name) ?? true }
}

/// Runs the figure groups of one side and writes its section.
func runSuite(_ options: Options, where side: String) async throws {
  guard let out = options.out else { throw BenchError("--out FILE is required\n\(usage)") }
  let needsDaemon =
    side == "vm" ? options.wants("schedule") : options.wants("idle") || options.wants("analyze")
  guard !needsDaemon || options.faultline != nil else {
    throw BenchError("--faultline BIN (the built faultline) is required for the daemon figures")
  }
  var section = Section(where: side)
  let kernel = try KernelFigures()
  let warmup = options.warmup
  let iterations = options.iterations
  let single = try BenchNamespaces(count: 1)
  defer { single.close() }
  func record(_ name: String, _ result: () async throws -> (figures: [String: Any], details: [String: Any]))
    async
  {
    do {
      let (figures, details) = try await result()
      section.figures.merge(figures) { $1 }
      section.details[name] = details
    } catch {
      progress("\(name) failed: \(error)")
      section.errors[name] = "\(error)"
    }
  }
  if side == "vm" {
    if options.wants("inject") {
      await record("inject") {
        try await kernel.injectAndRevert(single, iterations: iterations, warmup: warmup)
      }
      await record("dead_collector") {
        try await TelemetryFigure.deadCollector(
          single.target(0), iterations: max(20, iterations / 5), warmup: max(5, warmup / 5))
      }
    }
    if options.wants("overhead") {
      await record("overhead") {
        try await OverheadFigure.measure(
          single, way: .netem(kernel.kernel), prefix: "apply", iterations: iterations, warmup: warmup)
      }
    }
    if options.wants("targeted") {
      await record("targeted") {
        try await TargetedFigure.measure(single, kernel: kernel, iterations: iterations, warmup: warmup)
      }
    }
    if options.wants("fanout") {
      await record("fanout") {
        let many = try BenchNamespaces(count: options.fanout, prefix: "flf")
        defer { many.close() }
        return try await kernel.fanout(many, rounds: options.rounds)
      }
    }
  }
  if options.wants("readpath") {
    await record("readpath") { try await kernel.readPath(single, iterations: iterations, warmup: warmup) }
  }
  if options.wants("breakdown") {
    await record("breakdown") { try await KernelFigures.breakdown(iterations: iterations) }
  }
  if side == "host" && options.wants("overhead") {
    await record("overhead") {
      let way = try await ApplyWay.tokenBucket(kernel.kernel, probe: single.target(0))
      return try await OverheadFigure.measure(
        single, way: way, prefix: "proxy", iterations: iterations, warmup: warmup)
    }
  }
  if side == "host" && options.wants("spawn") {
    await record("spawn") { try await kernel.hostSpawnCost(single, iterations: iterations, warmup: warmup) }
  }
  if side == "host" && options.wants("analyze") {
    await record("analyze") {
      try AnalyzeFigure.measure(faultline: options.faultline!, spans: options.analyzeSpans)
    }
  }
  if options.wants("annotations") {
    await record("annotations") { try AnnotationFigures.measure() }
  }
  if side == "vm" && options.wants("schedule") {
    await record("schedule") {
      try await ScheduleFigure.measure(
        faultline: options.faultline!, namespace: single.names[0], seconds: options.scheduleSeconds,
        kernel: kernel)
    }
  }
  if side == "host" && options.wants("idle") {
    await record("idle") {
      try await FootprintFigure.measure(
        faultline: options.faultline!, namespace: single.names[0], seconds: options.idleSeconds)
    }
  }
  try section.write(to: out)
  progress("wrote \(out)")
  if !section.errors.isEmpty { throw BenchError("some figures failed: \(section.errors.keys.sorted())") }
}

/// A bare loop for `valgrind --tool=callgrind` (instruction counts of one operation).
func profileLoop(_ options: Options) async throws {
  let iterations = options.iterations
  let kernel = try KernelFigures().kernel
  // A namespace given with --netns, or one made here (kernel loops only).
  let needsNetwork = ["inject", "proxy", "targeted", "refused", "status"].contains(options.argument ?? "")
  let network = options.netns == nil && needsNetwork ? try BenchNamespaces(count: 1) : nil
  defer { network?.close() }
  let name = options.netns ?? network?.names[0] ?? "none"
  let target = FaultTarget(interface: BenchNamespaces.interface, namespace: .named(name))
  switch options.argument {
  case "inject":
    for _ in 0..<iterations {
      _ = try await kernel.apply(BenchFault.fault, to: target)
      _ = try await kernel.revert(target)
    }
  case "proxy":
    // Warm tbf applies (a fault on fb1 keeps the namespace's socket open), as the overhead figure.
    let way = try await ApplyWay.tokenBucket(kernel, probe: target)
    let holder = FaultTarget(interface: "fb1", namespace: target.namespace)
    try await way.apply(holder)
    for _ in 0..<iterations {
      try await way.apply(target)
      try await way.revert(target)
    }
    try await way.revert(holder)
  case "targeted":
    // Warm targeted applies of 10 peers (a fault on fb1 keeps the namespace's socket open).
    let holder = FaultTarget(interface: "fb1", namespace: target.namespace)
    _ = try await kernel.apply(BenchFault.fault, to: holder)
    let shape = TargetedFigure.shape(peers: 10)
    for _ in 0..<iterations {
      _ = try await kernel.applyShaped(BenchFault.fault, shape: shape, to: target)
      _ = try await kernel.revert(target)
    }
    _ = try await kernel.revert(holder)
  case "refused":
    for _ in 0..<iterations { _ = try? await kernel.apply(BenchFault.fault, to: target) }
  case "status":
    for _ in 0..<iterations { _ = try await kernel.status(in: .named(name)) }
  case "annotation":
    _ = try AnnotationFigures.measure(batches: 1, calls: iterations)
  case "reader":
    try AnnotationFigures.cachedLoop(calls: iterations)
  default:
    throw BenchError("profile what? inject, proxy, targeted, refused, status, annotation or reader\n\(usage)")
  }
  progress("profile loop done: \(iterations) iterations")
}

/// Runs `body` on the cooperative pool and blocks the calling (main) thread until it is done, so the
/// process never enters `dispatch_main` (see main.swift). The task is awaited through the semaphore
/// before this returns: nothing outlives the call.
func blocking(_ body: @escaping @Sendable () async throws -> Void) throws {
  let done = DispatchSemaphore(value: 0)
  let outcome = Outcome()
  Task {
    do { try await body() } catch { outcome.set(error) }
    done.signal()
  }
  done.wait()
  if let error = outcome.error { throw error }
}

/// The error a ``blocking(_:)`` body threw, handed across threads.
private final class Outcome: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: (any Error)?
  var error: (any Error)? { lock.withLock { stored } }
  func set(_ error: any Error) { lock.withLock { stored = error } }
}
