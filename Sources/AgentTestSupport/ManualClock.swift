import FaultAgent
import Foundation
import Synchronization

/// A clock that moves only when the test says so: sleepers wake when ``advance(by:)`` passes their
/// deadline, in deadline order.
public final class ManualClock: AgentClock {
  private struct Sleeper {
    var id: Int
    var deadline: Date
    var continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var now: Date
    var sleepers: [Sleeper] = []
    var nextID = 0
  }

  private let state: Mutex<State>

  /// A clock reading `now`.
  public init(now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
    state = Mutex(State(now: now))
  }

  /// The wall-clock time now.
  public var now: Date { state.withLock { $0.now } }

  /// How many tasks sleep on this clock now.
  public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

  /// How many sleeps have started so far (a loop that went back to sleep has started one more).
  public var sleepsStarted: Int { state.withLock { $0.nextID } }

  /// Suspends until `deadline`, or throws `CancellationError` when the task is cancelled first.
  public func sleep(until deadline: Date) async throws {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let result: Result<Void, any Error>? = state.withLock { state in
          if Task.isCancelled { return .failure(CancellationError()) }
          if deadline <= state.now { return .success(()) }
          state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
          return nil
        }
        if let result { continuation.resume(with: result) }
      }
    } onCancel: {
      let sleeper = state.withLock { state -> Sleeper? in
        guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
        return state.sleepers.remove(at: index)
      }
      sleeper?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Moves time forward by `duration`, waking every sleeper whose deadline has come; returns how
  /// many woke.
  @discardableResult
  public func advance(by duration: Duration) -> Int {
    advance(to: now.adding(duration))
  }

  /// Moves time to `date` (never backwards), waking every sleeper whose deadline has come; returns
  /// how many woke.
  @discardableResult
  public func advance(to date: Date) -> Int {
    let due = state.withLock { state -> [Sleeper] in
      state.now = max(state.now, date)
      let now = state.now
      let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
      state.sleepers.removeAll { $0.deadline <= now }
      return due
    }
    for sleeper in due { sleeper.continuation.resume() }
    return due.count
  }
}
