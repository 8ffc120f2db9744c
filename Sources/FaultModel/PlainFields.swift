/// A field value in plain units, for JSON output and span attributes.
public enum PlainValue: Sendable, Hashable {
  /// A whole number.
  case int(Int64)
  /// A decimal number.
  case double(Double)
  /// Text.
  case string(String)
  /// A flag.
  case bool(Bool)
}

extension NetemFault {
  /// The set fields in plain units, named as in `chaos.experiment.netem.<field>`:
  /// `delay_ms`, `jitter_ms`, `delay_correlation_pct`, `distribution`, `loss_pct`, … (only those set;
  /// `limit` always).
  public var plainFields: [(String, PlainValue)] {
    var fields: [(String, PlainValue)] = []
    func pct(_ name: String, _ value: Percent) {
      if !value.isZero { fields.append((name, .double(value.value))) }
    }
    func ms(_ name: String, _ value: Duration) {
      if value != .zero { fields.append((name, .double(value.milliseconds))) }
    }
    ms("delay_ms", delay)
    ms("jitter_ms", jitter)
    pct("delay_correlation_pct", delayCorrelation)
    if let distribution { fields.append(("distribution", .string(distribution.rawValue))) }
    pct("loss_pct", loss)
    pct("loss_correlation_pct", lossCorrelation)
    if let m = lossState {
      for (name, value) in [("p13", m.p13), ("p31", m.p31), ("p32", m.p32), ("p23", m.p23), ("p14", m.p14)] {
        fields.append(("loss_state_\(name)_pct", .double(value.value)))
      }
    }
    if let m = lossGemodel {
      for (name, value) in [("p", m.p), ("r", m.r), ("1_h", m.oneMinusH), ("1_k", m.oneMinusK)] {
        fields.append(("loss_gemodel_\(name)_pct", .double(value.value)))
      }
    }
    pct("duplicate_pct", duplicate)
    pct("duplicate_correlation_pct", duplicateCorrelation)
    pct("corrupt_pct", corrupt)
    pct("corrupt_correlation_pct", corruptCorrelation)
    pct("reorder_pct", reorder)
    pct("reorder_correlation_pct", reorderCorrelation)
    if gap != 0 { fields.append(("gap", .int(Int64(gap)))) }
    if let rate {
      fields.append(("rate_bps", .int(Int64(clamping: rate.rate.bitsPerSecond))))
      if rate.packetOverhead != 0 {
        fields.append(("rate_packet_overhead", .int(Int64(rate.packetOverhead))))
      }
      if rate.cellSize != 0 { fields.append(("rate_cell_size", .int(Int64(rate.cellSize)))) }
      if rate.cellOverhead != 0 { fields.append(("rate_cell_overhead", .int(Int64(rate.cellOverhead)))) }
    }
    if let slot {
      fields.append(("slot_min_ms", .double(slot.min.milliseconds)))
      fields.append(("slot_max_ms", .double(slot.max.milliseconds)))
      if let packets = slot.packets { fields.append(("slot_packets", .int(Int64(packets)))) }
      if let bytes = slot.bytes { fields.append(("slot_bytes", .int(Int64(bytes)))) }
    }
    if ecn { fields.append(("ecn", .bool(true))) }
    fields.append(("limit", .int(Int64(limit))))
    return fields
  }
}
