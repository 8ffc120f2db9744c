import ChaosAnnotations

/// Recognises request spans the middleware marked with the analysed experiment: by
/// `chaos.experiment.id` or `.name` (comma lists when several experiments were active), or by a
/// link to one of its `chaos.experiment` spans. With windows given by hand (no experiment known),
/// any span marked `chaos.experiment.active` counts.
public struct ExperimentMarks: Sendable {
  let ids: Set<String>
  let names: Set<String>
  let spanIDs: Set<String>

  /// The marks of the experiments behind `windows`.
  public init(windows: [FaultWindow]) {
    ids = Set(windows.compactMap(\.experimentID))
    names = Set(windows.compactMap(\.experimentName))
    spanIDs = Set(windows.compactMap(\.spanID))
  }

  /// Whether `span` ran under the experiment, by the middleware's word.
  public func isMarked(_ span: Span) -> Bool {
    func listed(_ key: String, in set: Set<String>) -> Bool {
      guard let value = span.attributes[key]?.text else { return false }
      return value.split(separator: ",").contains { set.contains(String($0)) }
    }
    if ids.isEmpty && names.isEmpty {
      return span.attributes[ChaosSpanVocabulary.active] == .bool(true)
    }
    if listed(ChaosSpanVocabulary.id, in: ids) { return true }
    // A name alone identifies the experiment only when no id is known for it.
    if ids.isEmpty && listed(ChaosSpanVocabulary.name, in: names) { return true }
    return span.links.contains { spanIDs.contains($0.spanID) }
  }
}
