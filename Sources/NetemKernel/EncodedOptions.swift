import FaultModel
import Synchronization

/// netem's `TCA_OPTIONS` for each fault, encoded once.
///
/// A window applies the same fault again and again (the first apply, re-applies after drift, every
/// pod of a fan-out), and with jitter its options carry an 8 KiB distribution table: building that
/// message part once per fault, not once per apply, leaves an apply only the copy into the request.
final class EncodedOptions: Sendable {
  /// The process's encodings.
  static let shared = EncodedOptions()

  /// How many faults are kept; more distinct faults than a node runs at once (one per profile window).
  static let capacity = 256

  private let encoded = Mutex<[NetemFault: [UInt8]]>([:])

  /// `parameters.encodedOptions()`, for the validated `fault` they were made from.
  func options(for fault: NetemFault, _ parameters: NetemParameters) -> [UInt8] {
    if let known = encoded.withLock({ $0[fault] }) { return known }
    let bytes = parameters.encodedOptions()
    encoded.withLock { table in
      if table.count >= Self.capacity { table.removeAll() }
      table[fault] = bytes
    }
    return bytes
  }
}
