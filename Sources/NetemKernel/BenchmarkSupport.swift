import CLinux
import FaultModel
import Glibc

// What `make bench` needs from the kernel layer to set faultline side by side with the raw netlink
// floor; not part of the product's interface.
//
// - A stand-in for netem where the kernel has none (this project's build machines): faultline's apply
//   and revert measured on the host install a tbf through exactly the same steps.
// - The messages of a targeted fault's tree, byte for byte, for the raw sender to send one by one.

extension NetemKernel {
  /// Installs `tbf rate RATE burst 32kb limit …` as the target's root with faultline's handle through
  /// every step of ``apply(_:to:expectedInode:force:prepare:)`` (capabilities, the namespace's
  /// socket, link lookup, root dump, replace with echo, read-back compared). Returns the options sent.
  ///
  /// `tc qdisc replace dev IF root handle fa17: tbf rate RATE burst 32768b limit LIMIT`.
  @_spi(Benchmarks)
  public func applyTokenBucketProxy(bytesPerSecond rate: UInt32, to target: FaultTarget) async throws
    -> [UInt8]
  {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "applying tbf to \(target)")
    let options = TokenBucket(rate: rate).encodedOptions()
    let request = RootQdiscRequest(kind: "tbf", options: options, module: "sch_tbf") {
      options throws(KernelError) in
      guard let applied = TokenBucket(decoding: options) else {
        return ((), ["tbf options are \(options.count) bytes, too short for tc_tbf_qopt"])
      }
      var mismatches: [String] = []
      if applied.rate != rate { mismatches.append("tbf rate: asked \(rate) B/s, kernel has \(applied.rate)") }
      if applied.limit != TokenBucket.limit {
        mismatches.append("tbf limit: asked \(TokenBucket.limit), kernel has \(applied.limit)")
      }
      return ((), mismatches)
    }
    _ = try await applyRoot(
      request, to: target, expectedInode: nil, force: false, parameters: NetemParameters(), prepare: { _ in })
    return options
  }

  /// Removes the tbf of ``applyTokenBucketProxy(bytesPerSecond:to:)``: ``revert(_:restoring:expectedInode:)``
  /// for a root of faultline's handle whatever its kind.
  ///
  /// `tc qdisc del dev IF root handle fa17:`.
  @_spi(Benchmarks)
  public func revertTokenBucketProxy(_ target: FaultTarget) async throws -> RevertOutcome {
    try await revertRoot(target, restoring: nil, expectedInode: nil) { $0.handle == Self.handle }
  }
}

extension NetemKernel {
  /// The requests that build `shape`'s tree for `fault` on `ifindex` from the kernel's default root,
  /// then read it back, as whole netlink messages (sequence numbers and acks are the sender's):
  /// `tc qdisc replace … root handle fa17: prio …`, `tc qdisc replace … parent fa17:2 handle fa18:
  /// netem …`, one `tc filter add … flower …` per match, `tc qdisc show`, `tc filter show`. The last two
  /// are dumps.
  @_spi(Benchmarks)
  public static func shapedTreeMessages(
    _ fault: NetemFault, shape: TrafficShape, ifindex: Int32, interface: String
  ) throws -> (messages: [[UInt8]], dumps: Int) {
    let fault = try fault.validated()
    let table = try fault.jitter > .zero ? DistributionTable.table(for: fault.distribution ?? .uniform) : nil
    let requests: [NetlinkRequest] =
      [
        .replaceRoot(
          ifindex: ifindex, interface: interface, kind: "prio", handle: ShapedTree.rootHandle,
          options: ShapedTree.prioOptions()),
        .replaceQdisc(
          ifindex: ifindex, interface: interface, kind: "netem", handle: ShapedTree.netemHandle,
          parent: ShapedTree.faultClass, options: NetemParameters(fault, distribution: table).encodedOptions()
        ),
      ]
      + ShapedTree.filters(for: shape, bank: 0).map { .addFilter(ifindex: ifindex, interface: interface, $0) }
      + [
        .dumpQdiscs(ifindex: ifindex, interface: interface),
        .dumpFilters(ifindex: ifindex, interface: interface),
      ]
    return (requests.map { $0.encoded(sequence: 0, acknowledged: true) }, 2)
  }
}

/// `struct tc_tbf_qopt` and `TCA_TBF_BURST`, the parts the proxy sets and reads back.
struct TokenBucket {
  /// `limit` in bytes: what `tc … latency 400ms` gives at 1 Mbit/s with a 32 KiB burst.
  static let limit: UInt32 = 82_768
  /// The bucket size in bytes.
  static let burst: UInt32 = 32_768

  var rate: UInt32
  var limit: UInt32 = Self.limit

  init(rate: UInt32) { self.rate = rate }

  /// Reads `TCA_TBF_PARMS` out of a dumped tbf's options.
  init?(decoding options: [UInt8]) {
    guard
      let parameters = NetlinkReader(options).attributes(from: 0).first(where: {
        $0.0 == UInt16(TCA_TBF_PARMS)
      })?
      .1, parameters.count >= 36
    else { return nil }
    let reader = NetlinkReader(parameters)
    rate = reader.u32(at: 8)
    limit = reader.u32(at: 24)
  }

  /// `TCA_TBF_PARMS` (a rate spec for an Ethernet link layer, so no rate table is needed) and
  /// `TCA_TBF_BURST`.
  func encodedOptions() -> [UInt8] {
    var out = NetlinkWriter()
    out.attribute(UInt16(TCA_TBF_PARMS)) { w in
      // rate: cell_log, linklayer (TC_LINKLAYER_ETHERNET), overhead, cell_align, mpu, rate.
      w.append(UInt8(0))
      w.append(UInt8(1))
      w.append(UInt16(0))
      w.append(Int16(0))
      w.append(UInt16(0))
      w.append(rate)
      for _ in 0..<3 { w.append(UInt32(0)) }  // peakrate: none
      w.append(limit)
      w.append(UInt32(0))  // buffer: given as TCA_TBF_BURST instead
      w.append(UInt32(0))  // mtu
    }
    out.attribute(UInt16(TCA_TBF_BURST)) { w in w.append(Self.burst) }
    return out.bytes
  }
}
