import Foundation
import Yams

/// Reads faultline's native profile form:
///
/// ```yaml
/// name: payment-latency
/// schedule: "@every 10m"
/// duration: 5m
/// target: {interface: eth0, netns: /proc/1/ns/net}
/// netem: {delay: 500ms, jitter: 100ms}
/// ```
enum NativeProfileParser {
  static let topFields = [
    "name", "description", "schedule", "duration", "timezone", "target", "traffic", "netem",
  ]
  static let targetFields = ["interface", "netns", "pid", "pods"]
  static let podFields = ["namespace", "namespaces", "labels", "mode"]
  /// Netem fields whose comma-separated value may also be written as a YAML list.
  static let listFields: Set<String> = ["loss-state", "loss-gemodel", "rate", "slot"]

  /// The profile in `root`, or nil when the document has problems (all reported to `reader`).
  static func parse(_ root: Node, file: String, reader: inout DocumentReader) -> Profile? {
    let issuesBefore = reader.issues.count
    guard let fields = reader.mapping(root, path: "", known: topFields) else { return nil }

    var name: String?
    if let node = fields["name"] {
      name = reader.profileName(node, path: "name")
    } else {
      reader.report(root, "name", "required: a name for the profile, unique across the directory")
    }
    let description = reader.text(fields, "description") ?? ""

    var timeZone = utcTimeZone
    if let node = fields["timezone"], let zone = reader.timeZone(node, path: "timezone") {
      timeZone = zone
    }
    var schedule: Schedule?
    if let node = fields["schedule"], let (parsed, zone) = reader.schedule(node, path: "schedule") {
      schedule = parsed
      if let zone {
        if fields["timezone"] != nil {
          reader.report(node, "schedule", "give the time zone either as CRON_TZ= or as timezone, not both")
        }
        timeZone = zone
      }
    }
    var duration: Duration?
    if let node = fields["duration"] {
      duration = reader.positiveDuration(node, path: "duration")
    } else if schedule != nil {
      reader.report(
        fields.key("schedule"), "duration",
        "required when a schedule is set: how long each run holds the fault, e.g. duration: 5m")
    }

    var target = FaultTarget()
    var pods: PodSelector?
    let targetLocation = location(of: fields.key("target"), path: "target", reader: reader)
    if let node = fields["target"] {
      (target, pods) = parseTarget(node, reader: &reader)
    }

    var traffic: TrafficSelector?
    if let node = fields["traffic"], let key = fields.key("traffic") {
      traffic = parseTraffic(node, key: key, reader: &reader)
    }

    var fault: NetemFault?
    if let node = fields["netem"], let key = fields.key("netem") {
      fault = parseNetem(node, key: key, reader: &reader)
    } else {
      reader.report(
        root, "netem", "required: the fault to inject, e.g. netem: {delay: 100ms} (fields as the CLI's flags)"
      )
    }

    guard reader.issues.count == issuesBefore, let name, let fault else { return nil }
    let source = ProfileSource(
      file: file, line: reader.start.line, column: reader.start.column, format: .native,
      nameLocation: location(of: fields.key("name"), path: "name", reader: reader),
      targetLocation: targetLocation)
    return Profile(
      name: name, description: description, schedule: schedule, duration: duration, timeZone: timeZone,
      target: target, pods: pods, traffic: traffic, fault: fault, source: source)
  }

  private static func parseTarget(_ node: Node, reader: inout DocumentReader) -> (FaultTarget, PodSelector?) {
    var target = FaultTarget()
    guard let fields = reader.mapping(node, path: "target", known: targetFields) else { return (target, nil) }
    if let node = fields["interface"], let name = reader.interfaceName(node, path: "target.interface") {
      target.interface = name
    }
    if let node = fields["netns"], let text = reader.text(node, path: "target.netns") {
      if text.isEmpty {
        reader.report(node, "target.netns", "empty; give a /run/netns name or a path such as /proc/1/ns/net")
      } else {
        target.namespace = NetworkNamespaceRef(netnsArgument: text)
      }
    }
    if let node = fields["pid"], let text = reader.text(node, path: "target.pid") {
      if fields["netns"] != nil {
        reader.report(fields.key("pid"), "target.pid", "give either netns or pid, not both")
      } else if let pid = Int32(text), pid > 0 {
        target.namespace = .pid(pid)
      } else {
        reader.report(node, "target.pid", "invalid pid \"\(text)\": expected a positive process id")
      }
    }
    var pods: PodSelector?
    if let node = fields["pods"] {
      if fields["netns"] != nil || fields["pid"] != nil {
        reader.report(
          fields.key("pods"), "target.pods",
          "a profile either selects pods or names a network namespace (netns, pid), not both")
      }
      pods = parsePods(node, path: "target.pods", reader: &reader)
    }
    return (target, pods)
  }

  /// A pod selector (`namespace`/`namespaces`, `labels`, `mode`) written at `path`.
  static func parsePods(_ node: Node, path: String, reader: inout DocumentReader) -> PodSelector? {
    guard let fields = reader.mapping(node, path: path, known: podFields) else { return nil }
    var namespaces: [String] = []
    if let node = fields["namespace"] {
      if fields["namespaces"] != nil {
        reader.report(
          fields.key("namespaces"), fields.path("namespaces"), "give namespace or namespaces, not both")
      }
      namespaces += reader.kubernetesNamespace(node, path: fields.path("namespace")).map { [$0] } ?? []
    }
    if let node = fields["namespaces"], let items = reader.sequence(node, path: fields.path("namespaces")) {
      if items.isEmpty {
        reader.report(node, fields.path("namespaces"), "empty; list at least one namespace")
      }
      for item in items {
        if let name = reader.kubernetesNamespace(item, path: fields.path("namespaces")) {
          namespaces.append(name)
        }
      }
    }
    if fields["namespace"] == nil && fields["namespaces"] == nil {
      reader.report(node, fields.path("namespace"), "required: the Kubernetes namespace of the pods")
    }
    var labels: [String: String] = [:]
    if let node = fields["labels"] {
      labels = reader.kubernetesLabels(node, path: fields.path("labels")) ?? [:]
    }
    var mode = PodSelectionMode.all
    if let node = fields["mode"], let text = reader.text(node, path: fields.path("mode")) {
      do throws(UnitParseError) {
        mode = try PodSelectionMode(parsing: text)
      } catch {
        reader.report(node, fields.path("mode"), error.description)
      }
    }
    return PodSelector(namespaces: namespaces, labels: labels, mode: mode)
  }

  private static func parseNetem(_ node: Node, key: Node, reader: inout DocumentReader) -> NetemFault? {
    if node.null != nil || node.mapping?.isEmpty == true {
      reader.report(key, "netem", FaultError.empty().message)
      return nil
    }
    guard let fields = reader.mapping(node, path: "netem", known: NetemFault.keys, noun: "netem field") else {
      return nil
    }
    var builder = NetemBuilder()
    for entry in fields.entries {
      let path = fields.path(entry.name)
      var text: String?
      if listFields.contains(entry.name), let items = entry.value.sequence {
        let parts = items.map { reader.text($0, path: path) }
        if parts.allSatisfy({ $0 != nil }) { text = parts.map { $0! }.joined(separator: ",") }
      } else {
        text = reader.text(entry.value, path: path)
      }
      guard let text else {
        builder.failed = true
        continue
      }
      builder.set(entry.name, text, valueNode: entry.value, keyNode: entry.key, path: path, reader: &reader)
    }
    return builder.validated(reader: &reader, emptyNode: key, emptyPath: "netem")
  }

  private static func location(of node: Node?, path: String, reader: DocumentReader) -> FieldLocation {
    FieldLocation(
      fieldPath: path, line: node?.mark?.line ?? reader.start.line,
      column: node?.mark?.column ?? reader.start.column)
  }
}
