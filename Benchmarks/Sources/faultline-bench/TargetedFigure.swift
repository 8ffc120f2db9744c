import FaultModel
import Foundation
@_spi(Benchmarks) import NetemKernel
import RawNetlink

/// `targeted_{1,10,100}_*`: a targeted fault (a prio root, a netem child and one flower filter per
/// peer) applied and removed in-process, against the same requests sent one by one by the raw sender
/// and against the same tree built by `tc`, one process per qdisc and filter, as
/// `faultline inject --dry-run` prints it.
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
    let netem = NetemKernel()
    // A fault on the veth's other end keeps the namespace's socket open, as the raw sender's is.
    let holder = FaultTarget(interface: "fb1", namespace: namespaces.target(0).namespace)
    _ = try await netem.apply(BenchFault.fault, to: holder)
    do {
      let result = try await measureHeld(
        namespaces, kernel: kernel, netem: netem, iterations: iterations, warmup: warmup)
      _ = try await netem.revert(holder)
      return result
    } catch {
      _ = try? await netem.revert(holder)
      throw error
    }
  }

  private static func measureHeld(
    _ namespaces: BenchNamespaces, kernel: KernelFigures, netem: NetemKernel, iterations: Int, warmup: Int
  ) async throws -> (figures: [String: Any], details: [String: Any]) {
    let target = namespaces.target(0)
    let namespace = namespaces.names[0]
    let path = "/run/netns/\(namespace)"
    let interface = BenchNamespaces.interface
    let (_, ifindex) = try await netem.resolve(target)
    var figures: [String: Any] = [:]
    var details: [String: Any] = [:]
    for peers in [1, 10, 100] {
      let shape = shape(peers: peers)
      let commands = NetemKernel.tcCommands(for: BenchFault.fault, shape: shape, interface: interface)
        .map { line in [kernel.tc, "-n", namespace] + line.split(separator: " ").dropFirst().map(String.init)
        }
      let remove = [kernel.tc, "-n", namespace, "qdisc", "del", "dev", interface, "root"]
      let messages = try NetemKernel.shapedTreeMessages(
        BenchFault.fault, shape: shape, ifindex: ifindex, interface: interface
      ).messages
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
          try await microseconds {
            _ = try await netem.applyShaped(BenchFault.fault, shape: shape, to: target)
          })
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
      let (raw, rawTrips) = try await RawSender.onThread {
        try rawTree(path: path, interface: interface, messages: messages, rounds: rounds)
      }
      let ourTrips = requests.sorted()[requests.count / 2]
      figures["targeted_\(peers)_apply_p50_us"] = rounded(ours.median)
      figures["targeted_\(peers)_raw_p50_us"] = rounded(raw.median)
      figures["targeted_\(peers)_raw_ratio"] = rounded(ours.median / raw.median, 2)
      figures["targeted_\(peers)_tc_p50_us"] = rounded(theirs.median)
      figures["targeted_\(peers)_round_trips"] = ourTrips
      figures["targeted_\(peers)_raw_round_trips"] = rawTrips
      figures["targeted_\(peers)_tc_processes"] = commands.count
      details["targeted_\(peers)"] = [
        "apply_us": ours.summary(), "raw_us": raw.summary(), "tc_us": theirs.summary(), "rounds": rounds,
        "round_trips_per_apply": ourTrips, "raw_round_trips_per_apply": rawTrips,
      ]
      progress(
        "targeted \(peers) peers: in-process p50 \(rounded(ours.median)) µs in \(ourTrips) round trips; raw "
          + "\(rounded(raw.median)) µs in \(rawTrips); tc p50 \(rounded(theirs.median)) µs in \(commands.count) "
          + "processes")
    }
    details["method"] =
      "applyShaped (the namespace's socket open: a fault on fb1 holds it; link and root in one round trip, "
      + "prio + netem, every flower filter in one batch, read-back of the qdiscs and every filter) from the "
      + "kernel default root, then revert; raw: the same messages byte for byte (NetemKernel.shapedTreeMessages) "
      + "sent one per round trip by the C sender over an open socket, then its root deleted; tc: the same tree "
      + "spawned command by command (NetemKernel.tcCommands), then `tc qdisc del … root`; round trips are "
      + "netlink requests counted by each sender"
    return (figures, details)
  }

  /// The raw sender builds the tree `rounds` times (timed) and deletes it (untimed).
  private static func rawTree(path: String, interface: String, messages: [[UInt8]], rounds: Int) throws
    -> (Samples, Int)
  {
    let (fd, ifindex) = try RawSender.open(path, interface: interface)
    defer { close(fd) }
    var samples = Samples()
    var trips = 0
    for _ in 0..<rounds {
      let before = RawSender.requestsSent
      samples.append(
        try microseconds {
          for message in messages {
            var bytes = message
            let rc = bytes.withUnsafeMutableBytes { raw_send_message(fd, $0.baseAddress, $0.count) }
            guard rc >= 0 else { throw BenchError("raw targeted request: \(String(cString: strerror(-rc)))") }
          }
        })
      trips = RawSender.requestsSent - before
      try RawSender.revert(fd, ifindex)
    }
    return (samples, trips)
  }
}
