import FaultAgent
import FaultModel
import Synchronization

/// Profile loads the test hands to the agent, as a directory watcher would.
public final class ScriptedProfileFeed: ProfileFeed {
  private let stream: AsyncStream<ProfileLoadResult>
  private let sink: AsyncStream<ProfileLoadResult>.Continuation

  /// A source whose first load is `initial`.
  public init(_ initial: ProfileLoadResult) {
    (stream, sink) = AsyncStream.makeStream(of: ProfileLoadResult.self)
    sink.yield(initial)
  }

  /// Hands the agent a new load.
  public func send(_ result: ProfileLoadResult) { sink.yield(result) }

  /// Hands the agent each load the test sends, until the calling task is cancelled.
  public func follow(_ load: @Sendable (ProfileLoadResult) async -> Void) async {
    for await result in stream {
      if Task.isCancelled { return }
      await load(result)
    }
  }
}

/// Pods on a pretend node: the test sets which pods a selector picks, and the agent follows them.
public final class ScriptedPodSource: PodTargetSource {
  private struct State {
    var pods: [PodTarget] = []
    var listError: (any Error & Sendable)?
    var watchers: [Int: AsyncStream<[PodTarget]>.Continuation] = [:]
    var nextID = 0
    var patches: [(pod: String, annotations: [String: String?])] = []
  }

  private let state = Mutex(State())

  /// A node with no pods.
  public init() {}

  /// Sets the selected pods; every watch sees the new set.
  public func set(_ pods: [PodTarget]) {
    let watchers = state.withLock { state in
      state.pods = pods
      return Array(state.watchers.values)
    }
    for watcher in watchers { watcher.yield(pods) }
  }

  /// Makes listing fail (the API server is down) until cleared with nil.
  public func failListing(_ error: (any Error & Sendable)?) {
    state.withLock { $0.listError = error }
  }

  /// How many watches are open now.
  public var watchCount: Int { state.withLock { $0.watchers.count } }

  /// The Pod patches so far: the pod's `namespace/name` and the annotations set (nil: removed).
  public var patches: [(pod: String, annotations: [String: String?])] { state.withLock { $0.patches } }

  /// The pods set last, or the listing error.
  public func resolve(_ selector: PodSelector, profile: String, interface: String) async throws -> [PodTarget]
  {
    try state.withLock { state throws -> [PodTarget] in
      if let error = state.listError { throw error }
      return state.pods
    }
  }

  /// The pods now, then each new set, until the calling task is cancelled.
  public func watch(
    _ selector: PodSelector, profile: String, interface: String,
    update: @Sendable ([PodTarget]) async -> Void
  ) async throws {
    let (stream, sink) = AsyncStream.makeStream(of: [PodTarget].self)
    let (id, first) = try state.withLock { state throws -> (Int, [PodTarget]) in
      if let error = state.listError { throw error }
      defer { state.nextID += 1 }
      state.watchers[state.nextID] = sink
      return (state.nextID, state.pods)
    }
    defer { _ = state.withLock { $0.watchers.removeValue(forKey: id) } }
    await update(first)
    await withTaskCancellationHandler {
      for await pods in stream { await update(pods) }
    } onCancel: {
      sink.finish()
    }
  }

  /// Records the patch (see ``patches``).
  public func annotate(_ pod: PodTarget, with annotations: [String: String?]) async throws {
    state.withLock { $0.patches.append((pod.qualifiedName, annotations)) }
  }
}
