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
    var peerAddresses: [IPPrefix] = []
    var peerWatchers: [Int: AsyncStream<[IPPrefix]>.Continuation] = [:]
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

  /// Sets the addresses of the peer pods (every selector sees the same); peer watches see the change.
  public func setPeerAddresses(_ addresses: [String]) {
    let prefixes = addresses.map { try! IPPrefix(parsing: $0) }
    let watchers = state.withLock { state in
      state.peerAddresses = prefixes
      return Array(state.peerWatchers.values)
    }
    for watcher in watchers { watcher.yield(prefixes) }
  }

  var peerAddresses: [IPPrefix] { state.withLock { $0.peerAddresses } }

  func peerUpdates() -> AsyncStream<[IPPrefix]> {
    let (stream, sink) = AsyncStream.makeStream(of: [IPPrefix].self)
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      state.peerWatchers[state.nextID] = sink
      return state.nextID
    }
    sink.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.peerWatchers.removeValue(forKey: id) }
    }
    return stream
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

/// A resolver whose answers the test sets: each name resolves to the addresses set last.
public final class ScriptedHostResolver: HostResolver {
  private let answers = Mutex<[String: Result<[IPPrefix], HostResolutionError>]>([:])
  private let lookups = Mutex(0)

  /// A resolver that knows no name yet.
  public init() {}

  /// Makes `host` resolve to `addresses` (text, e.g. `10.0.0.5`, `fd00::5`).
  public func set(_ host: String, to addresses: [String]) {
    let prefixes = addresses.map { try! IPPrefix(parsing: $0) }
    answers.withLock { $0[host] = .success(prefixes) }
  }

  /// Makes `host` fail to resolve.
  public func fail(_ host: String, reason: String) {
    answers.withLock { $0[host] = .failure(HostResolutionError(host: host, reason: reason)) }
  }

  /// How many lookups were made.
  public var lookupCount: Int { lookups.withLock { $0 } }

  /// The addresses set for `host`, or the failure set for it.
  public func resolve(_ host: String) async throws -> [IPPrefix] {
    lookups.withLock { $0 += 1 }
    guard let answer = answers.withLock({ $0[host] }) else {
      throw HostResolutionError(host: host, reason: "Name or service not known")
    }
    return try answer.get()
  }
}

extension ScriptedPodSource: PodAddressSource {
  /// The addresses of the peer pods set with ``setPeerAddresses(_:)``, now and on every change.
  public func watchAddresses(_ selector: PodSelector, update: @Sendable ([IPPrefix]) async -> Void)
    async throws
  {
    let updates = peerUpdates()
    await update(peerAddresses)
    for await addresses in updates { await update(addresses) }
  }

  /// The addresses of the peer pods set last.
  public func addresses(_ selector: PodSelector) async throws -> [IPPrefix] { peerAddresses }
}
