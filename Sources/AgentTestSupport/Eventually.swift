import Foundation

/// Waits until `condition` holds, checking every millisecond of real time for up to `timeout`;
/// returns whether it came to hold. The agent works in its own tasks: a test advances the manual
/// clock, then waits for the effect here instead of sleeping a guessed amount. The timeout only
/// bounds a failing test (a passing one returns as soon as the condition holds), so it is generous:
/// on a 2-core machine busy with builds a task can wait seconds for a thread.
public func eventually(
  timeout: Duration = .seconds(30), _ condition: @Sendable () async -> Bool
) async -> Bool {
  let clock = ContinuousClock()
  let end = clock.now + timeout
  while clock.now < end {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(1))
  }
  return await condition()
}
