import AsyncHTTPClient
import Logging
import NIOCore

/// The pods a watch currently sees, after one change.
public struct PodSetUpdate: Sendable, Hashable {
  /// What happened.
  public enum Change: Sendable, Hashable {
    /// The set was (re)listed: at the start, and after the server expired the resource version
    /// (410 Gone). Compare ``PodSetUpdate/pods`` with the previous set.
    case listed
    /// A pod started to match.
    case added(Pod)
    /// A matching pod changed (phase, labels that still match, …).
    case modified(Pod)
    /// A pod was deleted or stopped matching (it is no longer in ``PodSetUpdate/pods``).
    case deleted(Pod)
  }

  /// The change that produced this set.
  public var change: Change
  /// Every pod that matches the query now, sorted by namespace and name.
  public var pods: [Pod]
  /// The resource version the set is current at.
  public var resourceVersion: String

  /// An update of `pods` at `resourceVersion` after `change`.
  public init(change: Change, pods: [Pod], resourceVersion: String) {
    self.change = change
    self.pods = pods
    self.resourceVersion = resourceVersion
  }
}

/// A Kubernetes list-then-watch of pods, as an `AsyncSequence` of ``PodSetUpdate``.
///
/// The first element is the initial list (``PodSetUpdate/Change/listed``); then one element per
/// `ADDED`, `MODIFIED` or `DELETED` event that changes the set. Underneath:
/// - the watch is `GET …?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=…`,
///   newline-delimited JSON; `BOOKMARK`s advance the resource version silently;
/// - when the server ends the stream (its timeout), the watch reconnects from the last version;
/// - `ERROR` with code 410 (Gone), or an HTTP 410, means the version expired: list again and yield
///   a fresh `.listed` set;
/// - a failed request, a broken stream or an `ERROR` event other than 410 is retried with capped
///   exponential backoff and jitter (logged as a warning).
///
/// Only the *first* list throws (misconfiguration surfaces at once); later failures are retried
/// until the consuming task is cancelled, which ends the sequence by throwing `CancellationError`.
/// Work happens only inside `next()`: no background tasks.
public struct PodWatch: AsyncSequence, Sendable {
  /// One set of pods after a change.
  public typealias Element = PodSetUpdate

  let client: KubeAPIClient
  let query: PodQuery

  /// The pull-based state machine behind the sequence.
  public struct AsyncIterator: AsyncIteratorProtocol {
    let client: KubeAPIClient
    let query: PodQuery
    var logger: Logger
    var pods: [String: Pod] = [:]
    var resourceVersion = ""
    var needsList = true
    var hasListed = false
    var stream: HTTPClientResponse.Body.AsyncIterator?
    var streamOpened = ContinuousClock.now
    var buffer: [UInt8] = []
    /// Consecutive failures (failed requests, broken streams, `ERROR` events other than 410); any
    /// other event resets it.
    var failures = 0
    /// Set by an `ERROR` event other than 410: the reconnect waits for the backoff first.
    var backOffBeforeReconnect = false
    /// How the iterator waits before a retry (tests record the delays instead of sleeping).
    var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }

    init(client: KubeAPIClient, query: PodQuery, logger: Logger) {
      self.client = client
      self.query = query
      self.logger = logger
    }

    /// The next set of pods after a change.
    public mutating func next() async throws -> PodSetUpdate? {
      while true {
        try Task.checkCancellation()
        if needsList {
          do {
            let list = try await client.listPods(query)
            pods = Dictionary(list.items.map { ($0.uid, $0) }, uniquingKeysWith: { $1 })
            resourceVersion = list.resourceVersion
            needsList = false
            hasListed = true
            failures = 0
            stream = nil
            return update(.listed)
          } catch is CancellationError {
            throw CancellationError()
          } catch {
            guard hasListed else { throw error }
            logger.warning("pod list failed; retrying", metadata: ["query": "\(query)", "error": "\(error)"])
            try await backOff()
            continue
          }
        }
        if stream == nil {
          if backOffBeforeReconnect {
            backOffBeforeReconnect = false
            try await backOff()
          }
          do {
            let body = try await client.openWatch(query, resourceVersion: resourceVersion)
            stream = body.makeAsyncIterator()
            streamOpened = .now
            buffer = []
            logger.debug(
              "pod watch opened", metadata: ["query": "\(query)", "resourceVersion": "\(resourceVersion)"])
          } catch is CancellationError {
            throw CancellationError()
          } catch let error as KubeTargetsError where error.httpStatus == 410 {
            logger.info(
              "pod watch: resource version expired (410); listing again", metadata: ["query": "\(query)"])
            needsList = true
            continue
          } catch {
            logger.warning(
              "pod watch failed; retrying", metadata: ["query": "\(query)", "error": "\(error)"])
            try await backOff()
            continue
          }
        }
        let line: [UInt8]?
        do {
          line = try await readLine()
        } catch is CancellationError {
          throw CancellationError()
        } catch {
          logger.warning(
            "pod watch stream broke; reconnecting", metadata: ["query": "\(query)", "error": "\(error)"])
          stream = nil
          try await backOff()
          continue
        }
        guard let line else {
          // The server ended the stream (timeoutSeconds): reconnect from the last version, after a
          // pause if it ended at once (so a misbehaving server is not hammered).
          stream = nil
          if ContinuousClock.now - streamOpened < .seconds(1) { try await backOff() }
          continue
        }
        if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
        let event: PodWatchEvent
        do {
          event = try PodWatchEvent(json: line)
        } catch {
          logger.warning(
            "pod watch: undecodable event; reconnecting",
            metadata: ["error": "\(error)", "line": "\(String(decoding: line.prefix(200), as: UTF8.self))"])
          stream = nil
          try await backOff()
          continue
        }
        if case .error = event {} else { failures = 0 }
        if let update = apply(event) { return update }
      }
    }

    /// Updates the set for `event`; the update to yield, or nil when the set did not change.
    mutating func apply(_ event: PodWatchEvent) -> PodSetUpdate? {
      switch event {
      case .added(let pod), .modified(let pod):
        if !pod.resourceVersion.isEmpty { resourceVersion = pod.resourceVersion }
        if query.matches(pod) {
          let previous = pods.updateValue(pod, forKey: pod.uid)
          if previous == pod { return nil }
          return update(previous == nil ? .added(pod) : .modified(pod))
        }
        guard pods.removeValue(forKey: pod.uid) != nil else { return nil }
        return update(.deleted(pod))
      case .deleted(let pod):
        if !pod.resourceVersion.isEmpty { resourceVersion = pod.resourceVersion }
        guard pods.removeValue(forKey: pod.uid) != nil else { return nil }
        return update(.deleted(pod))
      case .bookmark(let version):
        if !version.isEmpty { resourceVersion = version }
        return nil
      case .error(let code, let reason, let message):
        stream = nil
        if code == 410 {
          logger.info(
            "pod watch: resource version expired (410 \(reason)); listing again",
            metadata: ["query": "\(query)"])
          needsList = true
        } else {
          logger.warning(
            "pod watch: error event \(code) \(reason): \(message); reconnecting after a backoff",
            metadata: ["query": "\(query)"])
          backOffBeforeReconnect = true
        }
        return nil
      }
    }

    private func update(_ change: PodSetUpdate.Change) -> PodSetUpdate {
      PodSetUpdate(
        change: change, pods: pods.values.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) },
        resourceVersion: resourceVersion)
    }

    /// The next line of the stream without its newline; nil at the end of the stream.
    private mutating func readLine() async throws -> [UInt8]? {
      while true {
        if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
          let line = Array(buffer[..<newline])
          buffer.removeSubrange(...newline)
          return line
        }
        guard let chunk = try await stream?.next() else {
          defer { buffer = [] }
          return buffer.isEmpty ? nil : buffer
        }
        buffer += chunk.readableBytesView
        if buffer.count > 64 << 20 {
          throw KubeTargetsError.invalidResponse(client.configuration.baseURL, "a watch event over 64 MiB")
        }
      }
    }

    /// Sleeps before a retry (``retryDelay(failures:initial:maximum:jitter:)``) and counts the failure.
    private mutating func backOff() async throws {
      let configuration = client.configuration
      let delay = PodWatch.retryDelay(
        failures: failures, initial: configuration.initialBackoff, maximum: configuration.maximumBackoff,
        jitter: Double.random(in: 0.8...1.2))
      failures += 1
      try await sleep(delay)
    }
  }

  /// The wait before a retry after `failures` consecutive failures: `initial · 2^failures`, capped at
  /// `maximum`, times `jitter` (the iterator draws it from 0.8…1.2 so that agents on many nodes do
  /// not reconnect to the API server in step).
  static func retryDelay(failures: Int, initial: Duration, maximum: Duration, jitter: Double) -> Duration {
    let factor = Double(1 << Swift.min(Swift.max(failures, 0), 20))
    return Swift.min(initial * factor, maximum) * jitter
  }

  /// Starts the list-then-watch; nothing is sent before the first `next()`.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(client: client, query: query, logger: client.logger)
  }
}
