import Foundation
import Yams

/// Reads Chaos Mesh `NetworkChaos` and `Schedule` (type `NetworkChaos`) manifests unchanged.
///
/// Every field faultline cannot honour is reported by name; nothing that changes what is injected is
/// ignored. See docs/PROFILES.md for the mapping.
enum ChaosMeshProfileParser {
  static let apiVersion = "chaos-mesh.org/v1alpha1"
  static let topFields = ["apiVersion", "kind", "metadata", "spec", "status"]
  static let metadataFields = [
    "name", "generateName", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers",
    "managedFields", "selfLink",
  ]
  static let specFields = [
    "action", "mode", "value", "selector", "duration", "delay", "loss", "duplicate", "corrupt", "bandwidth",
    "direction", "target", "targetDevice", "externalTargets", "device", "remoteCluster",
  ]
  static let selectorFields = [
    "namespaces", "labelSelectors", "pods", "nodes", "nodeSelectors", "fieldSelectors", "expressionSelectors",
    "annotationSelectors", "podPhaseSelectors",
  ]
  /// The kinds a `Schedule` can embed besides `networkChaos`; all rejected.
  static let otherEmbeddedKinds = [
    "awsChaos", "azureChaos", "blockChaos", "dnsChaos", "gcpChaos", "httpChaos", "ioChaos", "jvmChaos",
    "kernelChaos", "podChaos", "stressChaos", "timeChaos", "physicalmachineChaos", "workflow",
  ]
  static let scheduleFields =
    ["schedule", "startingDeadlineSeconds", "concurrencyPolicy", "historyLimit", "type", "networkChaos"]
    + otherEmbeddedKinds
  static let netemSpecs = ["delay", "loss", "duplicate", "corrupt"]
  static let actions = ["netem", "delay", "loss", "duplicate", "corrupt", "bandwidth", "partition"]
  /// Bytes per packet used to turn a `bandwidth.limit` in bytes into netem's limit in packets.
  static let bytesPerPacket: UInt64 = 1500

  /// Whether a document is a Kubernetes manifest rather than a native profile.
  static func isManifest(_ root: Node) -> Bool {
    guard let mapping = root.mapping else { return false }
    return mapping.keys.contains { $0.scalar?.string == "apiVersion" || $0.scalar?.string == "kind" }
  }

  /// The profile in the manifest `root`, or nil when it has problems (all reported to `reader`).
  static func parse(_ root: Node, file: String, reader: inout DocumentReader) -> Profile? {
    let issuesBefore = reader.issues.count
    guard let fields = reader.mapping(root, path: "", known: topFields) else { return nil }

    var kind: String?
    if let node = fields["apiVersion"], let text = reader.text(node, path: "apiVersion") {
      if text != apiVersion {
        reader.report(
          node, "apiVersion",
          "unsupported apiVersion \"\(text)\": faultline reads \(apiVersion) NetworkChaos and Schedule manifests "
            + "and its own profile format (name, netem, …)")
        return nil
      }
    } else if fields["apiVersion"] == nil {
      reader.report(root, "apiVersion", "required: \(apiVersion)")
    }
    if let node = fields["kind"], let text = reader.text(node, path: "kind") {
      if text == "NetworkChaos" || text == "Schedule" {
        kind = text
      } else {
        reader.report(
          node, "kind",
          "kind \(text) is not supported: faultline runs NetworkChaos (also inside a Schedule of type "
            + "NetworkChaos) with netem")
      }
    } else if fields["kind"] == nil {
      reader.report(root, "kind", "required: NetworkChaos or Schedule")
    }

    var name: String?
    var objectNamespace = "default"
    if let node = fields["metadata"],
      let metadata = reader.mapping(node, path: "metadata", known: metadataFields)
    {
      if let nameNode = metadata["name"] {
        name = reader.profileName(nameNode, path: "metadata.name")
      } else {
        reader.report(
          node, "metadata.name",
          "required: faultline needs a fixed name (generateName is not enough) to tell profiles apart")
      }
      if let namespaceNode = metadata["namespace"],
        let text = reader.kubernetesNamespace(namespaceNode, path: "metadata.namespace")
      {
        objectNamespace = text
      }
    } else if fields["metadata"] == nil {
      reader.report(root, "metadata.name", "required: metadata: {name: …}")
    }

    guard let kind, let specNode = fields["spec"] else {
      if fields["spec"] == nil, kind != nil { reader.report(root, "spec", "required") }
      return nil
    }
    var result: SpecResult?
    var schedule: Schedule?
    var timeZone = utcTimeZone
    var allowConcurrent = false
    var scheduleKey: Node?
    switch kind {
    case "Schedule":
      guard let spec = reader.mapping(specNode, path: "spec", known: scheduleFields) else { return nil }
      for other in otherEmbeddedKinds where spec.isSet(other) {
        reader.report(
          spec.key(other), spec.path(other),
          "only networkChaos is supported: faultline injects network faults with netem")
      }
      if let node = spec["type"], let text = reader.text(node, path: "spec.type"), text != "NetworkChaos" {
        reader.report(node, "spec.type", "type \(text) is not supported: faultline runs only NetworkChaos")
      } else if spec["type"] == nil {
        reader.report(specNode, "spec.type", "required: NetworkChaos")
      }
      if let node = spec["schedule"], let (parsed, zone) = reader.schedule(node, path: "spec.schedule") {
        schedule = parsed
        timeZone = zone ?? utcTimeZone
      } else if spec["schedule"] == nil {
        reader.report(specNode, "spec.schedule", "required: a cron expression such as \"*/10 * * * *\"")
      }
      scheduleKey = spec.key("schedule")
      if spec.isSet("startingDeadlineSeconds") {
        reader.report(
          spec.key("startingDeadlineSeconds"), "spec.startingDeadlineSeconds",
          "not supported: faultline starts each run at its fire time; remove it")
      }
      if let node = spec["concurrencyPolicy"], let text = reader.text(node, path: "spec.concurrencyPolicy") {
        switch text {
        case "Forbid": break
        case "Allow": allowConcurrent = true
        default:
          reader.report(node, "spec.concurrencyPolicy", "invalid value \"\(text)\": use Forbid or Allow")
        }
      }
      if let node = spec["historyLimit"], let text = reader.text(node, path: "spec.historyLimit"),
        (Int(text) ?? 0) < 1
      {
        reader.report(node, "spec.historyLimit", "invalid value \"\(text)\": expected a whole number ≥ 1")
      }
      if let node = spec["networkChaos"] {
        result = parseSpec(
          node, path: "spec.networkChaos", objectNamespace: objectNamespace, allowScheduler: false,
          reader: &reader)
      } else {
        reader.report(specNode, "spec.networkChaos", "required: the NetworkChaos spec to run on each fire")
      }
    default:
      result = parseSpec(
        specNode, path: "spec", objectNamespace: objectNamespace, allowScheduler: true, reader: &reader)
      if let cron = result?.scheduler {
        schedule = cron.schedule
        timeZone = cron.timeZone ?? utcTimeZone
        scheduleKey = cron.key
      }
    }
    guard let result else { return nil }
    if schedule != nil && result.duration == nil && result.durationValid {
      reader.report(
        scheduleKey, "\(result.path).duration",
        "required when a schedule is set: how long each run holds the fault, e.g. duration: 5m")
    }
    if allowConcurrent, let schedule, let duration = result.duration,
      let overlap = selfOverlap(schedule: schedule, duration: duration, timeZone: timeZone)
    {
      reader.report(
        scheduleKey, "spec.concurrencyPolicy",
        "Allow would run two faults on one interface at once: the run starting at \(formatRFC3339(overlap.0)) "
          + "still holds until \(formatRFC3339(overlap.0 + duration.timeInterval)) when the next starts at "
          + "\(formatRFC3339(overlap.1)); use Forbid or a duration of at most the time between fires")
    }
    guard reader.issues.count == issuesBefore, let name, let fault = result.fault else { return nil }
    let nameNode = fields["metadata"]?.mapping?.first { $0.key.scalar?.string == "name" }?.key
    let source = ProfileSource(
      file: file, line: reader.start.line, column: reader.start.column, format: .chaosMesh,
      nameLocation: FieldLocation(
        fieldPath: "metadata.name", line: nameNode?.mark?.line ?? reader.start.line,
        column: nameNode?.mark?.column ?? reader.start.column),
      targetLocation: FieldLocation(
        fieldPath: "\(result.path).selector", line: result.targetMark?.line ?? reader.start.line,
        column: result.targetMark?.column ?? reader.start.column))
    return Profile(
      name: name, description: "", schedule: schedule, duration: result.duration, timeZone: timeZone,
      target: FaultTarget(interface: result.interface, namespace: .current), pods: result.pods,
      traffic: result.traffic, fault: fault, source: source)
  }

  /// What a `NetworkChaosSpec` says.
  struct SpecResult {
    var path: String
    var fault: NetemFault?
    var interface = "eth0"
    var pods: PodSelector?
    var traffic: TrafficSelector?
    var targetMark: Mark?
    var duration: Duration?
    /// False when `duration` is present but invalid (already reported).
    var durationValid = true
    /// The older `spec.scheduler.cron`.
    var scheduler: (schedule: Schedule, timeZone: TimeZone?, key: Node?)?
  }

  private static func parseSpec(
    _ node: Node, path: String, objectNamespace: String, allowScheduler: Bool, reader: inout DocumentReader
  ) -> SpecResult? {
    let known = allowScheduler ? specFields + ["scheduler"] : specFields
    guard let spec = reader.mapping(node, path: path, known: known) else { return nil }
    var result = SpecResult(path: path)

    if spec.isSet("remoteCluster") {
      reader.report(
        spec.key("remoteCluster"), spec.path("remoteCluster"),
        "not supported: faultline injects in the cluster it runs in; remove it")
    }

    if let node = spec["device"], let name = reader.interfaceName(node, path: spec.path("device")) {
      result.interface = name
    }
    if let node = spec["duration"] {
      result.duration = reader.positiveDuration(node, path: spec.path("duration"))
      result.durationValid = result.duration != nil
    }
    if let node = spec["scheduler"],
      let scheduler = reader.mapping(node, path: spec.path("scheduler"), known: ["cron"])
    {
      if let cron = scheduler["cron"] {
        if let (schedule, zone) = reader.schedule(cron, path: scheduler.path("cron")) {
          result.scheduler = (schedule, zone, spec.key("scheduler"))
        }
      } else {
        reader.report(node, scheduler.path("cron"), "required: a cron expression such as \"@every 10m\"")
      }
    }

    result.targetMark = spec.key("selector")?.mark ?? node.mark
    result.pods = parseSelector(
      spec, objectNamespace: objectNamespace, specNode: node,
      purpose: "the pods to inject into (namespaces, labelSelectors)", reader: &reader)
    result.traffic = parseTraffic(
      spec, specNode: node, objectNamespace: objectNamespace, interface: result.interface, reader: &reader)
    result.fault = parseAction(spec, specNode: node, reader: &reader)
    return result
  }

  /// The pods `spec` selects with `selector`, `mode` and `value` (a `PodSelectorSpec`: the spec itself or
  /// its `target`); `purpose` says what a missing selector is for.
  static func parseSelector(
    _ spec: Fields, objectNamespace: String, specNode: Node, purpose: String, reader: inout DocumentReader
  ) -> PodSelector? {
    var namespaces: [String] = []
    var labels: [String: String] = [:]
    if let node = spec["selector"] {
      let path = spec.path("selector")
      if let selector = reader.mapping(node, path: path, known: selectorFields) {
        for field in selectorFields.dropFirst(2) where selector.isSet(field) {
          reader.report(
            selector.key(field), selector.path(field),
            "not supported: faultline selects pods by namespaces and labelSelectors only; remove \(field)")
        }
        if let node = selector["namespaces"],
          let items = reader.sequence(node, path: selector.path("namespaces"))
        {
          for item in items {
            if let name = reader.kubernetesNamespace(item, path: selector.path("namespaces")) {
              namespaces.append(name)
            }
          }
        }
        if let node = selector["labelSelectors"], node.null == nil {
          labels = reader.kubernetesLabels(node, path: selector.path("labelSelectors")) ?? [:]
        }
      }
    } else {
      reader.report(specNode, spec.path("selector"), "required: \(purpose)")
    }
    if namespaces.isEmpty { namespaces = [objectNamespace] }

    var mode = PodSelectionMode.all
    let modePath = spec.path("mode")
    guard let modeNode = spec["mode"] else {
      reader.report(specNode, modePath, "required: one, all, fixed or fixed-percent")
      return nil
    }
    guard let modeText = reader.text(modeNode, path: modePath) else { return nil }
    let valueText = spec["value"].flatMap { reader.text($0, path: spec.path("value")) }
    switch modeText {
    case "all": mode = .all
    case "one": mode = .one
    case "fixed", "fixed-percent":
      guard let valueText else {
        reader.report(
          modeNode, spec.path("value"),
          "required by mode \(modeText): the number\(modeText == "fixed" ? "" : " (%)") of pods")
        return nil
      }
      do throws(UnitParseError) {
        mode = try PodSelectionMode(parsing: "\(modeText == "fixed" ? "fixed" : "percent"):\(valueText)")
      } catch {
        reader.report(
          spec["value"], spec.path("value"), "invalid value for mode \(modeText): \(error.description)")
        return nil
      }
    case "random-max-percent":
      reader.report(
        modeNode, modePath,
        "mode random-max-percent is not supported: use fixed-percent (faultline picks an exact share)")
      return nil
    default:
      reader.report(
        modeNode, modePath, "invalid mode \"\(modeText)\": use one, all, fixed or fixed-percent")
      return nil
    }
    return PodSelector(namespaces: namespaces, labels: labels, mode: mode)
  }

  private static func parseAction(_ spec: Fields, specNode: Node, reader: inout DocumentReader) -> NetemFault?
  {
    let actionPath = spec.path("action")
    guard let actionNode = spec["action"] else {
      reader.report(
        specNode, actionPath, "required: one of netem, delay, loss, duplicate, corrupt, bandwidth")
      return nil
    }
    guard let action = reader.text(actionNode, path: actionPath) else { return nil }
    let used: [String]
    switch action {
    case "netem": used = netemSpecs
    case "delay", "loss", "duplicate", "corrupt", "bandwidth": used = [action]
    case "partition":
      reader.report(
        actionNode, actionPath,
        "action partition is not supported: it blocks traffic between pods with iptables, which netem cannot do "
          + "(loss: \"100\" drops all egress instead)")
      return nil
    default:
      let hint = closestMatch(to: action, in: actions).map { "; did you mean \"\($0)\"?" } ?? ""
      reader.report(
        actionNode, actionPath,
        "unknown action \"\(action)\"\(hint); use netem, delay, loss, duplicate, corrupt or bandwidth")
      return nil
    }
    var builder = NetemBuilder()
    for field in netemSpecs + ["bandwidth"] where spec.isSet(field) && !used.contains(field) {
      let advice =
        field == "bandwidth"
        ? "Chaos Mesh applies bandwidth only with action bandwidth"
        : "use action netem to combine delay, loss, duplicate and corrupt"
      reader.report(
        spec.key(field), spec.path(field), "not used by action \(action) (Chaos Mesh ignores it); \(advice)")
      builder.failed = true
    }
    let present = used.filter { spec[$0] != nil }
    if present.isEmpty {
      let needed = action == "netem" ? "at least one of delay, loss, duplicate, corrupt" : action
      reader.report(
        actionNode, spec.path(action == "netem" ? "delay" : action), "required by action \(action): \(needed)"
      )
      return nil
    }
    for field in present {
      let node = spec[field]!
      let path = spec.path(field)
      switch field {
      case "delay": parseDelay(node, path: path, builder: &builder, reader: &reader)
      case "bandwidth": parseBandwidth(node, path: path, builder: &builder, reader: &reader)
      default: parsePercentSpec(field, node, path: path, builder: &builder, reader: &reader)
      }
    }
    return builder.validated(reader: &reader, emptyNode: actionNode, emptyPath: actionPath)
  }

  /// Sets netem `key` from the Chaos Mesh field `name` of `fields`, if present.
  private static func set(
    _ key: String, from name: String, in fields: Fields, builder: inout NetemBuilder,
    reader: inout DocumentReader
  ) {
    guard let node = fields[name] else { return }
    guard let text = reader.text(node, path: fields.path(name)) else {
      builder.failed = true
      return
    }
    builder.set(
      key, text, valueNode: node, keyNode: fields.key(name), path: fields.path(name), reader: &reader)
  }

  private static func requireField(
    _ name: String, in fields: Fields, builder: inout NetemBuilder, reader: inout DocumentReader
  ) {
    if fields[name] == nil {
      reader.report(fields.node, fields.path(name), "required")
      builder.failed = true
    }
  }

  private static func parseDelay(
    _ node: Node, path: String, builder: inout NetemBuilder, reader: inout DocumentReader
  ) {
    guard
      let fields = reader.mapping(node, path: path, known: ["latency", "jitter", "correlation", "reorder"])
    else {
      builder.failed = true
      return
    }
    requireField("latency", in: fields, builder: &builder, reader: &reader)
    set("delay", from: "latency", in: fields, builder: &builder, reader: &reader)
    set("jitter", from: "jitter", in: fields, builder: &builder, reader: &reader)
    set("correlation", from: "correlation", in: fields, builder: &builder, reader: &reader)
    guard let reorderNode = fields["reorder"] else { return }
    guard
      let reorder = reader.mapping(
        reorderNode, path: fields.path("reorder"), known: ["reorder", "correlation", "gap"])
    else {
      builder.failed = true
      return
    }
    requireField("reorder", in: reorder, builder: &builder, reader: &reader)
    set("reorder", from: "reorder", in: reorder, builder: &builder, reader: &reader)
    set("reorder-correlation", from: "correlation", in: reorder, builder: &builder, reader: &reader)
    if let gapNode = reorder["gap"], let text = reader.text(gapNode, path: reorder.path("gap")) {
      // Chaos Mesh sends gap 0 as "no gap", which tc (and faultline) read as 1.
      if text.trimmingCharacters(in: .whitespaces) != "0" {
        builder.set("gap", text, valueNode: gapNode, path: reorder.path("gap"), reader: &reader)
      }
    }
  }

  private static func parsePercentSpec(
    _ field: String, _ node: Node, path: String, builder: inout NetemBuilder, reader: inout DocumentReader
  ) {
    guard let fields = reader.mapping(node, path: path, known: [field, "correlation"]) else {
      builder.failed = true
      return
    }
    requireField(field, in: fields, builder: &builder, reader: &reader)
    set(field, from: field, in: fields, builder: &builder, reader: &reader)
    set("\(field)-correlation", from: "correlation", in: fields, builder: &builder, reader: &reader)
  }

  private static func parseBandwidth(
    _ node: Node, path: String, builder: inout NetemBuilder, reader: inout DocumentReader
  ) {
    guard
      let fields = reader.mapping(
        node, path: path, known: ["rate", "limit", "buffer", "peakrate", "minburst"])
    else {
      builder.failed = true
      return
    }
    requireField("rate", in: fields, builder: &builder, reader: &reader)
    if let rateNode = fields["rate"], let text = reader.text(rateNode, path: fields.path("rate")) {
      if let bytes = chaosMeshRateBytes(text) {
        let (bits, overflow) = bytes.multipliedReportingOverflow(by: 8)
        if overflow || bits < 8 {
          reader.report(rateNode, fields.path("rate"), "invalid rate \"\(text)\": out of range")
          builder.failed = true
        } else {
          builder.fault.rate = RateLimit(rate: Bandwidth(bitsPerSecond: bits))
          builder.sources["rate"] = (rateNode, fields.path("rate"))
        }
      } else {
        reader.report(
          rateNode, fields.path("rate"),
          "invalid rate \"\(text)\": Chaos Mesh rates are a whole number with bps, kbps, mbps, gbps or tbps "
            + "(bytes per second, 1kbps = 1024 bytes/s)")
        builder.failed = true
      }
    }
    if let limitNode = fields["limit"], let text = reader.text(limitNode, path: fields.path("limit")) {
      if let bytes = UInt64(text), bytes >= 1 {
        let packets = min((bytes + bytesPerPacket - 1) / bytesPerPacket, UInt64(UInt32.max))
        builder.fault.limit = UInt32(packets)
        builder.sources["limit"] = (limitNode, fields.path("limit"))
      } else {
        reader.report(
          limitNode, fields.path("limit"), "invalid limit \"\(text)\": expected a whole number of bytes ≥ 1")
        builder.failed = true
      }
    }
    if let bufferNode = fields["buffer"], let text = reader.text(bufferNode, path: fields.path("buffer")),
      UInt32(text) == nil
    {
      reader.report(
        bufferNode, fields.path("buffer"), "invalid buffer \"\(text)\": expected a whole number of bytes")
      builder.failed = true
    }
    for field in ["peakrate", "minburst"] where fields.isSet(field) {
      guard let text = reader.text(fields[field]!, path: fields.path(field)) else { continue }
      if text.trimmingCharacters(in: .whitespaces) != "0" {
        reader.report(
          fields.key(field), fields.path(field),
          "not supported: netem's rate has no peak-rate bucket; remove \(field) (or set it to 0)")
        builder.failed = true
      }
    }
  }

  /// Chaos Mesh's `ConvertUnitToBytes`: a whole number with `bps`, `kbps`, `mbps`, `gbps` or `tbps`
  /// (case-insensitive), in bytes per second with binary multipliers (1kbps = 1024 bytes/s).
  static func chaosMeshRateBytes(_ text: String) -> UInt64? {
    let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
    for (index, unit) in ["tbps", "gbps", "mbps", "kbps", "bps"].enumerated() where lowered.hasSuffix(unit) {
      let number = lowered.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
      guard !number.isEmpty, number.allSatisfy(\.isASCII), var value = UInt64(number) else { return nil }
      for _ in 0..<(4 - index) {
        let (product, overflow) = value.multipliedReportingOverflow(by: 1024)
        if overflow { return nil }
        value = product
      }
      return value
    }
    return nil
  }
}
