import CLinux
import FaultModel
import Glibc
import Logging
import SystemPackage

/// faultline's tree on one interface as the kernel dumps it.
struct TreeState {
  /// The root qdisc.
  var root: QdiscSnapshot?
  /// The qdisc under class `fa17:2` (faultline's netem when the tree is intact).
  var netem: QdiscSnapshot?
  /// The filters on `fa17:` (empty unless the root is faultline's prio).
  var filters: [DumpedFilter]
}

extension NetemKernel {
  /// Applies `fault` only to the packets `shape` selects, as a tree rooted at faultline's handle; reads
  /// the whole tree back and compares.
  ///
  /// `tc qdisc replace dev IF root handle fa17: prio bands 2 priomap 0 0 … 0`;
  /// `tc qdisc replace dev IF parent fa17:2 handle fa18: netem …`;
  /// `tc filter add dev IF parent fa17: protocol ip pref N flower dst_ip … classid fa17:2` (one per
  /// match, `classid fa17:1` for excluded ones, which come first), then `tc qdisc show dev IF` and
  /// `tc filter show dev IF parent fa17:`. ``tcCommands(for:shape:interface:)`` prints them.
  ///
  /// A tree already there is changed in place (the netem is tuned, the filters swapped
  /// make-before-break); a plain fault of faultline's is replaced by the tree (a root kind cannot
  /// change in place, so it is deleted first). Any failure puts the previous root back, tree and all.
  /// The namespace, `force` and `prepare` rules are those of ``apply(_:to:expectedInode:force:prepare:)``;
  /// `ApplyReport.applied` is the netem child's read-back.
  ///
  /// - Throws: ``KernelError`` (``KernelError/Kind/invalidShape`` before anything is touched,
  ///   ``KernelError/Kind/moduleUnavailable`` naming `sch_prio` or `cls_flower`), or what `prepare`
  ///   throws.
  public func applyShaped(
    _ fault: NetemFault, shape: TrafficShape, to target: FaultTarget, expectedInode: UInt64? = nil,
    force: Bool = false, prepare: @escaping @Sendable (ApplyPlan) throws -> Void = { _ in }
  ) async throws -> ApplyReport {
    try shape.validate()
    let (requested, options) = try requestedParameters(fault, for: target)
    let logger = logger
    return try await NetlinkSessions.shared.run(
      in: target.namespace, procRoot: procRoot, hold: .take([target.interface])
    ) { identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      let interface = target.interface
      let (ifindex, previous) = try Self.interfaceAndRoot(socket, target, identity)
      let replacing = try Self.foreignRootToReplace(
        socket, ifindex: ifindex, target: target, previous, force: force)
      let before = try Self.treeBefore(socket, ifindex: ifindex, interface: interface, previous)
      let plan = ApplyPlan(
        target: target, namespace: identity, ifindex: ifindex, previous: previous, replacing: replacing,
        parameters: requested)
      try prepare(plan)
      let applied: NetemParameters
      do {
        let filters = try Self.buildTree(
          socket, ifindex: ifindex, interface: interface, options: options, shape: shape, over: before)
        applied = try Self.verifyTree(
          socket, ifindex: ifindex, interface: interface, requested, filters: filters)
      } catch {
        Self.restore(socket, ifindex: ifindex, interface: interface, to: before, logger: logger)
        throw error
      }
      logger.debug(
        "applied shaped netem",
        metadata: [
          "target": "\(target)", "netns": "\(identity)", "tc": "\(Self.treeLine(applied, shape: shape))",
        ])
      return ApplyReport(plan: plan, applied: applied, tcLine: Self.treeLine(applied, shape: shape))
    }
  }

  /// Replaces only the filters of faultline's tree on the target; the netem stays on throughout.
  ///
  /// Make-before-break: `tc filter add dev IF parent fa17: … pref M …` for the new shape in the other
  /// bank of priorities, then `tc filter del dev IF parent fa17: pref N` for each old one, then
  /// `tc filter show dev IF parent fa17:` compared with the request. A failure puts the old filters
  /// back.
  ///
  /// - Throws: ``KernelError``: ``KernelError/Kind/invalidShape``; `ENOENT` when the root is not
  ///   faultline's tree (apply one with ``applyShaped(_:shape:to:expectedInode:force:prepare:)``);
  ///   the namespace errors of ``inspect(_:expectedInode:)``.
  public func reshape(_ shape: TrafficShape, on target: FaultTarget, expectedInode: UInt64?) async throws {
    try shape.validate()
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "reshaping the fault on \(target)")
    let logger = logger
    try await NetlinkSessions.shared.run(in: target.namespace, procRoot: procRoot, hold: .none) {
      identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      let interface = target.interface
      let (ifindex, root) = try Self.interfaceAndRoot(socket, target, identity)
      guard let root, root.isShapedRoot else {
        throw KernelError.system(
          "reshaping the fault on \(target): the root qdisc is \(root?.summary ?? "none"), not faultline's "
            + "targeted-fault tree (prio \(formatHandle(ShapedTree.rootHandle))); apply a targeted fault first",
          errno: .noSuchFileOrDirectory)
      }
      let old = try socket.filters(ifindex: ifindex, interface: interface)
      do {
        let next = try Self.swapFilters(
          socket, ifindex: ifindex, interface: interface, current: old, to: shape)
        let mismatches = Self.filterMismatches(
          expected: next, dumped: try socket.filters(ifindex: ifindex, interface: interface))
        if !mismatches.isEmpty {
          throw KernelError.verificationFailed(interface: interface, mismatches: mismatches)
        }
      } catch {
        Self.putFiltersBack(socket, ifindex: ifindex, interface: interface, old, logger: logger)
        throw error
      }
      logger.debug("reshaped", metadata: ["target": "\(target)", "shape": "\(shape)"])
    }
  }

  /// The shape of faultline's tree on the target, read back from its filters; nil when the root is not
  /// faultline's prio tree (a plain fault, another qdisc, the kernel's default).
  ///
  /// `tc filter show dev IF parent fa17:`. Reads only; namespace rules of ``inspect(_:expectedInode:)``.
  public func readShape(_ target: FaultTarget, expectedInode: UInt64?) async throws -> TrafficShape? {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: false), for: "inspecting \(target)")
    return try await NetlinkSessions.shared.run(in: target.namespace, procRoot: procRoot, hold: .none) {
      identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      let (ifindex, root) = try Self.interfaceAndRoot(socket, target, identity)
      guard let root, root.isShapedRoot
      else { return nil }
      let filters = try socket.filters(ifindex: ifindex, interface: target.interface).compactMap(\.flower)
      return ShapedTree.shape(of: filters) ?? TrafficShape(faulted: [])
    }
  }

  /// The `tc` commands that build the same tree as
  /// ``applyShaped(_:shape:to:expectedInode:force:prepare:)`` on `interface`, one per line (for
  /// `--dry-run` and the docs). faultline itself never runs them.
  public static func tcCommands(for fault: NetemFault, shape: TrafficShape, interface: String) -> [String] {
    ShapedTree.tcCommands(netemWords: netemWords(fault), shape: shape, interface: interface)
  }

  /// `tc … netem` arguments for `fault`: its read-back description plus the distribution a dump omits.
  static func netemWords(_ fault: NetemFault) -> String {
    var words = NetemParameters(fault, distribution: nil).tcDescription.split(separator: " ").joined(
      separator: " ")
    if let distribution = fault.distribution, fault.jitter > .zero {
      words += " distribution \(distribution.rawValue)"
    }
    return words
  }

  // MARK: - Steps shared with the plain path

  /// The foreign root qdisc the apply will replace (saved for revert), nil when the root is the kernel's
  /// or faultline's; throws when there is one and `force` is not given, or it has classes.
  static func foreignRootToReplace(
    _ socket: NetlinkSocket, ifindex: Int32, target: FaultTarget, _ previous: QdiscSnapshot?, force: Bool
  ) throws(KernelError) -> QdiscSnapshot? {
    guard let previous, !previous.isKernelDefault, !previous.isFaultline else { return nil }
    guard force else {
      throw KernelError.foreignQdisc(
        interface: target.interface, kind: previous.kind, handle: previous.handle)
    }
    let classes = try socket.userChildren(ifindex: ifindex, interface: target.interface, under: previous)
    if classes > 0 {
      throw KernelError.foreignClassful(interface: target.interface, kind: previous.kind, classes: classes)
    }
    return previous
  }

  /// The root before a change, with faultline's tree under it when it is one (to put back on failure).
  static func treeBefore(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, _ previous: QdiscSnapshot?
  )
    throws(KernelError) -> TreeState
  {
    guard let previous, previous.isShapedRoot else {
      return TreeState(root: previous, netem: nil, filters: [])
    }
    return try readTree(socket, ifindex: ifindex, interface: interface)
  }

  /// The root, the qdisc under `fa17:2` and, under faultline's prio, its filters.
  static func readTree(_ socket: NetlinkSocket, ifindex: Int32, interface: String) throws(KernelError)
    -> TreeState
  {
    let qdiscs = try socket.qdiscs(ifindex: ifindex, interface: interface)
    let root = qdiscs.first { $0.parent == rootParent }
    guard let root, root.isShapedRoot else { return TreeState(root: root, netem: nil, filters: []) }
    return TreeState(
      root: root, netem: qdiscs.first { $0.parent == ShapedTree.faultClass },
      filters: try socket.filters(ifindex: ifindex, interface: interface))
  }

  /// Puts the root back as it was in `before` (faultline's tree rebuilt, a foreign qdisc recreated, or
  /// the kernel's default); logs, does not throw, on failure.
  static func restore(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, to before: TreeState, logger: Logger
  ) {
    do {
      let previous = before.root.flatMap { $0.isKernelDefault ? nil : $0 }
      if let current = try socket.rootQdisc(ifindex: ifindex, interface: interface), current.isFaultline {
        // A foreign root grafts over ours and our own netem is changed in place; but the kernel's
        // default comes back only by deleting ours, a root kind cannot change in place, and a tree is
        // rebuilt from nothing.
        let inPlace =
          previous.map { !$0.isShapedRoot && ($0.handle != handle || $0.kind == current.kind) } ?? false
        if !inPlace {
          do {
            try socket.deleteRoot(ifindex: ifindex, interface: interface, handle: handle)
          } catch  where error.errno == Errno.noSuchFileOrDirectory {}
        }
      }
      guard let root = previous else { return }
      try socket.replaceRoot(
        ifindex: ifindex, interface: interface, kind: root.kind, handle: root.handle, options: root.options)
      guard root.isShapedRoot else { return }
      if let netem = before.netem {
        try socket.replaceQdisc(
          ifindex: ifindex, interface: interface, kind: netem.kind, handle: netem.handle,
          parent: netem.parent,
          options: netem.options)
      }
      for filter in before.filters.compactMap(\.flower) {
        try socket.addFilter(ifindex: ifindex, interface: interface, filter)
      }
    } catch {
      logger.error("rollback failed", metadata: ["interface": "\(interface)", "error": "\(error)"])
    }
  }

  /// The netem under faultline's prio root, all zero when it is missing (the tree is ours but carries
  /// no fault: drift the caller puts right by applying again).
  static func shapedNetem(_ socket: NetlinkSocket, ifindex: Int32, interface: String) throws(KernelError)
    -> NetemParameters
  {
    let child = try socket.qdiscs(ifindex: ifindex, interface: interface).first {
      $0.parent == ShapedTree.faultClass && $0.kind == "netem"
    }
    guard let child else {
      var none = NetemParameters()
      none.limit = 0
      return none
    }
    return try NetemParameters(decodingOptions: child.options)
  }

  // MARK: - Building and checking the tree

  /// Builds or changes the tree; returns the filters it now holds.
  private static func buildTree(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, options: [UInt8],
    shape: TrafficShape, over before: TreeState
  ) throws(KernelError) -> [FlowerFilter] {
    if let root = before.root, root.isFaultline, !root.isShapedRoot {
      try socket.deleteRoot(ifindex: ifindex, interface: interface, handle: handle)
    }
    try missingModule("sch_prio", socket) { () throws(KernelError) in
      try socket.replaceRoot(
        ifindex: ifindex, interface: interface, kind: "prio", handle: ShapedTree.rootHandle,
        options: ShapedTree.prioOptions())
    }
    do {
      try socket.replaceQdisc(
        ifindex: ifindex, interface: interface, kind: "netem", handle: ShapedTree.netemHandle,
        parent: ShapedTree.faultClass, options: options)
    } catch  where error.errno == Errno.noSuchFileOrDirectory && isUnknownKind(socket.kernelMessage) {
      throw KernelError.netemUnavailable(kernelMessage: socket.kernelMessage)
    }
    let current = before.root?.isShapedRoot == true ? before.filters : []
    return try swapFilters(socket, ifindex: ifindex, interface: interface, current: current, to: shape)
  }

  /// Adds `shape`'s filters in the bank the current ones are not in, then deletes the current ones.
  /// On failure the filters it added are deleted again; the current ones are left as they were.
  private static func swapFilters(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, current: [DumpedFilter],
    to shape: TrafficShape
  ) throws(KernelError) -> [FlowerFilter] {
    let firstBank = current.map(\.pref).min().map(ShapedTree.bank(ofPref:))
    let bank = firstBank == 0 ? 1 : 0
    let next = ShapedTree.filters(for: shape, bank: bank)
    // Leftovers in the bank about to be filled (from an interrupted swap) would collide with it.
    let stale = Set(current.map(\.pref).filter { ShapedTree.bank(ofPref: $0) == bank })
    for pref in stale.sorted() {
      try socket.deleteFilters(ifindex: ifindex, interface: interface, pref: pref)
    }
    // All filters in one round trip; the kernel adds each as if it came alone.
    let results = try socket.batch(next.map { .addFilter(ifindex: ifindex, interface: interface, $0) })
    if let failure = results.lazy.compactMap({ $0 }).first {
      for (filter, result) in zip(next, results) where result == nil {
        try? socket.deleteFilters(ifindex: ifindex, interface: interface, pref: filter.pref)
      }
      if failure.error.errno == Errno.noSuchFileOrDirectory && isUnknownKind(failure.kernelMessage) {
        throw KernelError.moduleUnavailable("cls_flower", kernelMessage: failure.kernelMessage)
      }
      throw failure.error
    }
    let keep = Set(next.map(\.pref))
    for pref in Set(current.map(\.pref)).subtracting(keep).subtracting(stale).sorted() {
      try socket.deleteFilters(ifindex: ifindex, interface: interface, pref: pref)
    }
    return next
  }

  /// Deletes whatever filters are on the root now and adds `old`'s flower filters back; logs failures.
  private static func putFiltersBack(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, _ old: [DumpedFilter], logger: Logger
  ) {
    do {
      let now = try socket.filters(ifindex: ifindex, interface: interface)
      let oldFilters = old.compactMap(\.flower)
      for pref in Set(now.map(\.pref)).subtracting(oldFilters.map(\.pref)).sorted() {
        try socket.deleteFilters(ifindex: ifindex, interface: interface, pref: pref)
      }
      let present = Set(now.map(\.pref))
      for filter in oldFilters where !present.contains(filter.pref) {
        try socket.addFilter(ifindex: ifindex, interface: interface, filter)
      }
    } catch {
      logger.error(
        "putting the filters back failed", metadata: ["interface": "\(interface)", "error": "\(error)"])
    }
  }

  /// Reads the tree back: prio root with every priority on band 0, netem `fa18:` under `fa17:2` equal
  /// to the request, exactly the expected filters. Returns the netem's parameters.
  private static func verifyTree(
    _ socket: NetlinkSocket, ifindex: Int32, interface: String, _ requested: NetemParameters,
    filters expected: [FlowerFilter]
  ) throws(KernelError) -> NetemParameters {
    let tree = try readTree(socket, ifindex: ifindex, interface: interface)
    guard let root = tree.root, root.isShapedRoot else {
      throw KernelError.verificationFailed(
        interface: interface,
        mismatches: ["root qdisc is \(tree.root?.summary ?? "missing") after the change"])
    }
    var mismatches: [String] = []
    if let prio = ShapedTree.decodePrio(root.options) {
      if prio.bands != ShapedTree.bands { mismatches.append("prio bands: asked 2, kernel has \(prio.bands)") }
      if prio.priomap.contains(where: { $0 != 0 }) {
        mismatches.append("prio priomap: asked all 0, kernel has \(prio.priomap)")
      }
    } else {
      mismatches.append("prio options are \(root.options.count) bytes, too short for tc_prio_qopt")
    }
    guard let child = tree.netem, child.kind == "netem", child.handle == ShapedTree.netemHandle else {
      throw KernelError.verificationFailed(
        interface: interface,
        mismatches: mismatches + [
          "class \(formatHandle(ShapedTree.faultClass)) holds \(tree.netem?.summary ?? "nothing"), "
            + "not netem \(formatHandle(ShapedTree.netemHandle))"
        ])
    }
    let applied = try NetemParameters(decodingOptions: child.options)
    mismatches += requested.mismatches(against: applied)
    mismatches += filterMismatches(expected: expected, dumped: tree.filters)
    if !mismatches.isEmpty {
      throw KernelError.verificationFailed(interface: interface, mismatches: mismatches)
    }
    return applied
  }

  /// What differs between the filters asked for and those dumped.
  static func filterMismatches(expected: [FlowerFilter], dumped: [DumpedFilter]) -> [String] {
    var result: [String] = []
    for filter in expected where !dumped.contains(where: { $0.flower.map(filter.agrees) ?? false }) {
      let found = dumped.filter { $0.pref == filter.pref }.map(describe)
      result.append(
        "filter \(filter.tcArguments): kernel has "
          + (found.isEmpty ? "none at pref \(filter.pref)" : found.joined(separator: ", ")))
    }
    for item in dumped where !expected.contains(where: { filter in item.flower.map(filter.agrees) ?? false })
    {
      result.append("unexpected filter \(describe(item))")
    }
    return result
  }

  private static func describe(_ item: DumpedFilter) -> String {
    switch item {
    case .flower(let filter): filter.tcArguments
    case .foreign(_, let text): text
    }
  }

  /// `qdisc prio fa17: root bands 2 priomap 0 … | qdisc netem fa18: parent fa17:2 … | 3 flower filters …`.
  static func treeLine(_ applied: NetemParameters, shape: TrafficShape) -> String {
    "qdisc prio \(formatHandle(ShapedTree.rootHandle)) root bands \(ShapedTree.bands) priomap all 0 | "
      + "qdisc netem \(formatHandle(ShapedTree.netemHandle)) parent \(formatHandle(ShapedTree.faultClass)) "
      + "\(applied.tcDescription) | flower filters by \(shape.side.rawValue): "
      + "\(shape.faulted.count) faulted → \(formatHandle(ShapedTree.faultClass)), "
      + "\(shape.excluded.count) excluded → \(formatHandle(ShapedTree.passClass))"
  }

  /// Runs `body`, turning the kernel's "unknown kind" ENOENT into ``KernelError/Kind/moduleUnavailable``.
  private static func missingModule(
    _ module: String, _ socket: NetlinkSocket, _ body: () throws(KernelError) -> Void
  ) throws(KernelError) {
    do {
      try body()
    } catch  where error.errno == Errno.noSuchFileOrDirectory && isUnknownKind(socket.kernelMessage) {
      throw KernelError.moduleUnavailable(module, kernelMessage: socket.kernelMessage)
    }
  }

  /// The kernel's words for a qdisc or classifier kind it has no module for (or no words at all).
  static func isUnknownKind(_ message: String) -> Bool {
    message.isEmpty || message.contains("kind is unknown") || message.contains("classifier not found")
  }
}
