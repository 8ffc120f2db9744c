import Foundation
import Logging
import Synchronization

/// Publishes each pod's windows to its own annotation file, `DIR/<pod-uid>/annotations`
/// (`--pod-annotations-dir`), which the pod's app container mounts with `subPathExpr: $(POD_UID)`.
///
/// The pod can write its own directory, so nothing in it is trusted: a UID that is not a UUID is
/// refused before it becomes a path component, the `<uid>` directory is created by the agent (mode
/// 0755) and opened without following a symlink, and the file is replaced through a random
/// exclusive temporary name (see `DirectoryHandle`), so a planted symlink is never followed.
public final class PodAnnotationFiles: WindowObserver {
  /// The directory holding one subdirectory per pod UID.
  public let directory: String
  private let compatKey: String?
  private let logger: Logger
  /// The writers of pods with an open window, by pod UID, and how many windows each has open.
  private let writers = Mutex<[String: (writer: AnnotationWriter, open: Int)]>([:])

  /// An observer writing under `directory`, with `compatKey` as in the shared file.
  public init(directory: String, compatKey: String?, logger: Logger) {
    self.directory = directory
    self.compatKey = compatKey
    self.logger = logger
  }

  /// Acts on the events this observer follows; ignores the rest.
  public func observe(_ event: WindowEvent) async {
    switch event {
    case .opened(let window), .reapplied(let window):
      guard let pod = window.experiment.pod else { return }
      guard let path = podAnnotationsPath(directory: directory, uid: pod.uid) else {
        logger.warning(
          "refusing to write a pod's annotation file: its UID is not a UUID",
          metadata: ["pod": "\(pod.qualifiedName)", "uid": "\(pod.uid.prefix(100))"])
        return
      }
      let isNew: Bool
      if case .opened = event { isNew = true } else { isNew = false }
      let writer = writer(for: pod.uid, path: path, opening: isNew)
      await write(writer) {
        try await $0.started(window.experiment, at: window.startedAt, traceparent: window.traceparent)
      }
    case .closed(let window, _, _):
      guard let pod = window.experiment.pod else { return }
      let (writer, last) = closing(pod.uid)
      guard let writer else { return }
      await write(writer) { try await $0.ended(id: window.experiment.id) }
      if last { forget(pod.uid) }
    default:
      return
    }
  }

  private func writer(for uid: String, path: String, opening: Bool) -> AnnotationWriter {
    writers.withLock { writers in
      if var existing = writers[uid] {
        if opening { existing.open += 1 }
        writers[uid] = existing
        return existing.writer
      }
      let writer = AnnotationWriter(path: path, compatKey: compatKey, createsDirectory: true)
      writers[uid] = (writer, opening ? 1 : 0)
      return writer
    }
  }

  private func closing(_ uid: String) -> (AnnotationWriter?, last: Bool) {
    writers.withLock { writers in
      guard var existing = writers[uid] else { return (nil, false) }
      existing.open -= 1
      writers[uid] = existing
      return (existing.writer, existing.open <= 0)
    }
  }

  private func forget(_ uid: String) {
    writers.withLock { writers in
      if let existing = writers[uid], existing.open <= 0 { writers[uid] = nil }
    }
  }

  private func write(_ writer: AnnotationWriter, _ body: (AnnotationWriter) async throws -> Void) async {
    do { try await body(writer) } catch {
      logger.warning(
        "cannot write the pod's annotation file",
        metadata: ["path": "\(writer.url.path)", "error": "\(error)"])
    }
  }
}

/// Patches the `chaos.experiment/*` annotations onto each targeted Pod object (`--annotate-pods`),
/// and clears them when the pod's window closes.
public struct PodObjectAnnotator: WindowObserver {
  private let pods: any PodTargetSource
  private let logger: Logger

  /// An annotator writing through `pods` (the Kubernetes API).
  public init(pods: any PodTargetSource, logger: Logger) {
    self.pods = pods
    self.logger = logger
  }

  /// Acts on the events this observer follows; ignores the rest.
  public func observe(_ event: WindowEvent) async {
    let pod: PodTarget
    let annotations: [String: String?]
    switch event {
    case .opened(let window):
      guard let target = window.experiment.pod else { return }
      pod = target
      annotations = podObjectAnnotations(
        window.experiment, start: window.startedAt, traceparent: window.traceparent)
    case .closed(let window, _, _):
      guard let target = window.experiment.pod else { return }
      pod = target
      annotations = podObjectAnnotations(nil, start: window.startedAt, traceparent: nil)
    default:
      return
    }
    do { try await pods.annotate(pod, with: annotations) } catch {
      logger.warning(
        "cannot annotate the pod", metadata: ["pod": "\(pod.qualifiedName)", "error": "\(error)"])
    }
  }
}
