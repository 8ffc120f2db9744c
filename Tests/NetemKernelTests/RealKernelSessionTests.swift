import FaultModel
import Foundation
import Glibc
import Testing
import SystemPackage

@testable import NetemKernel

/// The netlink sockets behind every operation (``NetlinkSessions``): one per namespace, kept exactly
/// while a fault of this process is there, never keeping a deleted namespace alive; and the requests
/// that share one round trip (``NetlinkSocket/exchange(_:)``, ``NetlinkSocket/batch(_:)``).
extension RealKernel {
  @Suite struct RealKernelSessionTests {
    /// A namespace named for this test, with `vx`/`vy` (both ends inside) or with `vx` inside and its
    /// peer `vy` in `peer`.
    private struct Namespace {
      let name = "fl-s-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
      var path: String { "/run/netns/\(name)" }

      init(peer: String? = nil) throws {
        try must(["ip", "netns", "add", name])
        if let peer {
          try must([
            "ip", "-n", name, "link", "add", "vx", "type", "veth", "peer", "name", "vy", "netns", peer,
          ])
        } else {
          try must(["ip", "-n", name, "link", "add", "vx", "type", "veth", "peer", "name", "vy"])
        }
      }

      func target(_ interface: String) -> FaultTarget {
        FaultTarget(interface: interface, namespace: .named(name))
      }

      var inode: UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
      }

      func delete() { _ = try? run(["ip", "netns", "del", name]) }
    }

    private func delay(_ value: String) throws -> NetemFault {
      var fault = NetemFault()
      try fault.set("delay", to: value)
      return fault
    }

    @Test func aNamespacesSocketIsKeptWhileAFaultIsThereAndClosedWithTheLastRevert() async throws {
      let ns = try Namespace()
      defer { ns.delete() }
      let kernel = NetemKernel()
      let sessions = NetlinkSessions.shared
      // A read leaves nothing open.
      #expect(try await kernel.inspect(ns.target("vx"), expectedInode: nil) == .none)
      #expect(!sessions.isKept(inode: ns.inode))

      _ = try await kernel.apply(try delay("10ms"), to: ns.target("vx"))
      #expect(sessions.isKept(inode: ns.inode))
      _ = try await kernel.apply(try delay("20ms"), to: ns.target("vy"))
      #expect(try await kernel.revert(ns.target("vx")) == .removed)
      #expect(sessions.isKept(inode: ns.inode), "vy still has a fault")
      #expect(try await kernel.revert(ns.target("vy")) == .removed)
      #expect(!sessions.isKept(inode: ns.inode))

      // A failed apply takes no hold.
      await #expect(throws: KernelError.self) {
        _ = try await kernel.apply(try delay("10ms"), to: ns.target("nope"))
      }
      #expect(!sessions.isKept(inode: ns.inode))
    }

    @Test func aDeletedNamespaceIsNotKeptAliveByTheSocketOfItsFault() async throws {
      let peer = try Namespace()
      defer { peer.delete() }
      try must(["ip", "-n", peer.name, "link", "del", "vx"])
      let ns = try Namespace(peer: peer.name)
      defer { ns.delete() }
      let kernel = NetemKernel()
      let applied = try await kernel.apply(try delay("10ms"), to: ns.target("vx"))
      let inode = applied.plan.namespace.inode
      #expect(NetlinkSessions.shared.isKept(inode: inode))

      // The pod goes away. Its namespace (and the veth end in it) must go too: the agent's next
      // operation there finds the path gone and lets the socket go.
      ns.delete()
      await #expect(throws: KernelError.namespaceNotFound(ns.path, errno: .noSuchFileOrDirectory)) {
        _ = try await kernel.revert(ns.target("vx"), expectedInode: inode)
      }
      #expect(!NetlinkSessions.shared.isKept(inode: inode))
      let start = Date()
      while try run(["ip", "-n", peer.name, "link", "show", "vy"]).status == 0 {
        if Date().timeIntervalSince(start) > 20 {
          throw TestFailure("the deleted namespace's veth peer is still there after 20 s: it is kept alive")
        }
        try await Task.sleep(for: .milliseconds(100))
      }
      print(
        "deleted namespace freed \(Int(Date().timeIntervalSince(start) * 1000)) ms after the socket closed")
    }

    @Test func aLinkLookupAndARootDumpShareOneRoundTrip() async throws {
      let ns = try Namespace()
      defer { ns.delete() }
      // Up, so that the kernel gives it a root qdisc (a device that is down has none to dump).
      try must(["ip", "-n", ns.name, "link", "set", "vx", "up"])
      _ = try await NetlinkSessions.shared.run(in: .named(ns.name), procRoot: "/proc") { _, socket in
        let before = NetlinkSocket.requestsSent.load(ordering: .relaxed)
        let found = try socket.interfaceAndRoot(named: "vx")
        #expect(NetlinkSocket.requestsSent.load(ordering: .relaxed) - before == 1)
        let index = try socket.interfaceIndex(named: "vx")
        #expect(found?.ifindex == index)
        #expect(found?.root?.isKernelDefault == true)
        #expect(try socket.interfaceAndRoot(named: "nope") == nil)
        return 0
      }
    }

    @Test func aBatchAnswersEachRequestAndGoesOnPastAFailure() async throws {
      let ns = try Namespace()
      defer { ns.delete() }
      let handle = NetemKernel.handle
      let rates = try await NetlinkSessions.shared.run(in: .named(ns.name), procRoot: "/proc") { _, socket in
        let index = try #require(try socket.interfaceIndex(named: "vx"))
        func tbf(_ rate: UInt32) -> NetlinkRequest {
          .replaceRoot(
            ifindex: index, interface: "vx", kind: "tbf", handle: handle,
            options: TokenBucket(rate: rate).encodedOptions())
        }
        // No root has handle 2707: (the kernel refuses the delete).
        let missing = NetlinkRequest.deleteRoot(ifindex: index, interface: "vx", handle: 0x2707_0000)
        let before = NetlinkSocket.requestsSent.load(ordering: .relaxed)
        let results = try socket.batch([tbf(125_000), missing, tbf(250_000)])
        #expect(NetlinkSocket.requestsSent.load(ordering: .relaxed) - before == 1)
        #expect(results.count == 3)
        #expect(results[0] == nil)
        #expect(results[1]?.error.kind == .system)
        #expect(results[1]?.error.description.contains("RTM_DELQDISC 2707: on vx") == true)
        #expect(results[2] == nil)
        let root = try #require(try socket.rootQdisc(ifindex: index, interface: "vx"))
        return TokenBucket(decoding: root.options)?.rate
      }
      // The request after the failure was carried out.
      #expect(rates == 250_000)
    }
  }
}
