// Ingress shaping. A qdisc shapes only what leaves a device, so traffic coming into a pod is sent
// through a device of faultline's own first:
//
//   peer ──► eth0 ingress hook (clsact/ingress qdisc, shared with whoever else uses it)
//              │ filters by pref: foreign ones first, then faultline's pref 64023:
//              │ matchall → mirred egress redirect (TC_ACT_STOLEN)
//              ▼
//            fl-XXXXXXXX (IFB, same namespace) egress: root qdisc, e.g. faultline's netem fa17:
//              │ the IFB hands the packet back to eth0's receive path, marked to skip the ingress hook
//              ▼
//            the pod's stack
//
// Shaping itself is the ordinary root-qdisc path (`NetemKernel.apply` to the IFB); this file only
// sets up, reads and removes the redirect.

import CLinux
import FaultModel
import Glibc
import Logging
import SystemPackage

/// What faultline set up to redirect an interface's ingress; journaled so revert and crash
/// recovery remove exactly this and nothing else.
public struct IngressRedirect: Sendable, Hashable, Codable {
  /// The pod's interface whose incoming traffic is redirected, e.g. `eth0`.
  public var interface: String
  /// faultline's IFB device in the same namespace (``NetemKernel/ingressDeviceName(for:)``); shape
  /// the redirected traffic on its egress (its root qdisc).
  public var ifb: String
  /// faultline added the `clsact`/`ingress` qdisc (false: a foreign one was there and is shared, so
  /// removal leaves it).
  public var createdQdisc: Bool
  /// `clsact` or `ingress`.
  public var qdiscKind: String
  /// faultline's own filter `pref` on that qdisc (``NetemKernel/ingressFilterPriority``).
  public var filterPriority: UInt16

  /// A record of the given parts.
  public init(interface: String, ifb: String, createdQdisc: Bool, qdiscKind: String, filterPriority: UInt16) {
    self.interface = interface
    self.ifb = ifb
    self.createdQdisc = createdQdisc
    self.qdiscKind = qdiscKind
    self.filterPriority = filterPriority
  }
}

extension NetemKernel {
  /// faultline's filter priority (`pref`) on an interface's ingress hook: `0xfa17` (64023), the
  /// number of faultline's qdisc handle `fa17:`.
  ///
  /// Filters run in ascending `pref`, and this one comes after every filter `tc` numbers itself
  /// (`tc` without `pref` gets 49152, then counts down) and after the small numbers Cilium and
  /// Calico use, on purpose: a packet redirected to an IFB comes back marked to skip ingress
  /// classification, so a redirect placed first would let traffic bypass a foreign policy filter.
  /// Placed last, foreign filters see every packet first; one that ends classification (a
  /// direct-action BPF program returning `TC_ACT_OK`) keeps its verdict, and what it passes is
  /// simply not shaped.
  public static let ingressFilterPriority: UInt16 = 0xFA17

  /// The handle of faultline's matchall filter (one filter per priority: any fixed number works;
  /// this one reads as faultline's in `tc filter show`).
  static let ingressFilterHandle: UInt32 = 0xFA17

  /// The name of faultline's IFB device for `interface`: `fl-` and a stable 32-bit hash of the name.
  public static func ingressDeviceName(for interface: String) -> String { IFBDevice.name(for: interface) }

  /// Redirects everything arriving on the target interface to faultline's IFB device, whose egress
  /// (root qdisc) then shapes it: apply a fault to `FaultTarget(interface: redirect.ifb, …)`.
  ///
  /// `ip link add NAME type ifb; ip link set NAME up; tc qdisc add dev IF clsact` (unless a `clsact`
  /// or `ingress` qdisc is there: it is shared, never replaced);
  /// `tc filter add dev IF ingress pref 64023 handle 0xfa17 matchall skip_hw action mirred egress
  /// redirect dev NAME`.
  ///
  /// Idempotent: faultline's IFB and filter from an earlier call are reused (a filter of faultline's
  /// that points at a replaced IFB is re-pointed). Reads back that the IFB is up and the filter
  /// redirects to its index; on any failure what this call created is removed again.
  ///
  /// - Parameter expectedInode: as for ``apply(_:to:expectedInode:force:prepare:)``: the path naming
  ///   another namespace throws ``KernelError/Kind/namespaceChanged`` and nothing is touched.
  /// - Throws: ``KernelError``: `moduleUnavailable` naming `ifb`, `sch_ingress`, `cls_matchall` or
  ///   `act_mirred` when the kernel lacks it; `foreignQdisc` when a filter faultline did not create
  ///   holds its priority, or a device that is not an IFB holds its IFB's name.
  public func redirectIngress(of target: FaultTarget, expectedInode: UInt64?) async throws -> IngressRedirect
  {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true), for: "redirecting the ingress of \(target)"
    )
    let logger = logger
    return try await NetlinkSessions.shared.run(
      in: target.namespace, procRoot: procRoot, hold: .take(["ingress:" + target.interface])
    ) { identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      let ifindex = try Self.interfaceIndex(socket, target, identity)
      let setup = IngressSetup(
        socket: socket, interface: target.interface, ifindex: ifindex, priority: Self.ingressFilterPriority,
        logger: logger)
      let redirect = try setup.establish()
      logger.debug(
        "redirected ingress",
        metadata: ["target": "\(target)", "netns": "\(identity)", "ifb": "\(redirect.ifb)"])
      return redirect
    }
  }

  /// Removes exactly what `redirect` records: faultline's filter; the `clsact`/`ingress` qdisc only
  /// if faultline created it (and no other filter has appeared on it since); the IFB device (and
  /// with it whatever qdisc shapes on it). Parts already gone are a success.
  ///
  /// `tc filter del dev IF ingress pref P; tc qdisc del dev IF clsact; ip link del NAME`.
  ///
  /// Needs nothing but the record: a fresh process doing crash recovery removes all of it.
  ///
  /// - Parameter expectedInode: as for ``revert(_:restoring:expectedInode:)``: when given, the path
  ///   naming another namespace throws ``KernelError/Kind/namespaceChanged`` and a gone one
  ///   ``KernelError/Kind/namespaceNotFound``; when nil, a gone namespace is a success.
  public func removeIngressRedirect(
    _ redirect: IngressRedirect, in target: FaultTarget, expectedInode: UInt64?
  ) async throws {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: true),
      for: "removing the ingress redirect of \(target)")
    let logger = logger
    do {
      try await NetlinkSessions.shared.run(
        in: target.namespace, procRoot: procRoot,
        hold: .release(["ingress:" + target.interface, redirect.ifb])
      ) { identity, socket in
        try Self.check(identity, expectedInode: expectedInode)
        try IngressSetup.remove(redirect, socket: socket, logger: logger)
        logger.debug(
          "removed ingress redirect", metadata: ["target": "\(target)", "netns": "\(identity)"])
      }
    } catch let error as KernelError where error.kind == .namespaceNotFound && expectedInode == nil {
      logger.debug("ingress redirect went with its namespace", metadata: ["target": "\(target)"])
    }
  }

  /// The redirect found on the target now (for read-back and resync), nil when none.
  ///
  /// `tc filter show dev IF ingress pref 64023; ip -d link show NAME`. Non-nil only when faultline's
  /// filter redirects to an IFB device that exists and is up: a redirect to a device that is gone
  /// or down drops every incoming packet, so it counts as none (``redirectIngress(of:expectedInode:)``
  /// repairs it). `createdQdisc` is read as "no filter but faultline's on the qdisc". The
  /// namespace rules are those of ``inspect(_:expectedInode:)``.
  public func readIngressRedirect(of target: FaultTarget, expectedInode: UInt64?) async throws
    -> IngressRedirect?
  {
    try Capabilities.require(
      CapabilitySet.needed(for: target.namespace, modifies: false),
      for: "reading the ingress redirect of \(target)")
    return try await NetlinkSessions.shared.run(in: target.namespace, procRoot: procRoot, hold: .none) {
      identity, socket in
      try Self.check(identity, expectedInode: expectedInode)
      guard let ifindex = try socket.interfaceIndex(named: target.interface) else { return nil }
      return try IngressSetup.read(
        socket: socket, interface: target.interface, ifindex: ifindex, priority: Self.ingressFilterPriority)
    }
  }
}

/// The steps of setting up, reading and removing an ingress redirect, on a socket already in the
/// target namespace (on its worker thread).
private struct IngressSetup {
  let socket: NetlinkSocket
  let interface: String
  let ifindex: Int32
  let priority: UInt16
  let logger: Logger

  /// Creates what is missing, checks the result, and undoes its own changes on failure.
  func establish() throws(KernelError) -> IngressRedirect {
    let name = IFBDevice.name(for: interface)
    var undo: [(String, () throws(KernelError) -> Void)] = []
    do throws(KernelError) {
      // 1. The IFB, up.
      var link = try socket.link(named: name)
      if let existing = link, existing.kind != IFBDevice.kind {
        throw KernelError.system(
          "RTM_NEWLINK \(name) type ifb", errno: .fileExists,
          kernelMessage:
            "\(name) exists and is a \(existing.kind.isEmpty ? "device" : existing.kind + " device"), "
            + "not faultline's ifb; faultline derives this name from \(interface), so rename or delete it")
      }
      if link == nil {
        try socket.addIFB(named: name)
        guard let created = try socket.link(named: name) else {
          throw KernelError.verificationFailed(
            interface: interface, mismatches: ["\(name) missing after creation"])
        }
        undo.append(("delete \(name)", { () throws(KernelError) in try socket.deleteLink(created) }))
        link = created
      }
      guard var ifb = link else { throw KernelError.malformedReply("no link \(name)") }
      if !ifb.isUp {
        try socket.setLinkUp(ifb)
        ifb = try socket.link(named: name) ?? ifb
      }

      // 2. The ingress hook: a clsact of faultline's, or the one that is there.
      var createdQdisc = false
      let qdisc: QdiscSnapshot
      if let existing = try socket.ingressQdisc(ifindex: ifindex, interface: interface) {
        qdisc = existing
      } else {
        try socket.addClsact(ifindex: ifindex, interface: interface)
        undo.append(
          (
            "delete clsact on \(interface)",
            { () throws(KernelError) in
              try socket.deleteIngressQdisc(ifindex: ifindex, interface: interface, kind: "clsact")
            }
          ))
        createdQdisc = true
        guard let added = try socket.ingressQdisc(ifindex: ifindex, interface: interface) else {
          throw KernelError.verificationFailed(
            interface: interface, mismatches: ["no clsact qdisc after adding one"])
        }
        qdisc = added
      }

      // 3. faultline's filter at its priority.
      let ours = try socket.ingressFilters(ifindex: ifindex, interface: interface, priority: priority)
      switch try Self.classify(ours, interface: interface, priority: priority, ifb: ifb.index) {
      case .current:
        break
      case .stale:
        try socket.deleteIngressFilter(ifindex: ifindex, interface: interface, priority: priority)
        fallthrough
      case .absent:
        try socket.addRedirectFilter(
          ifindex: ifindex, interface: interface, priority: priority, handle: NetemKernel.ingressFilterHandle,
          ifb: ifb)
        undo.append(
          (
            "delete filter pref \(priority) on \(interface)",
            { () throws(KernelError) in
              try socket.deleteIngressFilter(ifindex: ifindex, interface: interface, priority: priority)
            }
          ))
      }

      // 4. Read back.
      var mismatches: [String] = []
      let after = try socket.link(named: name)
      if after?.kind != IFBDevice.kind || after?.isUp != true || after?.index != ifb.index {
        mismatches.append(
          "\(name) is \(after.map { "\($0.kind) index \($0.index) up \($0.isUp)" } ?? "missing")")
      }
      let filters = try socket.ingressFilters(ifindex: ifindex, interface: interface, priority: priority)
      let targets = filters.compactMap(\.redirectTarget)
      if targets != [ifb.index] {
        mismatches.append("filter pref \(priority) redirects to \(targets), not [\(ifb.index)] (\(name))")
      }
      if !mismatches.isEmpty {
        throw KernelError.verificationFailed(interface: interface, mismatches: mismatches)
      }
      return IngressRedirect(
        interface: interface, ifb: name,
        createdQdisc: createdQdisc ? true : try onlyOurs(on: qdisc),
        qdiscKind: qdisc.kind, filterPriority: priority)
    } catch {
      for (what, step) in undo.reversed() {
        do throws(KernelError) {
          try step()
        } catch {
          logger.error(
            "rollback of an ingress redirect failed",
            metadata: ["interface": "\(interface)", "step": "\(what)", "error": "\(error)"])
        }
      }
      throw error
    }
  }

  /// Whether the qdisc carries no filter but faultline's: then removing it takes nothing of anyone
  /// else's (this is how a read or a repeated redirect says `createdQdisc`).
  private func onlyOurs(on qdisc: QdiscSnapshot) throws(KernelError) -> Bool {
    try socket.foreignIngressFilterCount(
      ifindex: ifindex, interface: interface, kind: qdisc.kind, priority: priority) == 0
  }

  private enum FilterState { case absent, current, stale }

  /// What is at faultline's priority: nothing, faultline's filter redirecting to `ifb`, or one of
  /// faultline's pointing elsewhere (an IFB since deleted and recreated); anything else is foreign.
  private static func classify(
    _ filters: [IngressFilterRecord], interface: String, priority: UInt16, ifb: Int32
  ) throws(KernelError) -> FilterState {
    if let foreign = filters.first(where: { !$0.isFaultlines }) {
      throw KernelError.foreignFilter(interface: interface, priority: priority, kind: foreign.kind)
    }
    if filters.isEmpty { return .absent }
    let installed = filters.filter { $0.handle != 0 }
    return installed.count == 1 && installed[0].redirectTarget == ifb ? .current : .stale
  }

  /// The redirect as it stands, or nil (see ``NetemKernel/readIngressRedirect(of:expectedInode:)``).
  static func read(socket: NetlinkSocket, interface: String, ifindex: Int32, priority: UInt16)
    throws(KernelError) -> IngressRedirect?
  {
    guard let qdisc = try socket.ingressQdisc(ifindex: ifindex, interface: interface) else { return nil }
    let filters = try socket.ingressFilters(ifindex: ifindex, interface: interface, priority: priority)
    guard let target = filters.lazy.compactMap(\.redirectTarget).first else { return nil }
    let name = IFBDevice.name(for: interface)
    guard let ifb = try socket.link(named: name), ifb.index == target, ifb.kind == IFBDevice.kind, ifb.isUp
    else { return nil }
    let others = try socket.foreignIngressFilterCount(
      ifindex: ifindex, interface: interface, kind: qdisc.kind, priority: priority)
    return IngressRedirect(
      interface: interface, ifb: name, createdQdisc: others == 0, qdiscKind: qdisc.kind,
      filterPriority: priority)
  }

  /// Removes what `redirect` records, in the order that never sends a packet to a missing device:
  /// the filter, then the qdisc, then the IFB.
  static func remove(_ redirect: IngressRedirect, socket: NetlinkSocket, logger: Logger) throws(KernelError) {
    let interface = redirect.interface
    if let ifindex = try socket.interfaceIndex(named: interface) {
      let filters = try socket.ingressFilters(
        ifindex: ifindex, interface: interface, priority: redirect.filterPriority)
      if filters.contains(where: { !$0.isFaultlines }) {
        // Not faultline's (it only ever puts a matchall redirect there): left alone.
        logger.warning(
          "a foreign filter holds faultline's priority; left in place",
          metadata: ["interface": "\(interface)", "pref": "\(redirect.filterPriority)"])
      } else if !filters.isEmpty {
        try socket.deleteIngressFilter(
          ifindex: ifindex, interface: interface, priority: redirect.filterPriority)
      }
      if redirect.createdQdisc, let qdisc = try socket.ingressQdisc(ifindex: ifindex, interface: interface),
        qdisc.kind == redirect.qdiscKind
      {
        let others = try socket.foreignIngressFilterCount(
          ifindex: ifindex, interface: interface, kind: qdisc.kind, priority: redirect.filterPriority)
        if others == 0 {
          try socket.deleteIngressQdisc(ifindex: ifindex, interface: interface, kind: qdisc.kind)
        } else {
          logger.notice(
            "faultline's ingress qdisc now carries other filters; left in place",
            metadata: ["interface": "\(interface)", "qdisc": "\(qdisc.kind)", "filters": "\(others)"])
        }
      }
    }
    if let ifb = try socket.link(named: redirect.ifb) {
      guard ifb.kind == IFBDevice.kind else {
        logger.warning(
          "the recorded IFB name now names another kind of device; left in place",
          metadata: ["name": "\(redirect.ifb)", "kind": "\(ifb.kind)"])
        return
      }
      try socket.deleteLink(ifb)
    }
  }
}

extension NetlinkSocket {
  /// The interface's `ingress` or `clsact` qdisc (`tc qdisc show dev IF ingress`), nil when none.
  func ingressQdisc(ifindex: Int32, interface: String) throws(KernelError) -> QdiscSnapshot? {
    let replies = try request(
      "RTM_GETQDISC dump for \(interface)", type: Int32(RTM_GETQDISC), flags: NLM_F_DUMP,
      header: tcmsg(ifindex: ifindex), attributes: [], dump: true)
    return replies.lazy.compactMap { QdiscSnapshot(message: $0) }.first {
      $0.ifindex == ifindex && $0.parent == IngressHook.qdiscParent
    }
  }

  /// `tc qdisc add dev IF clsact`.
  func addClsact(ifindex: Int32, interface: String) throws(KernelError) {
    do throws(KernelError) {
      try request(
        "RTM_NEWQDISC clsact on \(interface)", type: Int32(RTM_NEWQDISC), flags: NLM_F_CREATE | NLM_F_EXCL,
        header: tcmsg(ifindex: ifindex, handle: IngressHook.qdiscHandle, parent: IngressHook.qdiscParent),
        attributes: [(UInt16(TCA_KIND), Array("clsact".utf8) + [0])])
    } catch
      where error.errno == Errno.noSuchFileOrDirectory
      && (kernelMessage.isEmpty || kernelMessage.contains("unknown"))
    {
      throw KernelError.moduleUnavailable("sch_ingress", kernelMessage: kernelMessage)
    }
  }

  /// `tc qdisc del dev IF clsact` (or `ingress`); the kernel refuses another kind. Gone is a success.
  func deleteIngressQdisc(ifindex: Int32, interface: String, kind: String) throws(KernelError) {
    do throws(KernelError) {
      try request(
        "RTM_DELQDISC \(kind) on \(interface)", type: Int32(RTM_DELQDISC), flags: 0,
        header: tcmsg(ifindex: ifindex, handle: IngressHook.qdiscHandle, parent: IngressHook.qdiscParent),
        attributes: [(UInt16(TCA_KIND), Array(kind.utf8) + [0])])
    } catch  where error.errno == Errno.noSuchFileOrDirectory {
      // Already gone.
    }
  }

  /// The filters on the ingress hook (`tc filter show dev IF ingress [pref P]`), with the per-classifier
  /// entries the dump reports without a handle.
  func ingressFilters(
    ifindex: Int32, interface: String, priority: UInt16? = nil,
    parent: UInt32 = IngressHook.ingressFilterParent
  )
    throws(KernelError) -> [IngressFilterRecord]
  {
    let info = priority.map { UInt32($0) << 16 } ?? 0
    let replies = try request(
      "RTM_GETTFILTER dump for \(interface)", type: Int32(RTM_GETTFILTER), flags: NLM_F_DUMP,
      header: tcmsg(ifindex: ifindex, parent: parent, info: info), attributes: [], dump: true)
    return replies.compactMap { IngressFilterRecord(message: $0) }.filter {
      $0.ifindex == ifindex && (priority == nil || $0.priority == priority)
    }
  }

  /// How many filters other than those at `priority` hang on the ingress qdisc (both hooks of a
  /// clsact).
  func foreignIngressFilterCount(ifindex: Int32, interface: String, kind: String, priority: UInt16)
    throws(KernelError) -> Int
  {
    var parents = [IngressHook.ingressFilterParent]
    if kind == "clsact" { parents.append(IngressHook.egressFilterParent) }
    var count = 0
    for parent in parents {
      count += try ingressFilters(ifindex: ifindex, interface: interface, parent: parent).filter {
        $0.priority != priority
      }.count
    }
    return count
  }

  /// `tc filter add dev IF ingress pref P handle H matchall skip_hw action mirred egress redirect dev IFB`.
  func addRedirectFilter(ifindex: Int32, interface: String, priority: UInt16, handle: UInt32, ifb: LinkRecord)
    throws(KernelError)
  {
    do throws(KernelError) {
      try request(
        "RTM_NEWTFILTER matchall pref \(priority) on \(interface) → \(ifb.name)", type: Int32(RTM_NEWTFILTER),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        header: tcmsg(
          ifindex: ifindex, handle: handle, parent: IngressHook.ingressFilterParent,
          info: IngressHook.filterInfo(priority: priority)),
        attributes: [
          (UInt16(TCA_KIND), Array(MatchallRedirect.kind.utf8) + [0]),
          (UInt16(TCA_OPTIONS) | MatchallRedirect.nested, MatchallRedirect.options(redirectingTo: ifb.index)),
        ])
    } catch
      where error.errno == Errno.noSuchFileOrDirectory && kernelMessage.lowercased().contains("classifier")
    {
      throw KernelError.moduleUnavailable("cls_matchall", kernelMessage: kernelMessage)
    } catch  where error.errno == Errno.noSuchFileOrDirectory && kernelMessage.lowercased().contains("action")
    {
      throw KernelError.moduleUnavailable("act_mirred", kernelMessage: kernelMessage)
    }
  }

  /// `tc filter del dev IF ingress pref P` (every filter at that priority). Gone is a success.
  func deleteIngressFilter(ifindex: Int32, interface: String, priority: UInt16) throws(KernelError) {
    do throws(KernelError) {
      try request(
        "RTM_DELTFILTER pref \(priority) on \(interface)", type: Int32(RTM_DELTFILTER), flags: 0,
        header: tcmsg(
          ifindex: ifindex, parent: IngressHook.ingressFilterParent,
          info: IngressHook.filterInfo(priority: priority)),
        attributes: [])
    } catch  where error.errno == Errno.noSuchFileOrDirectory {
      // Already gone.
    }
  }
}

extension IngressFilterRecord {
  /// Whether faultline could have put it there: a matchall classifier (the dump's entry for the
  /// classifier itself has no handle) or a matchall filter with a `mirred egress redirect`. faultline
  /// puts nothing else at its priority.
  var isFaultlines: Bool {
    kind == MatchallRedirect.kind && (handle == 0 || redirectTarget != nil)
  }
}
