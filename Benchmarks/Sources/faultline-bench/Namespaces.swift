import FaultModel
import Foundation

/// Network namespaces for the benchmarks, each holding a veth pair `fb0`/`fb1`, both up as a pod's
/// `eth0` is (a qdisc change on an up device costs more: the kernel deactivates and reactivates its
/// queues). Made with `ip` (one batch, then one run per namespace to set the links up; setup is not
/// timed) and deleted by ``close()``.
final class BenchNamespaces {
  /// The namespace names (`/run/netns/NAME`).
  let names: [String]
  /// The interface the faults go on, in every namespace.
  static let interface = "fb0"

  /// Creates `count` namespaces named `PREFIX-<random>-<i>`.
  init(count: Int, prefix: String = "flb") throws {
    let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    names = (0..<count).map { "\(prefix)-\(tag)-\($0)" }
    var batch = ""
    for name in names {
      batch += "netns add \(name)\n"
      batch += "link add fb0 netns \(name) type veth peer name fb1 netns \(name)\n"
    }
    do {
      try Spawn.must(["ip", "-batch", "-"], input: batch)
      for name in names {
        try Spawn.must(["ip", "-n", name, "-batch", "-"], input: "link set fb0 up\nlink set fb1 up\n")
      }
    } catch {
      close()
      throw error
    }
  }

  /// The fault target on namespace `index`.
  func target(_ index: Int = 0) -> FaultTarget {
    FaultTarget(interface: Self.interface, namespace: .named(names[index]))
  }

  /// Deletes every namespace (and with it its veth pair).
  func close() {
    let batch = names.map { "netns del \($0)\n" }.joined()
    _ = try? Spawn.output(["ip", "-force", "-batch", "-"], input: batch)
  }
}
