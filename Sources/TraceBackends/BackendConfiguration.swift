/// Which tracing backend `faultline analyze` queries and how (built from its flags).
public struct BackendConfiguration: Sendable {
  /// The query API spoken.
  public enum API: String, Sendable, CaseIterable {
    /// Jaeger's `GET /api/v3/traces` (`--jaeger URL`): OTLP/JSON, Jaeger 1.35 and later.
    case jaegerV3 = "jaeger"
    /// Jaeger's internal `GET /api/traces` search (`--jaeger-legacy URL`): the UI's JSON. Recent
    /// Jaeger v2 releases removed this search; use api_v3 there.
    case jaegerLegacy = "jaeger-legacy"
    /// Tempo's `GET /api/search` (TraceQL) then `GET /api/traces/ID` (`--tempo URL`).
    case tempo
  }

  /// The API.
  public var api: API
  /// The query service's base URL, e.g. `http://jaeger-query:16686` (`--jaeger`, `--tempo`); a
  /// trailing slash is dropped.
  public var baseURL: String
  /// The application's services whose traces to read (`--service`, repeatable). Jaeger needs at
  /// least one (its search is per service); Tempo searches every trace when there is none.
  public var services: [String]
  /// Tempo only: the TraceQL selecting the application's traces (`--traceql`); default: one query
  /// per `--service`, `{ resource.service.name = "NAME" }`, else `{}`.
  public var traceQL: String?
  /// The service faultline's own spans are under (`--agent-service`, default `faultline`, what
  /// `OTEL_SERVICE_NAME` was when the agent ran).
  public var agentService: String
  /// The most traces one search returns (`--max-traces`, default 1000); Jaeger and Tempo cap every
  /// search, so a busier window needs a larger value (a search that hit it is a warning).
  public var maxTraces: Int
  /// How long one request may take (default 30 s).
  public var requestTimeout: Duration
  /// The largest response body read (default 64 MiB): a bigger one is an error, not a swollen heap.
  public var maxResponseBytes: Int

  /// `services` and then the agent's: its spans are read too, so that they are recognised and left
  /// out of the comparison as they are when read from a file.
  var searchedServices: [String] {
    services.contains(agentService) ? services : services + [agentService]
  }

  /// The warning for a search that returned `traces` traces, if that is the cap: more may exist.
  func capWarning(_ traces: Int, url: String) -> String? {
    guard traces >= maxTraces else { return nil }
    return "\(url): the search returned \(traces) traces, the --max-traces limit; some spans of the "
      + "windows may be missing, raise --max-traces"
  }

  /// A configuration with the defaults above.
  public init(
    api: API, baseURL: String, services: [String] = [], traceQL: String? = nil,
    agentService: String = "faultline",
    maxTraces: Int = 1000, requestTimeout: Duration = .seconds(30), maxResponseBytes: Int = 64 << 20
  ) {
    self.api = api
    var url = baseURL
    while url.hasSuffix("/") { url.removeLast() }
    self.baseURL = url
    self.services = services
    self.traceQL = traceQL
    self.agentService = agentService
    self.maxTraces = maxTraces
    self.requestTimeout = requestTimeout
    self.maxResponseBytes = maxResponseBytes
  }
}
