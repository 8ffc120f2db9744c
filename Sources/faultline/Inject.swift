import ArgumentParser
import FaultAgent
import FaultModel
import FaultTelemetry
import Foundation
import Logging
import NetemKernel
import UnixSignals

/// `faultline inject`: apply a fault, hold it, revert it.
struct Inject: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Apply a netem fault, hold it until --duration elapses or SIGINT/SIGTERM, then revert it.",
    discussion: """
      D is a duration with a unit (500ms, 1.5s, 1m30s). P is a percentage (25% or 25, 0-100). RATE is as \
      in tc: 1mbit, 100kbit, 20000 (bit/s), 1mbps (bytes/s).

      Without --to, --port, --protocol or --direction the fault applies to all egress of the interface. \
      With them it applies to the traffic they select; --exclude and --exclude-port spare traffic that \
      would otherwise be selected.

      Example: faultline inject --interface eth0 --delay 100ms --jitter 10ms --correlation 25% --loss 5% --duration 30s
      Example: faultline inject --delay 200ms --to 10.0.0.0/8 --to db.internal:5432 --protocol tcp --exclude 10.96.0.10 --dry-run
      """)

  @Option(name: .long, help: "The interface.") var interface: String = "eth0"
  @OptionGroup var namespace: NamespaceOptions
  @OptionGroup(title: "Traffic selection") var trafficOptions: TrafficOptions

  @Option(help: ArgumentHelp("Added delay.", valueName: "D"), transform: ArgumentValues.duration)
  var delay: Duration?
  @Option(
    help: ArgumentHelp("Random variation of the delay (needs --delay).", valueName: "D"),
    transform: ArgumentValues.duration)
  var jitter: Duration?
  @Option(
    help: ArgumentHelp("Correlation of successive jitter values.", valueName: "P"),
    transform: ArgumentValues.percent)
  var correlation: Percent?
  @Option(help: ArgumentHelp("Jitter shape.", valueName: "NAME")) var distribution: DelayDistribution?
  @Option(help: ArgumentHelp("Random packet loss.", valueName: "P"), transform: ArgumentValues.percent)
  var loss: Percent?
  @Option(
    name: .customLong("loss-correlation"), help: ArgumentHelp("Loss correlation.", valueName: "P"),
    transform: ArgumentValues.percent)
  var lossCorrelation: Percent?
  @Option(
    name: .customLong("loss-state"),
    help: ArgumentHelp("4-state Markov loss model.", valueName: "P13[,P31,P32,P23,P14]"),
    transform: ArgumentValues.lossState)
  var lossState: LossStateModel?
  @Option(
    name: .customLong("loss-gemodel"),
    help: ArgumentHelp("Gilbert-Elliott loss model.", valueName: "P[,R,1-H,1-K]"),
    transform: ArgumentValues.lossGemodel)
  var lossGemodel: GilbertElliottModel?
  @Option(help: ArgumentHelp("Packet duplication.", valueName: "P"), transform: ArgumentValues.percent)
  var duplicate: Percent?
  @Option(
    name: .customLong("duplicate-correlation"),
    help: ArgumentHelp("Duplication correlation.", valueName: "P"),
    transform: ArgumentValues.percent)
  var duplicateCorrelation: Percent?
  @Option(help: ArgumentHelp("Single-bit corruption.", valueName: "P"), transform: ArgumentValues.percent)
  var corrupt: Percent?
  @Option(
    name: .customLong("corrupt-correlation"), help: ArgumentHelp("Corruption correlation.", valueName: "P"),
    transform: ArgumentValues.percent)
  var corruptCorrelation: Percent?
  @Option(
    help: ArgumentHelp("Send packets immediately, ahead of delayed ones (needs --delay).", valueName: "P"),
    transform: ArgumentValues.percent)
  var reorder: Percent?
  @Option(
    name: .customLong("reorder-correlation"), help: ArgumentHelp("Reordering correlation.", valueName: "P"),
    transform: ArgumentValues.percent)
  var reorderCorrelation: Percent?
  @Option(
    help: ArgumentHelp("Reorder every Nth packet (with --reorder).", valueName: "N"),
    transform: ArgumentValues.count)
  var gap: UInt32?
  @Option(
    help: ArgumentHelp(
      "Bandwidth limit with optional framing overheads.",
      valueName: "RATE[,PACKET-OVERHEAD,CELL-SIZE,CELL-OVERHEAD]"),
    transform: ArgumentValues.rate)
  var rate: RateLimit?
  @Option(
    help: ArgumentHelp("Release packets in slots.", valueName: "MIN[,MAX][,packets=N][,bytes=N]"),
    transform: ArgumentValues.slot)
  var slot: SlotConfig?
  @Flag(help: "Mark ECN-capable packets instead of dropping them (needs a loss setting).") var ecn = false
  @Option(
    help: ArgumentHelp("Queue limit in packets (default 1000).", valueName: "N"),
    transform: ArgumentValues.count)
  var limit: UInt32?

  @Option(
    help: ArgumentHelp("Revert after this long (default: wait for Ctrl-C).", valueName: "D"),
    transform: ArgumentValues.positiveDuration)
  var duration: Duration?
  @Option(help: "Experiment name (default: cli-<interface>).") var name: String?
  @Flag(help: "Replace a root qdisc faultline did not create; it is restored on revert.") var force = false
  @Flag(name: .customLong("dry-run"), help: "Print what would be sent and change nothing.") var dryRun = false
  @Option(help: "Output format.") var output: OutputFormat = .text
  @Option(name: .customLong("state-dir"), help: "Journal directory.") var stateDir: String = Journal
    .defaultDirectory
  @OptionGroup var annotationOptions: AnnotationOptions
  @OptionGroup(title: "Telemetry") var telemetryOptions: TelemetryOptions

  /// The fault the flags describe, checked as a whole (each value was checked as it was parsed).
  func fault() throws -> NetemFault {
    var fault = NetemFault()
    fault.delay = delay ?? .zero
    fault.jitter = jitter ?? .zero
    fault.delayCorrelation = correlation ?? .zero
    fault.distribution = distribution
    fault.loss = loss ?? .zero
    fault.lossCorrelation = lossCorrelation ?? .zero
    fault.lossState = lossState
    fault.lossGemodel = lossGemodel
    fault.duplicate = duplicate ?? .zero
    fault.duplicateCorrelation = duplicateCorrelation ?? .zero
    fault.corrupt = corrupt ?? .zero
    fault.corruptCorrelation = corruptCorrelation ?? .zero
    fault.reorder = reorder ?? .zero
    fault.reorderCorrelation = reorderCorrelation ?? .zero
    fault.gap = gap ?? 0
    fault.rate = rate
    fault.slot = slot
    fault.ecn = ecn
    if let limit { fault.limit = limit }
    do { return try fault.validated() } catch {
      throw CLIError(
        message: error.field.map { "--\($0): \(error.message)" } ?? error.message, code: CLIError.badInput)
    }
  }

  mutating func run() async throws {
    try annotationOptions.checkCompatKey()
    let telemetryConfiguration = try telemetryOptions.configuration()
    let fault = try fault()
    let traffic = try trafficOptions.selector()
    let target = FaultTarget(interface: interface, namespace: namespace.namespace)
    var experiment = Experiment(
      name: name ?? "cli-\(interface)", target: target, fault: fault, traffic: traffic, duration: duration,
      mode: .cli)
    experiment.shaping = try await Self.shaping(for: traffic)

    if dryRun {
      printDryRun(experiment)
      return
    }
    let logger = makeLogger()
    let telemetry = try makeTelemetry(logger: logger, configuration: telemetryConfiguration)
    let windows = FaultWindows(
      injector: Injector(
        kernel: NetemKernel(logger: logger), journal: Journal(directory: stateDir, logger: logger),
        logger: logger),
      tracer: telemetry.tracer, parent: telemetry.parent,
      observers: [AnnotationFileObserver(writer: annotationOptions.writer, logger: logger)], logger: logger)
    let command = self
    let planned = experiment
    try await telemetry.whileExporting(logger: logger) {
      try await command.hold(planned, windows: windows, for: command.duration)
    }
  }

  /// Opens the window, holds it, closes it.
  private func hold(_ experiment: Experiment, windows: FaultWindows, for holdFor: Duration?) async throws {
    let window: OpenWindow
    do {
      window = try await windows.open(experiment, force: force)
    } catch {
      throw CLIError(error)
    }
    printApplied(window.active)
    let reason = await hold(for: holdFor)
    do {
      let outcome = try await windows.close(window, reason: reason)
      printReverted(outcome, reason: reason)
    } catch {
      throw CLIError(error)
    }
  }

  /// Waits for the duration or the first SIGINT/SIGTERM; shows a countdown on a terminal.
  private func hold(for duration: Duration?) async -> RevertReason {
    let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
    let showCountdown = output == .text && isatty(STDERR_FILENO) == 1
    return await withTaskGroup(of: RevertReason?.self) { group in
      group.addTask {
        for await _ in signals { return .signal }
        return nil
      }
      group.addTask {
        let clock = ContinuousClock()
        let start = clock.now
        if let duration {
          let end = start + duration
          while clock.now < end {
            if showCountdown {
              let left = Int(((end - clock.now).milliseconds / 1000).rounded(.up))
              FileHandle.standardError.write(
                Data("\r\u{1B}[Kreverting in \(left)s (Ctrl-C to revert now)".utf8))
            }
            try? await Task.sleep(until: min(end, clock.now + .seconds(1)), clock: clock)
            if Task.isCancelled { return nil }
          }
          return .durationElapsed
        }
        if showCountdown { FileHandle.standardError.write(Data("holding until Ctrl-C…".utf8)) }
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      if showCountdown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
      return first ?? .signal
    }
  }

  /// The kernel shapes for the flags' selection, hostnames resolved once now (`inject` holds one
  /// window; `run` re-resolves while a window is open).
  private static func shaping(for traffic: TrafficSelector?) async throws -> TrafficShaping? {
    guard let traffic else { return nil }
    let (peers, problems) = await PeerResolution.resolveOnce(traffic, hosts: SystemHostResolver(), pods: nil)
    if let problem = problems.first { throw CLIError(message: "--to: \(problem)", code: 4) }
    guard let shaping = TrafficPlan.shaping(traffic, resolved: peers, protected: []) else {
      throw CLIError(message: "--to: no peer resolved to an address; nothing to fault", code: 4)
    }
    return shaping
  }

  /// The `tc` commands equivalent to what faultline sends for `experiment`, one per line.
  private func tcCommands(_ experiment: Experiment, netemWords: String) -> [String] {
    let interface = experiment.target.interface
    let prefix = "tc \(netnsPrefix(experiment.target.namespace))"
    let shaping = experiment.shaping ?? .wholeEgress
    var lines: [String] = []
    switch shaping.egress {
    case nil: break
    case .whole:
      lines.append("\(prefix)qdisc replace dev \(interface) root handle fa17: netem \(netemWords)")
    case .shaped(let shape):
      lines += NetemKernel.tcCommands(for: experiment.fault, shape: shape, interface: interface).map {
        $0.replacingOccurrences(of: "tc ", with: prefix, options: .anchored)
      }
    }
    if let ingress = shaping.ingress {
      let ifb = NetemKernel.ingressDeviceName(for: interface)
      let ip = "ip \(netnsPrefix(experiment.target.namespace))"
      lines += [
        "\(ip)link add \(ifb) type ifb", "\(ip)link set \(ifb) up",
        "\(prefix)qdisc add dev \(interface) clsact",
        "\(prefix)filter add dev \(interface) ingress pref \(NetemKernel.ingressFilterPriority) matchall "
          + "action mirred egress redirect dev \(ifb)",
      ]
      switch ingress {
      case .whole: lines.append("\(prefix)qdisc replace dev \(ifb) root handle fa17: netem \(netemWords)")
      case .shaped(let shape):
        lines += NetemKernel.tcCommands(for: experiment.fault, shape: shape, interface: ifb).map {
          $0.replacingOccurrences(of: "tc ", with: prefix, options: .anchored)
        }
      }
    }
    return lines
  }

  private func printDryRun(_ experiment: Experiment) {
    let table =
      try? experiment.fault.jitter > .zero
      ? DistributionTable.table(for: experiment.fault.distribution ?? .uniform) : nil
    let parameters = NetemParameters(experiment.fault, distribution: table)
    let options = parameters.encodedOptions()
    let netemWords =
      parameters.tcDescription + (experiment.fault.distribution.map { " distribution \($0.rawValue)" } ?? "")
    let commands = tcCommands(experiment, netemWords: netemWords)
    let tc = commands.joined(separator: "\n         ")
    switch output {
    case .text:
      print("dry run: nothing will be changed")
      print("target:  \(experiment.target.interface) in netns \(experiment.target.namespace)")
      print("fault:   \(experiment.fault.summary)")
      print("traffic: \(trafficSummary(experiment.traffic))")
      if experiment.shaping == nil || experiment.shaping == .wholeEgress {
        print(
          "request: RTM_NEWQDISC (NLM_F_CREATE|NLM_F_REPLACE) parent root handle fa17: kind netem, "
            + "TCA_OPTIONS \(options.count) bytes")
      } else {
        let filters = commands.filter { $0.contains(" filter add ") }.count
        print(
          "request: RTM_NEWQDISC prio fa17: and netem fa18: (TCA_OPTIONS \(options.count) bytes), "
            + "\(filters) RTM_NEWTFILTER flower/matchall, read back before and after")
      }
      print("as tc:   \(tc)")
    case .json:
      printJSON([
        "dry_run": true, "interface": experiment.target.interface, "netns": "\(experiment.target.namespace)",
        "fault": jsonObject(experiment.fault.plainFields), "tc": commands.joined(separator: "\n"),
        "tc_commands": commands, "options_bytes": options.count,
        "traffic": trafficSummary(experiment.traffic),
      ])
    }
  }

  private func printApplied(_ active: ActiveFault) {
    let plan = active.report.plan
    switch output {
    case .text:
      let replaced = plan.replacing.map { " (replaced \($0.summary), saved for revert)" } ?? ""
      print("applied to \(interface) in \(plan.namespace)\(replaced)")
      print("  \(active.report.tcLine)")
      print("  verified: the kernel reports exactly what was asked")
      fflush(nil)
    case .json:
      printJSON([
        "event": "applied", "id": active.experiment.id, "name": active.experiment.name,
        "interface": interface,
        "netns": plan.namespace.path, "netns_inode": Int(plan.namespace.inode),
        "applied": jsonObject(active.report.applied.fault.plainFields), "tc": active.report.tcLine,
        "verified": true, "replaced": plan.replacing?.summary as Any,
      ])
    }
  }

  private func printReverted(_ outcome: RevertOutcome, reason: RevertReason) {
    switch output {
    case .text: print("reverted \(interface) (\(reason.rawValue)): \(describe(outcome))")
    case .json:
      printJSON([
        "event": "reverted", "interface": interface, "reason": reason.rawValue, "outcome": describe(outcome),
      ])
    }
  }
}

/// The selection's summary, or what a fault without one applies to.
func trafficSummary(_ traffic: TrafficSelector?) -> String {
  traffic?.summary ?? "all egress of the interface"
}

func netnsPrefix(_ namespace: NetworkNamespaceRef) -> String {
  switch namespace {
  case .current: ""
  case .named(let name): "-n \(name) "
  default: "-netns \(namespace) "
  }
}

func describe(_ outcome: RevertOutcome) -> String {
  switch outcome {
  case .removed: "faultline qdisc removed, kernel default back"
  case .restored(let q): "restored \(q.summary)"
  case .nothingToRevert(let why): "nothing to revert (\(why))"
  }
}
