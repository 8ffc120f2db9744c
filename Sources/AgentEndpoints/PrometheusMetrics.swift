import CoreMetrics
import FaultAgent
import Prometheus

extension AgentMetrics {
  /// A swift-prometheus factory that records into `registry` with the agent's histogram buckets
  /// (``AgentMetrics/applyDurationBuckets``) and `# HELP` texts (``AgentMetrics/help``);
  /// swift-metrics leaves both to each backend.
  static func prometheusFactory(registry: PrometheusCollectorRegistry) -> any MetricsFactory {
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.valueHistogramBuckets = AgentMetrics.valueHistogramBuckets
    return DescribedPrometheusFactory(inner: factory, help: AgentMetrics.help)
  }

  /// Metrics recorded into `registry` (served by ``HTTPEndpoint`` at `/metrics`) and, when given,
  /// into `also` as well (the OTLP backend), through swift-metrics' `MultiplexMetricsHandler`.
  public static func prometheus(
    registry: PrometheusCollectorRegistry, also other: (any MetricsFactory)? = nil
  ) -> AgentMetrics {
    let prometheus = prometheusFactory(registry: registry)
    guard let other else { return AgentMetrics(factory: prometheus) }
    return AgentMetrics(factory: MultiplexMetricsHandler(factories: [prometheus, other]))
  }
}
