import ChaosAnnotations
import FaultModel
import Foundation

/// Publishes the active experiments to the shared annotation file that app middleware reads.
///
/// Same format as the Kubernetes Downward API annotations file. Replaced atomically (temp file in
/// the same directory, fsync, rename, mode 0644) so a reader never sees a partial file.
public actor AnnotationWriter {
  /// The default path: `FAULTLINE_ANNOTATIONS`, else `/var/run/faultline/annotations`.
  public static var defaultPath: String { ExperimentReader.defaultPath }

  /// The file written.
  public let url: URL
  /// An extra key carrying the names, for middleware written for Chaos Mesh (e.g. `chaos-mesh.org/experiment`).
  public let compatKey: String?
  private let createsDirectory: Bool
  private var active: [Published] = []
  /// Whether a write has removed the temporaries a killed predecessor left: only one that died
  /// before this writer existed can have left any, so the first successful write is enough.
  private var sweptTemporaries = false

  /// One published experiment.
  struct Published {
    var experiment: Experiment
    var start: Date
    var traceparent: String?
  }

  /// A writer of `path`. With `createsDirectory` (per-pod files) the file's own directory is created
  /// by the writer (mode 0755) when missing and never followed if it is a symlink; its parent must
  /// exist or is created as usual.
  public init(
    path: String = AnnotationWriter.defaultPath, compatKey: String? = nil, createsDirectory: Bool = false
  ) {
    url = URL(fileURLWithPath: path)
    self.compatKey = compatKey
    self.createsDirectory = createsDirectory
  }

  /// Adds (or updates) an experiment that started at `start`, whose `chaos.experiment` span has
  /// `traceparent`, and rewrites the file.
  public func started(_ experiment: Experiment, at start: Date, traceparent: String? = nil) throws {
    let item = Published(experiment: experiment, start: start, traceparent: traceparent)
    if let index = active.firstIndex(where: { $0.experiment.id == experiment.id }) {
      active[index] = item
    } else {
      active.append(item)
    }
    try write()
  }

  /// Removes an experiment and rewrites the file.
  public func ended(id: String) throws {
    active.removeAll { $0.experiment.id == id }
    try write()
  }

  /// Writes the current state (`chaos.experiment/active="false"` when nothing is active).
  public func write() throws {
    let directory = url.deletingLastPathComponent()
    try FileManager.default.createDirectory(
      at: createsDirectory ? directory.deletingLastPathComponent() : directory,
      withIntermediateDirectories: true)
    try writeAtomically(
      Data(AnnotationFormat.render(Self.annotations(for: active, compatKey: compatKey)).utf8), to: url,
      // The shared file's directory is the operator's choice (it may be a symlink); a pod's own
      // directory is the pod's to tamper with, so it is never followed.
      createDirectory: createsDirectory, directoryMayBeSymlink: !createsDirectory,
      removingAbandonedTemporaries: !sweptTemporaries)
    sweptTemporaries = true
  }

  /// The `chaos.experiment/…` keys for a set of active experiments.
  static func annotations(for active: [Published], compatKey: String?) -> [String: String] {
    guard !active.isEmpty else { return ["chaos.experiment/active": "false"] }
    func list(_ f: (Experiment) -> String) -> String {
      active.map { f($0.experiment) }.joined(separator: ",")
    }
    var result = [
      "chaos.experiment/active": "true",
      "chaos.experiment/name": list(\.name),
      "chaos.experiment/id": list(\.id),
      "chaos.experiment/interface": list(\.target.interface),
      "chaos.experiment/started-at": formatRFC3339Seconds(active.map(\.start).min()!),
      "chaos.experiment/fault": active.map(\.experiment.fault.summary).joined(separator: "; "),
    ]
    if active.contains(where: { $0.traceparent != nil }) {
      result["chaos.experiment/traceparent"] = active.map { $0.traceparent ?? "" }.joined(separator: ",")
    }
    let ends = active.compactMap { item in
      item.experiment.duration.map { item.start.addingTimeInterval(Double($0.nanoseconds) / 1e9) }
    }
    if ends.count == active.count, let last = ends.max() {
      result["chaos.experiment/ends-at"] = formatRFC3339Seconds(last)
    }
    if active.contains(where: { $0.experiment.traffic != nil }) {
      // Which traffic each experiment shapes, in the same order as the names ("all egress" for a
      // whole-interface one), so middleware can tell whether a request's peer is affected.
      result["chaos.experiment/traffic"] = active.map { $0.experiment.traffic?.summary ?? "all egress" }
        .joined(separator: "; ")
    }
    if let compatKey { result[compatKey] = list(\.name) }
    return result
  }
}
