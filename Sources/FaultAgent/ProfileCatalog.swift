import FaultModel

/// The profiles the agent runs: each load of the profile directory, merged into the last good set.
///
/// A file with any problem, or one that turned empty (a truncate-then-write save caught half way),
/// keeps its last good profiles; only a removed file drops them. A profile whose fault alone changed
/// is re-applied in place; a change of anything that decides its windows or targets restarts it.
public struct ProfileCatalog: Sendable {
  /// What a load changed.
  public struct Changes: Sendable, Hashable {
    /// New profiles, and restarted ones (their old windows close first), by name.
    public var started: [Profile] = []
    /// Profiles whose fault or address peers alone changed: open windows are re-applied in place (or
    /// only their filters replaced).
    public var retuned: [Profile] = []
    /// Names of profiles that are gone, or restarted.
    public var stopped: [String] = []
    /// Files whose last good profiles were kept, and why (for the log).
    public var kept: [KeptFile] = []
  }

  /// A file whose last good profiles stay, and why.
  public struct KeptFile: Sendable, Hashable {
    /// The file.
    public var file: String
    /// Why its new contents were not taken.
    public var why: String
  }

  /// The profiles running now, by name.
  public private(set) var current: [String: Profile] = [:]

  /// An empty catalog.
  public init() {}

  /// Merges a load; returns what to stop, start and re-apply.
  public mutating func merge(_ result: ProfileLoadResult) -> Changes {
    var changes = Changes()
    let broken = Set(result.issues.map(\.file))
    let loadedFrom = Set(result.profiles.map(\.source.file))
    let previousFiles = Set(current.values.map(\.source.file))
    // Files that still exist but give no profile now: empty, or all problems.
    let emptied = Set(result.files).intersection(previousFiles).subtracting(loadedFrom).subtracting(broken)
    for file in broken.intersection(previousFiles).sorted() {
      changes.kept.append(KeptFile(file: file, why: "the file has problems"))
    }
    for file in emptied.sorted() {
      changes.kept.append(
        KeptFile(file: file, why: "the file has no profiles now (empty, or being rewritten)"))
    }
    let keep = broken.union(emptied)
    var next: [String: Profile] = [:]
    for profile in result.profiles where !keep.contains(profile.source.file) {
      next[profile.name] = profile
    }
    for (name, profile) in current where keep.contains(profile.source.file) && next[name] == nil {
      next[name] = profile
    }
    for (name, old) in current.sorted(by: { $0.key < $1.key }) {
      guard let new = next[name] else {
        changes.stopped.append(name)
        continue
      }
      if !Self.sameWindows(old, new) {
        changes.stopped.append(name)
        changes.started.append(new)
      } else if old.fault != new.fault || old.traffic != new.traffic {
        changes.retuned.append(new)
      }
    }
    for (_, new) in next.sorted(by: { $0.key < $1.key }) where current[new.name] == nil {
      changes.started.append(new)
    }
    current = next
    return changes
  }

  /// Whether two versions of a profile open the same windows on the same targets, and follow the
  /// same kind of peers: peers written as addresses can change in place (only filters change), a
  /// change involving hostnames or pods restarts the profile so that the new ones are followed.
  static func sameWindows(_ a: Profile, _ b: Profile) -> Bool {
    a.schedule == b.schedule && a.duration == b.duration && a.timeZone == b.timeZone && a.target == b.target
      && a.pods == b.pods
      && (a.traffic == b.traffic
        || (!PeerResolution.isDynamic(a.traffic) && !PeerResolution.isDynamic(b.traffic)))
  }

}
