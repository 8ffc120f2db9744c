import Foundation
import Hummingbird
import Logging
import OTel
import ServiceLifecycle

// A Hummingbird 2 app whose request spans carry the active faultline experiment.
//
// Environment:
//   OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, …  the OTLP exporter
//   FAULTLINE_ANNOTATIONS  the annotation file (default /var/run/faultline/annotations)
//   HOST, PORT             where to listen (default 127.0.0.1:8080; PORT=0 picks a free port)

let logger = Logger(label: "HummingbirdChaos")

// Traces only: this example has no metrics or logs to export.
var otel = OTel.Configuration.default
otel.serviceName = "hummingbird-chaos"
otel.metrics.enabled = false
otel.logs.enabled = false
let observability = try OTel.bootstrap(configuration: otel)

let router = Router()
router.add(middleware: TracingMiddleware())  // starts the request span
router.add(middleware: ChaosMiddleware())  // marks it during an experiment
router.get("pay") { _, _ in "ok" }

let environment = ProcessInfo.processInfo.environment
let app = Application(
  router: router,
  configuration: .init(
    address: .hostname(environment["HOST"] ?? "127.0.0.1", port: Int(environment["PORT"] ?? "") ?? 8080)),
  onServerRunning: { channel in
    // Scripts wait for this line (and read the port from it when PORT=0).
    let line = "listening on port \(channel.localAddress?.port ?? 0)\n"
    FileHandle.standardOutput.write(Data(line.utf8))
  },
  logger: logger
)

// SIGINT/SIGTERM stop the server first, then the exporter, which flushes the last spans.
let services = ServiceGroup(
  configuration: .init(
    services: [observability, app],
    gracefulShutdownSignals: [.sigterm, .sigint],
    logger: logger
  ))
try await services.run()
