import Foundation

/// Follows parent/child edges from the faulted services up to their callers: a span whose parent
/// belongs to another service is a call from that service. Each hop reports what its service went
/// through, so the chain reads as the fault's path through the application.
struct BlastRadiusTracer {
  let phases: Phases
  let faulted: [String]

  /// At most this many chains are listed (a wide fan-in would list every path).
  static let maxChains = 20

  func trace() -> BlastRadius {
    var serviceOf: [String: String] = [:]
    for span in phases.during { serviceOf[span.traceID + span.spanID] = span.service }
    var callers: [String: Set<String>] = [:]
    for span in phases.during {
      guard let parent = span.parentSpanID, let caller = serviceOf[span.traceID + parent],
        caller != span.service
      else { continue }
      callers[span.service, default: []].insert(caller)
    }

    // Nearest first: breadth-first from the faulted services.
    var distance: [String: Int] = [:]
    var queue = faulted
    for service in queue { distance[service] = 0 }
    var head = 0
    while head < queue.count {
      let service = queue[head]
      head += 1
      for caller in (callers[service] ?? []).sorted() where distance[caller] == nil {
        distance[caller] = distance[service]! + 1
        queue.append(caller)
      }
    }
    let impacts = queue.map { impact(of: $0, distance: distance[$0]!, callers: callers[$0] ?? []) }
    let byService = Dictionary(uniqueKeysWithValues: impacts.map { ($0.service, $0) })

    var chains: [String] = []
    func walk(_ path: [String]) {
      guard chains.count < Self.maxChains else { return }
      let next = (callers[path.last!] ?? []).subtracting(path).sorted()
      if next.isEmpty {
        chains.append(path.map { describe(byService[$0]!) }.joined(separator: " → "))
        return
      }
      for caller in next { walk(path + [caller]) }
    }
    for service in queue where distance[service] == 0 { walk([service]) }
    return BlastRadius(faultedServices: faulted, services: impacts, chains: chains)
  }

  private func impact(of service: String, distance: Int, callers: Set<String>) -> ServiceImpact {
    let during = phases.during.filter { $0.service == service }
    let baseline = phases.baseline.filter { $0.service == service }
    // What the service's own callers see: its server spans; a service that serves nothing (a load
    // generator, a batch job, a browser) is judged by what it sees of its calls, as verdict scopes are.
    let serves = (during + baseline).contains { SpanRole($0.kind) == .server }
    let role: SpanRole = serves ? .server : .client
    let window = PhaseStats(during.filter { SpanRole($0.kind) == role }, retried: phases.duringRetries)
    let before = PhaseStats(baseline.filter { SpanRole($0.kind) == role }, retried: phases.baselineRetries)
    let change = PhaseChange(from: before, to: window)
    let all = PhaseStats(during, retried: phases.duringRetries)
    let allBefore = PhaseStats(baseline, retried: phases.baselineRetries)
    let slower = (change.p99Percent ?? 0) >= 10 && (change.p99Ms ?? 0) >= 1
    // Counts are compared at the window's length (``Phases/baselineScale``).
    func more(_ window: Int, than baseline: Int) -> Bool {
      Double(window) > Double(baseline) * phases.baselineScale
    }
    let degraded =
      distance > 0
      && (slower || (change.errorRatePoints ?? 0) >= 1 || more(all.timeouts, than: allBefore.timeouts)
        || more(all.retries, than: allBefore.retries))
    return ServiceImpact(
      service: service, distance: distance, faulted: distance == 0, degraded: degraded, change: change,
      timeouts: all.timeouts, retries: all.retries, callers: callers.sorted())
  }

  /// `payment p50 +500 ms`, `order p99 +510 ms, 12 timeouts`, `gateway 3 retries`.
  private func describe(_ impact: ServiceImpact) -> String {
    var parts: [String] = []
    if impact.faulted, let p50 = impact.change.p50Ms {
      parts.append("p50 \(Self.signedMs(p50))")
    } else if let p99 = impact.change.p99Ms, abs(p99) >= 1 {
      parts.append("p99 \(Self.signedMs(p99))")
    }
    if let points = impact.change.errorRatePoints, points >= 1 {
      parts.append(String(format: "errors +%.1f pp", points))
    }
    if impact.timeouts > 0 { parts.append("\(impact.timeouts) timeout\(impact.timeouts == 1 ? "" : "s")") }
    if impact.retries > 0 { parts.append("\(impact.retries) retr\(impact.retries == 1 ? "y" : "ies")") }
    if parts.isEmpty { parts.append("no change") }
    return impact.service + " " + parts.joined(separator: ", ")
  }

  static func signedMs(_ ms: Double) -> String {
    (ms < 0 ? "-" : "+") + ReportTable.number(abs(ms)) + " ms"
  }
}
