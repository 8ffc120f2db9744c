import FaultModel
import Foundation
import NetemKernel

/// `targeted_{1,10,100}_*`: a targeted fault (a prio root, a netem child and one flower filter per
/// peer) applied and removed in-process, against the same tree built by `tc`, one process per
/// qdisc and filter, as `faultline inject --dry-run` prints it.
enum TargetedFigure {
  /// A shape faulting `count` /32 destinations (10.200.x.y).
  static func shape(peers count: Int) -> TrafficShape {
    let faulted = (0..<count).map { index in
      FlowMatch(prefix: IPPrefix(address: [10, 200, UInt8(index / 250), UInt8(1 + index % 250)], length: 32))
    }
    return TrafficShape(faulted: faulted, side: .destination)
  }

  static func measure(
    _ namespaces: BenchNamespaces, kernel: KernelFigures, iterations: Int, warmup: Int
  ) async throws -> (figures: [String: Any], details: [String: Any]) {
    let target = namespaces.target(0)
    let namespace = namespaces.names[0]
    let netem = NetemKernel()
    var figures: [String: Any] = [:]
    var details: [String: Any] = [:]
    for peers in [1, 10, 100] {
      let shape = shape(peers: peers)
      let commands = NetemKernel.tcCommands(for: BenchFault.fault, shape: shape, interface: BenchNamespaces.interface)
        .map { line in [kernel.tc, "-n", namespace] + line.split(separator: " ").dropFirst().map(String.init) }
      let remove = [kernel.tc, "-n", namespace, "qdisc", "del", "dev", BenchNamespaces.interface, "root"]
      let rounds = max(3, peers == 100 ? iterations / 10 : iterations / 2)
      for _ in 0..<min(warmup, 3) {
        _ = try await netem.applyShaped(BenchFault.fault, shape: shape, to: target)
        _ = try await netem.revert(target)
        for command in commands { try Spawn.check(command) }
        try Spawn.check(remove)
      }
      var ours = Samples()
      var theirs = Samples()
      var requests: [Int] = []
      for _ in 0..<rounds {
        let before = NetemKernel.netlinkRequestsSent
        ours.append(
          try await microseconds { _ = try await netem.applyShaped(BenchFault.fault, shape: shape, to: target) })
        requests.append(NetemKernel.netlinkRequestsSent - before)
        _ = try await netem.revert(target)
        theirs.append(
          try microseconds {
            for command in commands where Spawn.run(command) != 0 {
              throw BenchError("\(command.joined(separator: " ")) failed inside a timed loop")
            }
          })
        try Spawn.check(remove)
      }
      figures["targeted_\(peers)_apply_p50_us"] = rounded(ours.median)
      figures["targeted_\(peers)_tc_p50_us"] = rounded(theirs.median)
      figures["targeted_\(peers)_round_trips"] = requests.sorted()[requests.count / 2]
      figures["targeted_\(peers)_tc_processes"] = commands.count
      details["targeted_\(peers)"] = [
        "apply_us": ours.summary(), "tc_us": theirs.summary(), "rounds": rounds,
        "round_trips_per_apply": requests.sorted()[requests.count / 2],
      ]
      progress(
        "targeted \(peers) peers: in-process p50 \(rounded(ours.median)) µs in \(requests[0]) round trips; "
          + "tc p50 \(rounded(theirs.median)) µs in \(commands.count) processes")
    }
    details["method"] =
      "applyShaped (setns worker, link lookup, root dump, prio + netem + one flower filter per peer, read-back "
      + "of the qdiscs and every filter) from the kernel default root, then revert; tc: the same tree "
      + "spawned command by command (NetemKernel.tcCommands), then `tc qdisc del … root`; "
      + "round trips are netlink requests counted by NetlinkSocket"
    return (figures, details)
  }
}
