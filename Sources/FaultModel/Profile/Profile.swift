import Foundation

/// A fault profile: what to inject, where, and when, as read from a profile file.
///
/// Profiles come from YAML files in faultline's native form or from Chaos Mesh `NetworkChaos` and
/// `Schedule` manifests (see docs/PROFILES.md); ``ProfileLoader`` parses and validates them
/// (`ProfileFiles` in `FaultAgent` reads the files).
public struct Profile: Sendable, Hashable {
  /// The unique name (native `name`, Chaos Mesh `metadata.name`).
  public var name: String
  /// Free text for people; empty when not given.
  public var description: String
  /// When the fault starts; `nil` starts it once, when the agent starts.
  public var schedule: Schedule?
  /// How long each run holds the fault; `nil` holds it until the agent stops. Always set when
  /// ``schedule`` is.
  public var duration: Duration?
  /// The wall clock cron fields refer to (default UTC).
  public var timeZone: TimeZone
  /// The interface and network namespace; with ``pods`` the interface is the one inside each pod.
  public var target: FaultTarget
  /// The pods to inject into, when the profile selects pods rather than a namespace path.
  public var pods: PodSelector?
  /// Which traffic of the interface the fault applies to; `nil` faults all egress of the interface.
  public var traffic: TrafficSelector?
  /// The fault, already checked with ``NetemFault/validated()``.
  public var fault: NetemFault
  /// Where the profile was read from.
  public var source: ProfileSource

  /// A profile from its parts; ``ProfileLoader`` is the usual way to get one.
  public init(
    name: String, description: String = "", schedule: Schedule? = nil, duration: Duration? = nil,
    timeZone: TimeZone = TimeZone(identifier: "UTC")!, target: FaultTarget = FaultTarget(),
    pods: PodSelector? = nil, traffic: TrafficSelector? = nil, fault: NetemFault, source: ProfileSource
  ) {
    self.name = name
    self.description = description
    self.schedule = schedule
    self.duration = duration
    self.timeZone = timeZone
    self.target = target
    self.pods = pods
    self.traffic = traffic
    self.fault = fault
    self.source = source
  }
}

/// A position in a profile file, with the field path of what is written there.
public struct FieldLocation: Sendable, Hashable {
  /// The dotted field path, e.g. `name` or `metadata.name`.
  public var fieldPath: String
  /// 1-based line.
  public var line: Int
  /// 1-based column, counted in Unicode scalars.
  public var column: Int

  /// A location of `fieldPath` at `line`:`column`.
  public init(fieldPath: String, line: Int, column: Int) {
    self.fieldPath = fieldPath
    self.line = line
    self.column = column
  }
}

/// Where a profile was read from: the file, the document's position in it, and its format.
public struct ProfileSource: Sendable, Hashable, CustomStringConvertible {
  /// The two formats a profile can be written in.
  public enum Format: String, Sendable, Hashable, Codable {
    /// faultline's own form (`name`, `schedule`, `target`, `netem`).
    case native
    /// A Chaos Mesh `NetworkChaos` or `Schedule` manifest.
    case chaosMesh
  }

  /// The file path as given to the loader.
  public var file: String
  /// 1-based line of the document's first node.
  public var line: Int
  /// 1-based column of the document's first node.
  public var column: Int
  /// The format of the document.
  public var format: Format
  /// Where the name is written (the document when it is not).
  public var nameLocation: FieldLocation
  /// Where the target is written (the document when it is defaulted).
  public var targetLocation: FieldLocation

  /// A source at `file`:`line`:`column`; the name and target locations default to the document.
  public init(
    file: String, line: Int, column: Int, format: Format, nameLocation: FieldLocation? = nil,
    targetLocation: FieldLocation? = nil
  ) {
    self.file = file
    self.line = line
    self.column = column
    self.format = format
    self.nameLocation = nameLocation ?? FieldLocation(fieldPath: "name", line: line, column: column)
    self.targetLocation = targetLocation ?? FieldLocation(fieldPath: "target", line: line, column: column)
  }

  /// `FILE:LINE:COLUMN` of the document.
  public var description: String { "\(file):\(line):\(column)" }
}

/// Which pods a profile injects into: pods in some namespaces that carry all the given labels.
///
/// Native profiles write it as `target.pods`; Chaos Mesh manifests as `spec.selector` with `spec.mode`
/// and `spec.value`. Resolving it to pods and their network namespaces is the agent's job.
public struct PodSelector: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The Kubernetes namespaces to look in (at least one).
  public var namespaces: [String]
  /// Labels every selected pod must have (`key: value`); empty selects every pod in the namespaces.
  public var labels: [String: String]
  /// How many of the matching pods to inject into.
  public var mode: PodSelectionMode

  /// A selector of pods in `namespaces` with `labels`.
  public init(namespaces: [String], labels: [String: String] = [:], mode: PodSelectionMode = .all) {
    self.namespaces = namespaces
    self.labels = labels
    self.mode = mode
  }

  /// `app=payment in default (all)`.
  public var description: String {
    let labelText = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    let pods = labelText.isEmpty ? "all pods" : labelText
    return "\(pods) in \(namespaces.joined(separator: ",")) (\(mode))"
  }

  /// Whether some pod could match both selectors: they share a namespace and no label key requires
  /// different values.
  public func mayOverlap(with other: PodSelector) -> Bool {
    guard !Set(namespaces).isDisjoint(with: other.namespaces) else { return false }
    for (key, value) in labels {
      if let otherValue = other.labels[key], otherValue != value { return false }
    }
    return true
  }
}

/// How many matching pods a ``PodSelector`` picks.
public enum PodSelectionMode: Sendable, Hashable, Codable, CustomStringConvertible {
  /// Every matching pod (`all`).
  case all
  /// One matching pod, picked at random (`one`).
  case one
  /// `N` matching pods, picked at random (`fixed:N`; Chaos Mesh `fixed` with `value: N`).
  case fixed(Int)
  /// This share of the matching pods, picked at random (`percent:N`; Chaos Mesh `fixed-percent`).
  case percent(Percent)

  /// Parses `all`, `one`, `fixed:N` (N ≥ 1) or `percent:N` (0 < N ≤ 100).
  public init(parsing text: String) throws(UnitParseError) {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let parts = trimmed.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
    switch (parts.first?.lowercased() ?? "", parts.count) {
    case ("all", 1): self = .all
    case ("one", 1): self = .one
    case ("fixed", 2):
      guard let count = Int(parts[1]), count >= 1 else {
        throw UnitParseError("\"\(text)\": fixed:N needs a whole number of pods N ≥ 1, e.g. fixed:2")
      }
      self = .fixed(count)
    case ("percent", 2):
      let share = try Percent(parsing: parts[1])
      guard !share.isZero else {
        throw UnitParseError("\"\(text)\": percent:N needs 0 < N ≤ 100, e.g. percent:25")
      }
      self = .percent(share)
    default:
      throw UnitParseError("\"\(text)\" is not a pod mode; use all, one, fixed:N or percent:N")
    }
  }

  /// `all`, `one`, `fixed:2`, `percent:25`: the form ``init(parsing:)`` reads.
  public var description: String {
    switch self {
    case .all: "all"
    case .one: "one"
    case .fixed(let count): "fixed:\(count)"
    case .percent(let share): "percent:\(formatNumber(share.value))"
    }
  }
}
