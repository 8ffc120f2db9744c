/// The shape of the random delay added on top of `delay` (`tc … delay D J distribution NAME`).
public enum DelayDistribution: String, Sendable, Hashable, Codable, CaseIterable {
  /// Evenly spread over `delay ± jitter` (netem's default shape, sent as an explicit table).
  case uniform
  /// Normal (Gaussian) with standard deviation `jitter`.
  case normal
  /// Pareto: a long tail of large delays.
  case pareto
  /// A mix of Pareto and normal, as iproute2's `paretonormal` table.
  case paretonormal
}

/// The 4-state Markov loss model (`tc … loss state P13 [P31 [P32 [P23 [P14]]]]`).
public struct LossStateModel: Sendable, Hashable, Codable {
  /// Probability of going from good reception to the burst-loss state.
  public var p13: Percent
  /// Probability of leaving burst loss for good reception (default 100% - p13).
  public var p31: Percent
  /// Probability of going from burst loss to isolated loss (default 0).
  public var p32: Percent
  /// Probability of going from isolated loss back to burst loss (default 100%).
  public var p23: Percent
  /// Probability of an isolated loss during good reception (default 0).
  public var p14: Percent

  /// The model with `tc`'s defaults for the probabilities not given.
  public init(p13: Percent, p31: Percent? = nil, p32: Percent = 0, p23: Percent = 100, p14: Percent = 0) {
    self.p13 = p13
    self.p31 = p31 ?? Percent(100 - p13.value)
    self.p32 = p32
    self.p23 = p23
    self.p14 = p14
  }
}

/// The Gilbert-Elliott loss model (`tc … loss gemodel P [R [1-H [1-K]]]`).
public struct GilbertElliottModel: Sendable, Hashable, Codable {
  /// Probability of moving from the good to the bad state.
  public var p: Percent
  /// Probability of moving from the bad to the good state (default 100% - p).
  public var r: Percent
  /// Loss probability in the bad state, written `1-h` (default 100%: every packet in the bad state is lost).
  public var oneMinusH: Percent
  /// Loss probability in the good state, written `1-k` (default 0).
  public var oneMinusK: Percent

  /// The model with `tc`'s defaults for the probabilities not given.
  public init(p: Percent, r: Percent? = nil, oneMinusH: Percent = 100, oneMinusK: Percent = 0) {
    self.p = p
    self.r = r ?? Percent(100 - p.value)
    self.oneMinusH = oneMinusH
    self.oneMinusK = oneMinusK
  }
}

/// A bandwidth limit with the framing overheads `tc` lets you state.
public struct RateLimit: Sendable, Hashable, Codable {
  /// The rate.
  public var rate: Bandwidth
  /// Bytes added to (or, negative, removed from) every packet's size.
  public var packetOverhead: Int32
  /// Link-layer cell size in bytes (e.g. 53 for ATM), 0 for none.
  public var cellSize: UInt32
  /// Bytes added to every cell.
  public var cellOverhead: Int32

  /// A limit of `rate` with the given overheads.
  public init(rate: Bandwidth, packetOverhead: Int32 = 0, cellSize: UInt32 = 0, cellOverhead: Int32 = 0) {
    self.rate = rate
    self.packetOverhead = packetOverhead
    self.cellSize = cellSize
    self.cellOverhead = cellOverhead
  }
}

/// Slotting: packets leave in bursts at intervals between `min` and `max` (`tc … slot MIN [MAX]`).
public struct SlotConfig: Sendable, Hashable, Codable {
  /// Shortest interval between slots.
  public var min: Duration
  /// Longest interval between slots (equals `min` when not given).
  public var max: Duration
  /// Most packets sent in one slot (nil: unlimited).
  public var packets: Int32?
  /// Most bytes sent in one slot (nil: unlimited).
  public var bytes: Int32?

  /// Slots every `min` to `max`.
  public init(min: Duration, max: Duration? = nil, packets: Int32? = nil, bytes: Int32? = nil) {
    self.min = min
    self.max = max ?? min
    self.packets = packets
    self.bytes = bytes
  }
}

/// A netem fault in human units: the desired state of one interface's root qdisc.
///
/// Every field has the meaning of the `tc qdisc add … netem` option of the same name. Fields left at
/// their zero value are off. Build one from flag-style keys with ``set(_:to:)`` and check it with
/// ``validated()``; ``NetemKernel`` turns it into kernel units.
public struct NetemFault: Sendable, Hashable, Codable {
  /// Added delay (`delay`).
  public var delay: Duration = .zero
  /// Random variation of the delay (`delay D JITTER`).
  public var jitter: Duration = .zero
  /// Correlation of successive jitter values (`delay D J CORR`).
  public var delayCorrelation: Percent = .zero
  /// Shape of the jitter (`distribution`).
  public var distribution: DelayDistribution?
  /// Independent random loss (`loss random P`).
  public var loss: Percent = .zero
  /// Correlation of successive losses (`loss P CORR`).
  public var lossCorrelation: Percent = .zero
  /// The 4-state loss model (`loss state …`).
  public var lossState: LossStateModel?
  /// The Gilbert-Elliott loss model (`loss gemodel …`).
  public var lossGemodel: GilbertElliottModel?
  /// Packet duplication (`duplicate P`).
  public var duplicate: Percent = .zero
  /// Correlation of duplication (`duplicate P CORR`).
  public var duplicateCorrelation: Percent = .zero
  /// Single-bit corruption (`corrupt P`).
  public var corrupt: Percent = .zero
  /// Correlation of corruption (`corrupt P CORR`).
  public var corruptCorrelation: Percent = .zero
  /// Packets sent immediately, ahead of delayed ones (`reorder P`).
  public var reorder: Percent = .zero
  /// Correlation of reordering (`reorder P CORR`).
  public var reorderCorrelation: Percent = .zero
  /// Reorder every Nth packet (`gap N`); 1 when reordering without a gap.
  public var gap: UInt32 = 0
  /// Bandwidth limit (`rate …`).
  public var rate: RateLimit?
  /// Slotting (`slot …`).
  public var slot: SlotConfig?
  /// Mark ECN-capable packets instead of dropping them (`ecn`).
  public var ecn: Bool = false
  /// Queue limit in packets (`limit N`, default 1000).
  public var limit: UInt32 = 1000

  /// An empty fault; set fields, then call ``validated()``.
  public init() {}

  /// The keys ``set(_:to:)`` accepts: the CLI's flag names, also used in profile files.
  public static let keys: [String] = [
    "delay", "jitter", "correlation", "distribution", "loss", "loss-correlation", "loss-state",
    "loss-gemodel", "duplicate", "duplicate-correlation", "corrupt", "corrupt-correlation", "reorder",
    "reorder-correlation", "gap", "rate", "slot", "ecn", "limit",
  ]

  /// Sets the field named by a CLI flag name (`delay`, `loss-correlation`, …) from its text form.
  public mutating func set(_ key: String, to text: String) throws(FaultError) {
    do {
      switch key {
      case "delay": delay = try parseGoDuration(text)
      case "jitter": jitter = try parseGoDuration(text)
      case "correlation", "delay-correlation": delayCorrelation = try Percent(parsing: text)
      case "distribution": distribution = try DelayDistribution(parsing: text)
      case "loss": loss = try Percent(parsing: text)
      case "loss-correlation": lossCorrelation = try Percent(parsing: text)
      case "loss-state": lossState = try LossStateModel(parsing: text)
      case "loss-gemodel": lossGemodel = try GilbertElliottModel(parsing: text)
      case "duplicate": duplicate = try Percent(parsing: text)
      case "duplicate-correlation": duplicateCorrelation = try Percent(parsing: text)
      case "corrupt": corrupt = try Percent(parsing: text)
      case "corrupt-correlation": corruptCorrelation = try Percent(parsing: text)
      case "reorder": reorder = try Percent(parsing: text)
      case "reorder-correlation": reorderCorrelation = try Percent(parsing: text)
      case "gap": gap = try Self.count(text, field: key)
      case "rate": rate = try RateLimit(parsing: text)
      case "slot": slot = try SlotConfig(parsing: text)
      case "ecn":
        switch text.lowercased() {
        case "true", "yes", "on", "1", "": ecn = true
        case "false", "no", "off", "0": ecn = false
        default: throw FaultError.invalid(key, text, "expected true or false")
        }
      case "limit": limit = try Self.count(text, field: key)
      default:
        throw FaultError.unknownKey(key, suggestion: closestMatch(to: key, in: Self.keys))
      }
    } catch let error as FaultError {
      throw error
    } catch let error as UnitParseError {
      throw FaultError.invalid(key, text, error.description)
    } catch let error as DurationParseError {
      throw FaultError.invalid(key, text, error.description)
    } catch {
      throw FaultError.invalid(key, text, "\(error)")
    }
  }

  /// Whether any fault is set (a `limit` or `ecn` alone is not a fault).
  public var isEmpty: Bool {
    delay == .zero && loss.isZero && lossState == nil && lossGemodel == nil && duplicate.isZero
      && corrupt.isZero && reorder.isZero && rate == nil && slot == nil
  }

  /// Checks the combination as `tc` would, and fills in implied values (`gap` 1 when reordering).
  ///
  /// - Throws: ``FaultError`` naming the offending field and what is allowed.
  public func validated() throws(FaultError) -> NetemFault {
    var fault = self
    if jitter > .zero && delay == .zero {
      throw FaultError.invalid("jitter", jitter.goDescription, "jitter needs a delay; set delay as well")
    }
    if jitter > .nanoseconds(Int64(Int32.max)) {
      throw FaultError.invalid("jitter", jitter.goDescription, "the kernel caps jitter at 2.147s")
    }
    if fault.isEmpty {
      throw FaultError.empty()
    }
    if distribution != nil && (delay == .zero || jitter == .zero) {
      throw FaultError.invalid(
        "distribution", distribution!.rawValue, "a distribution needs both delay and jitter")
    }
    let lossModels = [!loss.isZero, lossState != nil, lossGemodel != nil].filter { $0 }.count
    if lossModels > 1 {
      throw FaultError.invalid("loss", loss.description, "use only one of loss, loss-state and loss-gemodel")
    }
    let correlations: [(String, Percent, Percent, String)] = [
      ("loss-correlation", lossCorrelation, loss, "loss"),
      ("duplicate-correlation", duplicateCorrelation, duplicate, "duplicate"),
      ("corrupt-correlation", corruptCorrelation, corrupt, "corrupt"),
      ("reorder-correlation", reorderCorrelation, reorder, "reorder"),
    ]
    for (name, correlation, base, baseName) in correlations where !correlation.isZero && base.isZero {
      throw FaultError.invalid(name, correlation.description, "\(name) needs \(baseName) to be set")
    }
    if !reorder.isZero {
      if delay == .zero {
        throw FaultError.invalid(
          "reorder", reorder.description, "reordering needs a delay; set delay as well")
      }
      if fault.gap == 0 { fault.gap = 1 }
    } else if gap != 0 {
      throw FaultError.invalid("gap", String(gap), "gap needs reorder to be set")
    }
    if ecn && lossModels == 0 {
      throw FaultError.invalid("ecn", "true", "ecn marks instead of dropping, so it needs a loss setting")
    }
    if let slot {
      if slot.min < .zero || slot.max < slot.min {
        throw FaultError.invalid("slot", slot.min.goDescription, "slot needs 0 ≤ MIN ≤ MAX")
      }
    }
    return fault
  }

  /// `delay=500ms jitter=100ms correlation=50% loss=1%`: the set fields as `key=value` in flag names.
  public var summary: String {
    var parts: [String] = []
    func add(_ key: String, _ value: String) { parts.append("\(key)=\(value)") }
    if delay != .zero { add("delay", delay.goDescription) }
    if jitter != .zero { add("jitter", jitter.goDescription) }
    if !delayCorrelation.isZero { add("correlation", delayCorrelation.description) }
    if let distribution { add("distribution", distribution.rawValue) }
    if !loss.isZero { add("loss", loss.description) }
    if !lossCorrelation.isZero { add("loss-correlation", lossCorrelation.description) }
    if let m = lossState {
      add("loss-state", [m.p13, m.p31, m.p32, m.p23, m.p14].map(\.description).joined(separator: ","))
    }
    if let m = lossGemodel {
      add("loss-gemodel", [m.p, m.r, m.oneMinusH, m.oneMinusK].map(\.description).joined(separator: ","))
    }
    if !duplicate.isZero { add("duplicate", duplicate.description) }
    if !duplicateCorrelation.isZero { add("duplicate-correlation", duplicateCorrelation.description) }
    if !corrupt.isZero { add("corrupt", corrupt.description) }
    if !corruptCorrelation.isZero { add("corrupt-correlation", corruptCorrelation.description) }
    if !reorder.isZero { add("reorder", reorder.description) }
    if !reorderCorrelation.isZero { add("reorder-correlation", reorderCorrelation.description) }
    if gap != 0 { add("gap", String(gap)) }
    if let rate {
      var text = rate.rate.description
      if rate.packetOverhead != 0 || rate.cellSize != 0 || rate.cellOverhead != 0 {
        text += ",\(rate.packetOverhead),\(rate.cellSize),\(rate.cellOverhead)"
      }
      add("rate", text)
    }
    if let slot {
      var text = "\(slot.min.goDescription),\(slot.max.goDescription)"
      if let packets = slot.packets { text += ",packets=\(packets)" }
      if let bytes = slot.bytes { text += ",bytes=\(bytes)" }
      add("slot", text)
    }
    if ecn { add("ecn", "true") }
    if limit != 1000 { add("limit", String(limit)) }
    return parts.joined(separator: " ")
  }
}

private func percents(_ text: String, key: String, count: ClosedRange<Int>) throws(FaultError) -> [Percent] {
  let items = text.split(separator: ",", omittingEmptySubsequences: false).map {
    $0.trimmingCharacters(in: .whitespaces)
  }
  guard count.contains(items.count) else {
    throw FaultError.invalid(
      key, text, "expected \(count.lowerBound) to \(count.upperBound) comma-separated percentages")
  }
  var result: [Percent] = []
  for item in items {
    do { result.append(try Percent(parsing: item)) } catch {
      throw FaultError.invalid(key, text, error.description)
    }
  }
  return result
}

private func integer<T: FixedWidthInteger>(_ text: String, key: String, range: ClosedRange<T>)
  throws(FaultError)
  -> T
{
  guard let value = T(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
    throw FaultError.invalid(
      key, text, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
  }
  return value
}

extension DelayDistribution {
  /// Parses a distribution name, case-insensitively (`--distribution`, `distribution:`).
  public init(parsing text: String) throws(FaultError) {
    guard let value = DelayDistribution(rawValue: text.lowercased()) else {
      throw FaultError.invalid(
        "distribution", text,
        "unknown distribution; allowed: \(DelayDistribution.allCases.map(\.rawValue).joined(separator: ", "))"
      )
    }
    self = value
  }
}

extension LossStateModel {
  /// Parses `P13[,P31,P32,P23,P14]` (`--loss-state`, `loss-state:`), with `tc`'s defaults.
  public init(parsing text: String) throws(FaultError) {
    let p = try percents(text, key: "loss-state", count: 1...5)
    self.init(
      p13: p[0], p31: p.count > 1 ? p[1] : nil, p32: p.count > 2 ? p[2] : 0, p23: p.count > 3 ? p[3] : 100,
      p14: p.count > 4 ? p[4] : 0)
  }
}

extension GilbertElliottModel {
  /// Parses `P[,R,1-H,1-K]` (`--loss-gemodel`, `loss-gemodel:`), with `tc`'s defaults.
  public init(parsing text: String) throws(FaultError) {
    let p = try percents(text, key: "loss-gemodel", count: 1...4)
    self.init(
      p: p[0], r: p.count > 1 ? p[1] : nil, oneMinusH: p.count > 2 ? p[2] : 100,
      oneMinusK: p.count > 3 ? p[3] : 0)
  }
}

extension RateLimit {
  /// Parses `RATE[,PACKET-OVERHEAD,CELL-SIZE,CELL-OVERHEAD]` as `tc` writes it (`1mbit`, `100kbit,14`).
  public init(parsing text: String) throws(FaultError) {
    let key = "rate"
    let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    guard (1...4).contains(items.count) else {
      throw FaultError.invalid(key, text, "expected RATE[,PACKET-OVERHEAD,CELL-SIZE,CELL-OVERHEAD]")
    }
    let rate: Bandwidth
    do { rate = try Bandwidth(parsing: items[0]) } catch {
      throw FaultError.invalid(key, text, error.description)
    }
    self.init(rate: rate)
    if items.count > 1 { packetOverhead = try integer(items[1], key: key, range: Int32.min...Int32.max) }
    if items.count > 2 { cellSize = try integer(items[2], key: key, range: 0...UInt32.max) }
    if items.count > 3 { cellOverhead = try integer(items[3], key: key, range: Int32.min...Int32.max) }
  }
}

extension SlotConfig {
  /// Parses `MIN[,MAX][,packets=N][,bytes=N]` (`10ms,20ms,packets=4`).
  public init(parsing text: String) throws(FaultError) {
    let key = "slot"
    var times: [Duration] = []
    var packets: Int32?
    var bytes: Int32?
    for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
      if item.hasPrefix("packets=") {
        packets = try integer(String(item.dropFirst(8)), key: key, range: 1...Int32.max)
      } else if item.hasPrefix("bytes=") {
        bytes = try integer(String(item.dropFirst(6)), key: key, range: 1...Int32.max)
      } else {
        do { times.append(try parseGoDuration(item)) } catch {
          throw FaultError.invalid(key, text, error.description)
        }
      }
    }
    guard (1...2).contains(times.count) else {
      throw FaultError.invalid(key, text, "expected MIN[,MAX][,packets=N][,bytes=N], e.g. 10ms,20ms")
    }
    self.init(min: times[0], max: times.count > 1 ? times[1] : nil, packets: packets, bytes: bytes)
  }
}

extension NetemFault {
  /// Parses a packet count of at least 1 (`gap`, `limit`).
  public static func count(_ text: String, field: String) throws(FaultError) -> UInt32 {
    try integer(text, key: field, range: 1...UInt32.max)
  }
}

/// The known word closest to `word` (edit distance ≤ 3), to suggest in "unknown field" errors.
public func closestMatch(to word: String, in candidates: [String]) -> String? {
  func distance(_ a: [Character], _ b: [Character]) -> Int {
    var previous = Array(0...b.count)
    for (i, x) in a.enumerated() {
      var current = [i + 1]
      for (j, y) in b.enumerated() {
        current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
      }
      previous = current
    }
    return previous[b.count]
  }
  let target = Array(word.lowercased())
  let scored = candidates.map { ($0, distance(target, Array($0.lowercased()))) }
  guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= Swift.max(2, Swift.min(3, word.count / 3))
  else {
    return nil
  }
  return best.0
}
