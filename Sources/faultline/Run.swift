import AgentEndpoints
import ArgumentParser
import FaultAgent
import FaultModel
import FaultTelemetry
import Foundation
import KubeTargets
import Logging
import NetemKernel
import Prometheus
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

      DaemonSet mode: profiles with target.pods put their fault into each selected pod on this node \
      (--node-name or NODE_NAME; pods from --kube-api or the in-cluster service account; their network \
      namespaces through kubelet's cgroups under --proc-root), following pods that come and go while \
      a window is open. --pod-annotations-dir also publishes each pod's windows to DIR/<pod-uid>/annotations.

      Example: faultline run --profiles /etc/faultline/profiles
      Example: faultline run --profiles /etc/faultline/profiles --node-name "$NODE_NAME" --proc-root /host/proc \
      --pod-annotations-dir /var/run/faultline/pods
      """)

  @Option(help: ArgumentHelp("The profile directory.", valueName: "DIR")) var profiles: String
  @Option(name: .customLong("state-dir"), help: "Journal directory.") var stateDir: String = Journal
    .defaultDirectory
  @Option(
    name: .customLong("max-duration"),
    help: ArgumentHelp(
      "Longest a scheduled window may last (and the length of one with no duration); default 1h.",
      valueName: "D"),
    transform: ArgumentValues.positiveDuration)
  var maxDuration: Duration = AgentConfiguration.defaultMaxDuration
  @Option(
    name: .customLong("http-address"),
    help: ArgumentHelp(
      "Serve /healthz, /readyz and /metrics (Prometheus) on this address, e.g. 0.0.0.0:9464.",
      valueName: "HOST:PORT"))
  var httpAddress: String?
  @OptionGroup var annotationOptions: AnnotationOptions
  @OptionGroup var kubeOptions: KubeOptions
  @Option(
    name: .customLong("pod-annotations-dir"),
    help: ArgumentHelp(
      "Also publish each targeted pod's windows to DIR/<pod-uid>/annotations (a hostPath the pod mounts "
        + "with subPathExpr: $(POD_UID)).", valueName: "DIR"))
  var podAnnotationsDir: String?
  @Flag(
    name: .customLong("annotate-pods"),
    help: "Also patch the chaos.experiment/* annotations onto the targeted Pod objects (needs patch on pods)."
  )
  var annotatePods = false

  @Option(
    name: .customLong("resync-interval"),
    help: ArgumentHelp(
      "How often every open fault is read back from the kernel: a fault someone removed is put back, one "
        + "changed is reported as drift; default 30s.", valueName: "D"),
    transform: ArgumentValues.positiveDuration)
  var resyncInterval: Duration = AgentConfiguration.defaultResyncInterval

  @OptionGroup var nodeIPOptions: NodeIPOptions

  mutating func run() async throws {
    try annotationOptions.checkCompatKey()
    let protected = try nodeIPOptions.protectedPrefixes()
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: profiles, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw CLIError(message: "--profiles: \(profiles) is not a directory", code: CLIError.badInput)
    }
    var endpointAddress: ListenAddress?
    if let httpAddress {
      do { endpointAddress = try ListenAddress(parsing: httpAddress) } catch {
        throw CLIError(message: "--http-address: \(error)", code: CLIError.badInput)
      }
    }
    // One agent per state directory: a second one would revert the first one's faults.
    let lock = try await exitOnError { try StateDirectoryLock.acquire(directory: stateDir) }
    defer { withExtendedLifetime(lock) {} }
    let logger = makeLogger(default: .info)
    let kube = kubeOptions.configuration
    let podProfiles = ProfileFiles.loadDirectory(profiles).profiles.filter { $0.pods != nil }.map(\.name)
    var api: KubeAPIConfiguration?
    if kube.nodeName != nil {
      do { api = try kube.apiConfiguration() } catch {
        guard podProfiles.isEmpty else { throw CLIError(message: error.description, code: CLIError.badInput) }
        logger.warning(
          "no Kubernetes API: profiles that target pods will fail", metadata: ["error": "\(error)"])
      }
    } else if !podProfiles.isEmpty {
      throw CLIError(
        message: "profile\(plural(podProfiles.count)) \(podProfiles.sorted().joined(separator: ", ")) "
          + "target\(podProfiles.count == 1 ? "s" : "") pods: set --node-name or NODE_NAME",
        code: CLIError.badInput)
    }
    // Every metric goes to the registry /metrics serves and, with OTEL_METRICS_EXPORTER=otlp, to
    // swift-otel as well. Nothing is bootstrapped globally: the agent is handed its factory.
    let metricsExport = try makeMetricsExport(logger: logger)
    let registry = PrometheusCollectorRegistry()
    let metrics = AgentMetrics.prometheus(registry: registry, also: metricsExport?.factory)
    let observability = Observability(
      metrics: metrics, registry: registry, metricsExporter: metricsExport?.service)
    let telemetry = try makeTelemetry(logger: logger, onSpansDropped: metrics.recordSpansDropped)
    let configuration = AgentConfiguration(
      maxDuration: maxDuration, resyncInterval: resyncInterval, protectedPrefixes: protected)
    guard let api, let node = kube.nodeName else {
      let agent = buildAgent(
        configuration, pods: nil, addresses: nil, telemetry: telemetry, metrics: metrics, logger: logger)
      try await Self.runGroup(
        agent, telemetry: telemetry, endpoint: endpointAddress, observability: observability, logger: logger)
      return
    }
    let procRoot = kube.procRoot
    do {
      try await KubeAPIClient.withClient(configuration: api, logger: logger) { client in
        let pods = KubePodSource(
          resolver: PodTargetResolver(client: client, nodeName: node, procRoot: procRoot), logger: logger)
        let agent = buildAgent(
          configuration, pods: pods, addresses: KubePodAddresses(client: client, logger: logger),
          telemetry: telemetry, metrics: metrics, logger: logger)
        try await Self.runGroup(
          agent, telemetry: telemetry, endpoint: endpointAddress, observability: observability, logger: logger
        )
      }
    } catch let error as KubeTargetsError {
      throw CLIError(message: error.description, code: error.isConfigurationError ? CLIError.badInput : 1)
    }
  }

  /// The agent as the flags describe it: the kernel, the journal, the spans, and the observers that
  /// follow every window (the shared annotation file, per-pod files, Pod patches, metrics).
  func buildAgent(
    _ configuration: AgentConfiguration, pods: (any PodTargetSource)?, addresses: (any PodAddressSource)?,
    telemetry: Telemetry, metrics: AgentMetrics, logger: Logger
  ) -> AgentService {
    var observers: [any WindowObserver] = [
      AnnotationFileObserver(writer: annotationOptions.writer, logger: logger), metrics,
    ]
    if let podAnnotationsDir {
      observers.append(
        PodAnnotationFiles(
          directory: podAnnotationsDir, compatKey: annotationOptions.annotationCompatKey, logger: logger))
    }
    if annotatePods, let pods { observers.append(PodObjectAnnotator(pods: pods, logger: logger)) }
    let windows = FaultWindows(
      injector: Injector(
        kernel: NetemKernel(logger: logger),
        journal: Journal(
          directory: stateDir, logger: logger, onQuarantine: { _ in metrics.recordJournalQuarantine() }),
        logger: logger),
      tracer: telemetry.tracer, parent: telemetry.parent, observers: observers, logger: logger)
    return AgentService(
      configuration: configuration, windows: windows,
      profiles: ProfileDirectoryFeed(directory: profiles, logger: logger),
      targets: AgentService.TargetSources(pods: pods, podAddresses: addresses), logger: logger)
  }

  /// The metrics and where they go: the registry `/metrics` serves, and the OTLP exporter if on.
  struct Observability {
    var metrics: AgentMetrics
    var registry: PrometheusCollectorRegistry
    var metricsExporter: (any Service)?
  }

  /// Runs the agent, the exporters and the HTTP endpoint as one service group until SIGTERM/SIGINT.
  private static func runGroup(
    _ agent: AgentService, telemetry: Telemetry, endpoint endpointAddress: ListenAddress?,
    observability: Observability, logger: Logger
  ) async throws {
    // Shut down in reverse order: the agent reverts (with spans and metrics) before the exporters
    // flush.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let exporter = telemetry.service { services.append(.init(service: exporter)) }
    if let exporter = observability.metricsExporter { services.append(.init(service: exporter)) }
    if let endpointAddress {
      let endpoint = HTTPEndpoint(
        configuration: HTTPEndpointConfiguration(address: endpointAddress), metrics: observability.metrics,
        registry: observability.registry, logger: logger)
      services.append(.init(service: endpoint, failureTerminationBehavior: .gracefullyShutdownGroup))
    }
    services.append(.init(service: agent, successTerminationBehavior: .gracefullyShutdownGroup))
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
