import CoreMetrics
import Prometheus

/// swift-prometheus' `MetricsFactory` with a `# HELP` line for the counters, gauges and
/// histograms `help` describes (the instruments ``AgentMetrics`` makes; other kinds go to the
/// inner factory undescribed).
///
/// swift-metrics instruments carry no description, so `PrometheusMetricsFactory` registers every
/// metric with an empty help text. This factory registers the described ones itself, through the
/// registry's descriptor API with their text, and leaves the rest (and every `destroy`) to the
/// inner factory, whose name sanitizer and histogram buckets it also uses. A name must always be
/// made through the same factory: the registry refuses one name with two help texts.
struct DescribedPrometheusFactory: MetricsFactory {
  let inner: PrometheusMetricsFactory
  let help: [String: String]

  private var registry: PrometheusCollectorRegistry { inner.registry }

  /// The registry's descriptor for `label`, when it is described.
  private func descriptor(_ label: String) -> MetricNameDescriptor? {
    help[label].map { MetricNameDescriptor(metricName: label, unitName: "", helpText: $0) }
  }

  func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
    let (label, dimensions) = inner.nameAndLabelSanitizer(label, dimensions)
    guard let descriptor = descriptor(label) else {
      return inner.makeCounter(label: label, dimensions: dimensions)
    }
    return registry.makeCounter(descriptor: descriptor, labels: dimensions)
  }

  func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
    let (label, dimensions) = inner.nameAndLabelSanitizer(label, dimensions)
    guard let descriptor = descriptor(label) else {
      return inner.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }
    guard aggregate else { return registry.makeGauge(descriptor: descriptor, labels: dimensions) }
    return registry.makeValueHistogram(
      descriptor: descriptor, labels: dimensions,
      buckets: inner.valueHistogramBuckets[label] ?? inner.defaultValueHistogramBuckets)
  }

  func makeFloatingPointCounter(label: String, dimensions: [(String, String)])
    -> any FloatingPointCounterHandler
  {
    inner.makeFloatingPointCounter(label: label, dimensions: dimensions)
  }

  func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
    inner.makeMeter(label: label, dimensions: dimensions)
  }

  func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
    inner.makeTimer(label: label, dimensions: dimensions)
  }

  func destroyCounter(_ handler: any CounterHandler) { inner.destroyCounter(handler) }
  func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
    inner.destroyFloatingPointCounter(handler)
  }
  func destroyRecorder(_ handler: any RecorderHandler) { inner.destroyRecorder(handler) }
  func destroyMeter(_ handler: any MeterHandler) { inner.destroyMeter(handler) }
  func destroyTimer(_ handler: any TimerHandler) { inner.destroyTimer(handler) }
}
