import FaultModel

/// A netem configuration in kernel units, exactly as `net/sched/sch_netem.c` reads and dumps it.
///
/// Probabilities are fractions of 2^32 - 1, times are nanoseconds, the rate is bytes per second.
/// ``init(_:distribution:)`` is the one place where the human-unit ``NetemFault`` becomes kernel units;
/// ``encodedOptions()`` lays it out as the `TCA_OPTIONS` payload (`struct tc_netem_qopt` followed by
/// `TCA_NETEM_*` attributes) and ``init(decodingOptions:)`` reads a dump back.
public struct NetemParameters: Sendable, Hashable {
  /// The loss model (`TCA_NETEM_LOSS`), random when absent.
  public enum LossModel: Sendable, Hashable {
    /// Independent loss with `loss` and `lossCorrelation`.
    case random
    /// 4-state Markov (`NETEM_LOSS_GI`): p13, p31, p32, p14, p23.
    case states(p13: UInt32, p31: UInt32, p32: UInt32, p14: UInt32, p23: UInt32)
    /// Gilbert-Elliott (`NETEM_LOSS_GE`): p, r, h (the kernel's h: `tc`'s `1-h` is 100% - h), k1 (`1-k`).
    case gilbertElliott(p: UInt32, r: UInt32, h: UInt32, k1: UInt32)
  }

  /// `TCA_NETEM_LATENCY64` (ns).
  public var latency: Int64 = 0
  /// `TCA_NETEM_JITTER64` (ns).
  public var jitter: Int64 = 0
  /// `tc_netem_qopt.limit` (packets).
  public var limit: UInt32 = 1000
  /// `tc_netem_qopt.loss`.
  public var loss: UInt32 = 0
  /// `tc_netem_qopt.gap`.
  public var gap: UInt32 = 0
  /// `tc_netem_qopt.duplicate`.
  public var duplicate: UInt32 = 0
  /// `tc_netem_corr.delay_corr`.
  public var delayCorrelation: UInt32 = 0
  /// `tc_netem_corr.loss_corr`.
  public var lossCorrelation: UInt32 = 0
  /// `tc_netem_corr.dup_corr`.
  public var duplicateCorrelation: UInt32 = 0
  /// `tc_netem_reorder.probability`.
  public var reorder: UInt32 = 0
  /// `tc_netem_reorder.correlation`.
  public var reorderCorrelation: UInt32 = 0
  /// `tc_netem_corrupt.probability`.
  public var corrupt: UInt32 = 0
  /// `tc_netem_corrupt.correlation`.
  public var corruptCorrelation: UInt32 = 0
  /// The loss model.
  public var lossModel: LossModel = .random
  /// Rate in bytes per second (`tc_netem_rate.rate`, `TCA_NETEM_RATE64` above 2^32 - 1).
  public var rate: UInt64 = 0
  /// `tc_netem_rate.packet_overhead`.
  public var packetOverhead: Int32 = 0
  /// `tc_netem_rate.cell_size`.
  public var cellSize: UInt32 = 0
  /// `tc_netem_rate.cell_overhead`.
  public var cellOverhead: Int32 = 0
  /// `TCA_NETEM_ECN`.
  public var ecn: Bool = false
  /// `tc_netem_slot.min_delay` (ns).
  public var slotMin: Int64 = 0
  /// `tc_netem_slot.max_delay` (ns).
  public var slotMax: Int64 = 0
  /// `tc_netem_slot.max_packets` (0: unlimited).
  public var slotPackets: Int32 = 0
  /// `tc_netem_slot.max_bytes` (0: unlimited).
  public var slotBytes: Int32 = 0
  /// The delay distribution table (`TCA_NETEM_DELAY_DIST`); the kernel does not dump it.
  public var distribution: [Int16]?

  /// All zero: no fault.
  public init() {}

  /// Converts a validated fault to kernel units.
  ///
  /// - Parameter distribution: the table to send, which callers load with ``DistributionTable``.
  ///   Whenever there is jitter a table is sent (uniform by default) so that a table loaded by an
  ///   earlier version of the fault never survives a change in place.
  public init(_ fault: NetemFault, distribution: [Int16]?) {
    latency = fault.delay.nanoseconds
    jitter = fault.jitter.nanoseconds
    limit = fault.limit
    loss = Self.probability(fault.loss)
    gap = fault.gap
    duplicate = Self.probability(fault.duplicate)
    delayCorrelation = Self.probability(fault.delayCorrelation)
    lossCorrelation = Self.probability(fault.lossCorrelation)
    duplicateCorrelation = Self.probability(fault.duplicateCorrelation)
    reorder = Self.probability(fault.reorder)
    reorderCorrelation = Self.probability(fault.reorderCorrelation)
    corrupt = Self.probability(fault.corrupt)
    corruptCorrelation = Self.probability(fault.corruptCorrelation)
    if let m = fault.lossState {
      lossModel = .states(
        p13: Self.probability(m.p13), p31: Self.probability(m.p31), p32: Self.probability(m.p32),
        p14: Self.probability(m.p14), p23: Self.probability(m.p23))
    } else if let m = fault.lossGemodel {
      lossModel = .gilbertElliott(
        p: Self.probability(m.p), r: Self.probability(m.r),
        h: Self.probability(Percent(100 - m.oneMinusH.value)),
        k1: Self.probability(m.oneMinusK))
    }
    if let r = fault.rate {
      rate = r.rate.bitsPerSecond / 8
      packetOverhead = r.packetOverhead
      cellSize = r.cellSize
      cellOverhead = r.cellOverhead
    }
    ecn = fault.ecn
    if let s = fault.slot {
      slotMin = s.min.nanoseconds
      slotMax = s.max.nanoseconds
      slotPackets = s.packets ?? 0
      slotBytes = s.bytes ?? 0
    }
    self.distribution = jitter > 0 ? distribution : nil
  }

  /// Percent (0–100) to the kernel's 2^32 scale, rounded as `tc` does (`rint(p * UINT32_MAX)`).
  public static func probability(_ percent: Percent) -> UInt32 {
    let scaled = (percent.value / 100 * Double(UInt32.max)).rounded()
    return scaled >= Double(UInt32.max) ? .max : UInt32(max(0, scaled))
  }

  /// The kernel's 2^32 scale back to percent.
  public static func percent(_ probability: UInt32) -> Percent {
    Percent(Double(probability) * 100 / Double(UInt32.max))
  }

  // MARK: - Wire format

  /// `TCA_NETEM_*` attribute numbers (`include/uapi/linux/pkt_sched.h`).
  enum Attribute: UInt16 {
    case correlation = 1, delayDistribution, reorder, corrupt, loss, rate, ecn, rate64, pad, latency64,
      jitter64, slot, slotDistribution
  }

  /// Psched ticks per nanosecond shift (`PSCHED_SHIFT`): `tc_netem_qopt` times are in 64 ns ticks.
  static let pschedShift: Int64 = 6

  /// The `TCA_OPTIONS` payload: `tc_netem_qopt` then every attribute, so nothing stale survives a change.
  ///
  /// Equivalent to what `tc qdisc replace … netem …` sends, plus the fields `tc` leaves out when zero.
  public func encodedOptions() -> [UInt8] {
    var out = NetlinkWriter()
    let latencyTicks = UInt32(clamping: latency >> Self.pschedShift)
    let jitterTicks = UInt32(clamping: jitter >> Self.pschedShift)
    for field in [latencyTicks, limit, loss, gap, duplicate, jitterTicks] { out.append(field) }
    out.attribute(Attribute.correlation.rawValue) { w in
      w.append(delayCorrelation)
      w.append(lossCorrelation)
      w.append(duplicateCorrelation)
    }
    if let distribution {
      out.attribute(Attribute.delayDistribution.rawValue) { w in w.append(contentsOf: distribution)
      }
    }
    out.attribute(Attribute.reorder.rawValue) { w in
      w.append(reorder)
      w.append(reorderCorrelation)
    }
    out.attribute(Attribute.corrupt.rawValue) { w in
      w.append(corrupt)
      w.append(corruptCorrelation)
    }
    switch lossModel {
    case .random: break
    case .states(let p13, let p31, let p32, let p14, let p23):
      out.attribute(Attribute.loss.rawValue) { w in
        w.attribute(1) { g in for v in [p13, p31, p32, p14, p23] { g.append(v) } }
      }
    case .gilbertElliott(let p, let r, let h, let k1):
      out.attribute(Attribute.loss.rawValue) { w in
        w.attribute(2) { g in for v in [p, r, h, k1] { g.append(v) } }
      }
    }
    out.attribute(Attribute.rate.rawValue) { w in
      w.append(rate >= 1 << 32 ? UInt32.max : UInt32(rate))
      w.append(packetOverhead)
      w.append(cellSize)
      w.append(cellOverhead)
    }
    if rate >= 1 << 32 { out.attribute(Attribute.rate64.rawValue) { $0.append(rate) } }
    out.attribute(Attribute.ecn.rawValue) { $0.append(UInt32(ecn ? 1 : 0)) }
    out.attribute(Attribute.latency64.rawValue) { $0.append(latency) }
    out.attribute(Attribute.jitter64.rawValue) { $0.append(jitter) }
    out.attribute(Attribute.slot.rawValue) { w in
      w.append(slotMin)
      w.append(slotMax)
      w.append(slotPackets)
      w.append(slotBytes)
      w.append(Int64(0))  // dist_delay
      w.append(Int64(0))  // dist_jitter
    }
    return out.bytes
  }

  /// Reads the `TCA_OPTIONS` payload of a netem qdisc dump.
  ///
  /// - Throws: ``KernelError`` when the payload is too short to be netem's.
  public init(decodingOptions bytes: [UInt8]) throws(KernelError) {
    let reader = NetlinkReader(bytes)
    guard bytes.count >= 24 else {
      throw KernelError.malformedReply("netem options are \(bytes.count) bytes, expected at least 24")
    }
    let latencyTicks = reader.u32(at: 0)
    limit = reader.u32(at: 4)
    loss = reader.u32(at: 8)
    gap = reader.u32(at: 12)
    duplicate = reader.u32(at: 16)
    let jitterTicks = reader.u32(at: 20)
    latency = Int64(latencyTicks) << Self.pschedShift
    jitter = Int64(jitterTicks) << Self.pschedShift
    var rate32: UInt32 = 0
    var rate64: UInt64?
    for (type, payload) in reader.attributes(from: 24) {
      let p = NetlinkReader(payload)
      switch Attribute(rawValue: type) {
      case .correlation where payload.count >= 12:
        delayCorrelation = p.u32(at: 0)
        lossCorrelation = p.u32(at: 4)
        duplicateCorrelation = p.u32(at: 8)
      case .reorder where payload.count >= 8:
        reorder = p.u32(at: 0)
        reorderCorrelation = p.u32(at: 4)
      case .corrupt where payload.count >= 8:
        corrupt = p.u32(at: 0)
        corruptCorrelation = p.u32(at: 4)
      case .loss:
        for (kind, model) in p.attributes(from: 0) {
          let m = NetlinkReader(model)
          if kind == 1 && model.count >= 20 {
            lossModel = .states(
              p13: m.u32(at: 0), p31: m.u32(at: 4), p32: m.u32(at: 8), p14: m.u32(at: 12), p23: m.u32(at: 16))
          } else if kind == 2 && model.count >= 16 {
            lossModel = .gilbertElliott(p: m.u32(at: 0), r: m.u32(at: 4), h: m.u32(at: 8), k1: m.u32(at: 12))
          }
        }
      case .rate where payload.count >= 16:
        rate32 = p.u32(at: 0)
        packetOverhead = Int32(bitPattern: p.u32(at: 4))
        cellSize = p.u32(at: 8)
        cellOverhead = Int32(bitPattern: p.u32(at: 12))
      case .rate64 where payload.count >= 8: rate64 = p.u64(at: 0)
      case .ecn where payload.count >= 4: ecn = p.u32(at: 0) != 0
      case .latency64 where payload.count >= 8: latency = Int64(bitPattern: p.u64(at: 0))
      case .jitter64 where payload.count >= 8: jitter = Int64(bitPattern: p.u64(at: 0))
      case .slot where payload.count >= 24:
        slotMin = Int64(bitPattern: p.u64(at: 0))
        slotMax = Int64(bitPattern: p.u64(at: 8))
        slotPackets = Int32(bitPattern: p.u32(at: 16))
        slotBytes = Int32(bitPattern: p.u32(at: 20))
        if slotPackets == Int32.max { slotPackets = 0 }
        if slotBytes == Int32.max { slotBytes = 0 }
      default: break
      }
    }
    rate = rate64 ?? UInt64(rate32)
  }

  /// The fields that differ between what was asked (`self`) and what the kernel reports (`applied`).
  ///
  /// The distribution table is not compared: the kernel does not dump it.
  public func mismatches(against applied: NetemParameters) -> [String] {
    var result: [String] = []
    func check<T: Equatable>(_ name: String, _ a: T, _ b: T) {
      if a != b { result.append("\(name): asked \(a), kernel has \(b)") }
    }
    check("latency_ns", latency, applied.latency)
    check("jitter_ns", jitter, applied.jitter)
    check("limit", limit, applied.limit)
    check("loss", loss, applied.loss)
    check("gap", gap, applied.gap)
    check("duplicate", duplicate, applied.duplicate)
    check("delay_correlation", delayCorrelation, applied.delayCorrelation)
    check("loss_correlation", lossCorrelation, applied.lossCorrelation)
    check("duplicate_correlation", duplicateCorrelation, applied.duplicateCorrelation)
    check("reorder", reorder, applied.reorder)
    check("reorder_correlation", reorderCorrelation, applied.reorderCorrelation)
    check("corrupt", corrupt, applied.corrupt)
    check("corrupt_correlation", corruptCorrelation, applied.corruptCorrelation)
    // Compared as values, described only when they differ (describing an enum goes through
    // reflection, which would dominate an apply's own work).
    check("loss_model", lossModel, applied.lossModel)
    check("rate_bytes_per_s", rate, applied.rate)
    check("packet_overhead", packetOverhead, applied.packetOverhead)
    check("cell_size", cellSize, applied.cellSize)
    check("cell_overhead", cellOverhead, applied.cellOverhead)
    check("ecn", ecn, applied.ecn)
    check("slot_min_ns", slotMin, applied.slotMin)
    check("slot_max_ns", slotMax, applied.slotMax)
    check("slot_packets", slotPackets, applied.slotPackets)
    check("slot_bytes", slotBytes, applied.slotBytes)
    return result
  }

  /// The fault in human units (the distribution cannot be recovered from a dump).
  public var fault: NetemFault {
    var f = NetemFault()
    f.delay = .nanoseconds(latency)
    f.jitter = .nanoseconds(jitter)
    f.limit = limit
    f.loss = Self.percent(loss)
    f.gap = gap
    f.duplicate = Self.percent(duplicate)
    f.delayCorrelation = Self.percent(delayCorrelation)
    f.lossCorrelation = Self.percent(lossCorrelation)
    f.duplicateCorrelation = Self.percent(duplicateCorrelation)
    f.reorder = Self.percent(reorder)
    f.reorderCorrelation = Self.percent(reorderCorrelation)
    f.corrupt = Self.percent(corrupt)
    f.corruptCorrelation = Self.percent(corruptCorrelation)
    switch lossModel {
    case .random: break
    case .states(let p13, let p31, let p32, let p14, let p23):
      f.lossState = LossStateModel(
        p13: Self.percent(p13), p31: Self.percent(p31), p32: Self.percent(p32), p23: Self.percent(p23),
        p14: Self.percent(p14))
    case .gilbertElliott(let p, let r, let h, let k1):
      f.lossGemodel = GilbertElliottModel(
        p: Self.percent(p), r: Self.percent(r), oneMinusH: Self.percent(UInt32.max - h),
        oneMinusK: Self.percent(k1))
    }
    if rate > 0 {
      f.rate = RateLimit(
        rate: Bandwidth(bitsPerSecond: rate * 8), packetOverhead: packetOverhead, cellSize: cellSize,
        cellOverhead: cellOverhead)
    }
    f.ecn = ecn
    if slotMin != 0 || slotMax != 0 {
      f.slot = SlotConfig(
        min: .nanoseconds(slotMin), max: .nanoseconds(slotMax), packets: slotPackets == 0 ? nil : slotPackets,
        bytes: slotBytes == 0 ? nil : slotBytes)
    }
    return f
  }

  /// The options as `tc qdisc show` prints them: `limit 1000 delay 100ms  10ms 25% loss 5%`.
  public var tcDescription: String {
    func pct(_ v: UInt32) -> String { Self.percent(v).description }
    var text = "limit \(limit)"
    if latency != 0 {
      text += " delay \(Duration.nanoseconds(latency).tcDescription)"
      if jitter != 0 {
        text += "  \(Duration.nanoseconds(jitter).tcDescription)"
        if delayCorrelation != 0 { text += " \(pct(delayCorrelation))" }
      }
    }
    if loss != 0 {
      text += " loss \(pct(loss))"
      if lossCorrelation != 0 { text += " \(pct(lossCorrelation))" }
    }
    switch lossModel {
    case .random: break
    case .states(let p13, let p31, let p32, let p14, let p23):
      text += " loss state p13 \(pct(p13)) p31 \(pct(p31)) p32 \(pct(p32)) p23 \(pct(p23)) p14 \(pct(p14))"
    case .gilbertElliott(let p, let r, let h, let k1):
      text += " loss gemodel p \(pct(p)) r \(pct(r)) 1-h \(pct(UInt32.max - h)) 1-k \(pct(k1))"
    }
    if duplicate != 0 {
      text += " duplicate \(pct(duplicate))"
      if duplicateCorrelation != 0 { text += " \(pct(duplicateCorrelation))" }
    }
    if reorder != 0 {
      text += " reorder \(pct(reorder))"
      if reorderCorrelation != 0 { text += " \(pct(reorderCorrelation))" }
    }
    if corrupt != 0 {
      text += " corrupt \(pct(corrupt))"
      if corruptCorrelation != 0 { text += " \(pct(corruptCorrelation))" }
    }
    if rate != 0 {
      text += " rate \(Bandwidth(bitsPerSecond: rate * 8))"
      if packetOverhead != 0 { text += " packetoverhead \(packetOverhead)" }
      if cellSize != 0 { text += " cellsize \(cellSize)" }
      if cellOverhead != 0 { text += " celloverhead \(cellOverhead)" }
    }
    if slotMin != 0 || slotMax != 0 {
      text +=
        " slot \(Duration.nanoseconds(slotMin).tcDescription) \(Duration.nanoseconds(slotMax).tcDescription)"
      if slotPackets != 0 { text += " packets \(slotPackets)" }
      if slotBytes != 0 { text += " bytes \(slotBytes)" }
    }
    // tc prints "ecn " with a trailing space, so "ecn  gap 5".
    if ecn { text += " ecn " }
    if gap != 0 { text += " gap \(gap)" }
    while text.hasSuffix(" ") { text.removeLast() }
    return text
  }
}
