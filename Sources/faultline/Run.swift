import AgentEndpoints
import ArgumentParser
import FaultAgent
import FaultModel
import Foundation
import Logging
import NetemKernel
import ServiceLifecycle
import UnixSignals

/// `faultline run`: the daemon that runs the profiles in a directory on their schedules.
struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the profiles in a directory on their schedules until SIGTERM/SIGINT, which reverts.",
    discussion: """
      Unscheduled profiles are applied at start and held; scheduled ones are applied for their duration \
      at each fire time. The directory is re-read when it changes. Faults left by a crashed faultline are \
      reverted at start. Logs go to stderr (FAULTLINE_LOG_LEVEL, default info).

      Example: faultline run --profiles /etc/faultline/profiles
      """)

  @Option(help: ArgumentHelp("The profile directory.", valueName: "DIR")) var profiles: String
  @Option(name: .customLong("state-dir"), help: "Journal directory.") var stateDir: String = Journal
    .defaultDirectory
  @Option(
    name: .customLong("max-duration"),
    help: ArgumentHelp(
      "Longest a scheduled window may last (and the length of one with no duration).", valueName: "D"))
  var maxDuration: String = "1h"
  @Option(
    help: ArgumentHelp(
      "Annotation file app middleware reads (default: $FAULTLINE_ANNOTATIONS or /var/run/faultline/annotations).",
      valueName: "FILE"))
  var annotations: String = AnnotationWriter.defaultPath
  @Option(
    name: .customLong("annotation-compat-key"),
    help: ArgumentHelp(
      "Extra key carrying the experiment names, e.g. chaos-mesh.org/experiment.", valueName: "KEY"))
  var annotationCompatKey: String?
  @Option(
    name: .customLong("http-address"),
    help: ArgumentHelp(
      "Serve /healthz, /readyz and /metrics (Prometheus) on this address, e.g. 0.0.0.0:9464.",
      valueName: "HOST:PORT"))
  var httpAddress: String?

  mutating func run() async throws {
    let cap: Duration
    do { cap = try parseGoDuration(maxDuration) } catch {
      throw CLIError(message: "--max-duration: invalid \"\(maxDuration)\": \(error.description)", code: 2)
    }
    if cap == .zero { throw CLIError(message: "--max-duration must be greater than 0", code: 2) }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: profiles, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw CLIError(message: "--profiles: \(profiles) is not a directory", code: 2)
    }
    var endpointAddress: ListenAddress?
    if let httpAddress {
      do { endpointAddress = try ListenAddress(parsing: httpAddress) } catch {
        throw CLIError(message: "--http-address: \(error)", code: 2)
      }
    }
    let logger = makeLogger(default: .info)
    let telemetry = try makeTelemetry(logger: logger)
    let metrics = AgentMetrics()
    let windows = FaultWindows(
      injector: Injector(
        kernel: NetemKernel(logger: logger), journal: Journal(directory: stateDir), logger: logger),
      tracer: telemetry.tracer, parent: telemetry.parent,
      annotations: AnnotationWriter(path: annotations, compatKey: annotationCompatKey), metrics: metrics,
      logger: logger)
    let scheduler = FaultScheduler(
      configuration: SchedulerConfiguration(profilesDirectory: profiles, maxDuration: cap),
      windows: windows, logger: logger)
    // Shut down in reverse order: the scheduler reverts (with spans) before the exporter flushes.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let exporter = telemetry.service { services.append(.init(service: exporter)) }
    if let endpointAddress {
      let endpoint = HTTPEndpoint(
        configuration: HTTPEndpointConfiguration(address: endpointAddress), metrics: metrics, logger: logger)
      services.append(.init(service: endpoint, failureTerminationBehavior: .gracefullyShutdownGroup))
    }
    services.append(.init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup))
    let group = ServiceGroup(
      configuration: ServiceGroupConfiguration(
        services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    do {
      try await group.run()
    } catch {
      throw CLIError(error)
    }
  }
}
