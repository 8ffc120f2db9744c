import Foundation

/// Polls `condition` every 20 ms for up to `seconds`, blocking the calling thread (the VM suites watch
/// child processes and files this way); the time it took, or nil when it never held.
public func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Double? {
  let start = Date()
  while Date().timeIntervalSince(start) < seconds {
    if condition() { return Date().timeIntervalSince(start) }
    Thread.sleep(forTimeInterval: 0.02)
  }
  return nil
}
