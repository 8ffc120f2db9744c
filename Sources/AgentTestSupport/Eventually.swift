import Foundation

/// Waits until `condition` holds, checking every millisecond of real time for up to `timeout`;
/// returns whether it came to hold. The agent works in its own tasks: a test advances the manual
/// clock, then waits for the effect here instead of sleeping a guessed amount.
public func eventually(
  timeout: Duration = .seconds(5), _ condition: @Sendable () async -> Bool
) async -> Bool {
  let clock = ContinuousClock()
  let end = clock.now + timeout
  while clock.now < end {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(1))
  }
  return await condition()
}
