import FaultModel
import Foundation
import Synchronization

/// Resolves a hostname to its addresses.
public protocol HostResolver: Sendable {
  /// The A and AAAA addresses of `host` now, as /32 and /128 prefixes.
  func resolve(_ host: String) async throws -> [IPPrefix]
}

/// The addresses of pods a selector picks, anywhere in the cluster (`status.podIPs`, both families).
public protocol PodAddressSource: Sendable {
  /// Calls `update` with the addresses now, then whenever they change, until the task is cancelled.
  func watchAddresses(_ selector: PodSelector, update: @Sendable ([IPPrefix]) async -> Void) async throws

  /// The addresses now, once (`faultline plan`).
  func addresses(_ selector: PodSelector) async throws -> [IPPrefix]
}

/// Why a hostname did not resolve.
public struct HostResolutionError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The name.
  public let host: String
  /// What the resolver said.
  public let reason: String

  /// `host` did not resolve because of `reason`.
  public init(host: String, reason: String) {
    self.host = host
    self.reason = reason
  }
  /// `cannot resolve db.internal: Name or service not known`.
  public var description: String { "cannot resolve \(host): \(reason)" }
}

/// The system's resolver (`getaddrinfo`, so `/etc/hosts`, the pod's `resolv.conf` and search
/// domains apply as for any program in the pod's place).
///
/// `getaddrinfo` blocks, so each lookup runs on a thread of its own, never on the cooperative pool.
/// It does not report TTLs: the agent re-resolves on a fixed interval instead.
public struct SystemHostResolver: HostResolver {
  /// The system resolver.
  public init() {}

  /// Looks `host` up on a dedicated thread.
  public func resolve(_ host: String) async throws -> [IPPrefix] {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[IPPrefix], any Error>) in
      let thread = Thread { continuation.resume(with: Result { try Self.lookUp(host) }) }
      thread.name = "faultline-resolve"
      thread.start()
    }
  }

  private static func lookUp(_ host: String) throws -> [IPPrefix] {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    let code = getaddrinfo(host, nil, &hints, &list)
    guard code == 0 else {
      throw HostResolutionError(host: host, reason: String(cString: gai_strerror(code)))
    }
    defer { freeaddrinfo(list) }
    var result: [IPPrefix] = []
    var node = list
    while let info = node?.pointee {
      if info.ai_family == AF_INET, let address = info.ai_addr {
        let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
          withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
        }
        result.append(IPPrefix(address: bytes, length: 32))
      } else if info.ai_family == AF_INET6, let address = info.ai_addr {
        let bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
          withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
        }
        result.append(IPPrefix(address: bytes, length: 128))
      }
      node = info.ai_next
    }
    var seen = Set<IPPrefix>()
    return result.filter { seen.insert($0).inserted }
  }
}

/// Follows the peers of one window: fixed prefixes as written, hostnames re-resolved every
/// `interval`, pod addresses as the pods come and go. Reports the whole list whenever it changes.
public struct PeerResolution: Sendable {
  let selector: TrafficSelector
  let hosts: any HostResolver
  let pods: (any PodAddressSource)?
  let interval: Duration
  let clock: any AgentClock

  /// Whether the selection has peers that change while a window is open.
  public static func isDynamic(_ selector: TrafficSelector?) -> Bool {
    selector?.peers.contains {
      switch $0 {
      case .prefix: false
      case .host, .pods: true
      }
    } ?? false
  }

  /// The peers known without asking anyone.
  static func fixedPeers(_ selector: TrafficSelector?) -> [ResolvedPeer] {
    selector?.peers.compactMap {
      if case .prefix(let prefix) = $0 { return ResolvedPeer(prefix: prefix) }
      return nil
    } ?? []
  }

  /// Every peer of `selector` resolved once, now, and what could not be (one line each): for a
  /// command that holds one window (`inject`) or only shows the plan (`plan`).
  public static func resolveOnce(
    _ selector: TrafficSelector, hosts: any HostResolver, pods: (any PodAddressSource)?
  ) async -> (peers: [ResolvedPeer], problems: [String]) {
    var peers: [ResolvedPeer] = []
    var problems: [String] = []
    for peer in selector.peers {
      switch peer {
      case .prefix(let prefix):
        peers.append(ResolvedPeer(prefix: prefix))
      case .host(let name, let ports):
        do { peers += try await hosts.resolve(name).map { ResolvedPeer(prefix: $0, ports: ports) } } catch {
          problems.append("\(error)")
        }
      case .pods(let podSelector):
        guard let pods else {
          problems.append("peers are pods (\(podSelector)): the Kubernetes API is needed to find them")
          continue
        }
        do { peers += try await pods.addresses(podSelector).map { ResolvedPeer(prefix: $0) } } catch {
          problems.append("cannot list the peer pods \(podSelector): \(error)")
        }
      }
    }
    return (peers, problems)
  }

  /// Calls `update` with every peer once all dynamic peers answered, then on every change, until
  /// cancelled; `failed` hears of lookups that fail (the last good addresses of that peer stay).
  func follow(
    update: @Sendable @escaping ([ResolvedPeer]) async -> Void,
    failed: @Sendable @escaping (String) async -> Void
  ) async {
    let fixed = Self.fixedPeers(selector)
    let dynamicCount = selector.peers.count - fixed.count
    let state = PeerState()
    @Sendable func publish() async {
      guard let current = state.current(fixed: fixed, dynamicCount: dynamicCount), state.changed(to: current)
      else { return }
      await update(current)
    }
    if dynamicCount == 0 {
      await publish()
      return
    }
    await withDiscardingTaskGroup { group in
      for (index, peer) in selector.peers.enumerated() {
        switch peer {
        case .prefix:
          continue
        case .host(let name, let ports):
          group.addTask {
            while !Task.isCancelled {
              do {
                let addresses = try await hosts.resolve(name)
                state.set(index, addresses.map { ResolvedPeer(prefix: $0, ports: ports) })
                await publish()
              } catch {
                await failed("\(error)")
              }
              do { try await clock.sleep(for: interval) } catch { return }
            }
          }
        case .pods(let selector):
          group.addTask {
            guard let pods else {
              await failed(
                "peers are pods (\(selector)): set --node-name or NODE_NAME so the agent reaches the API")
              return
            }
            while !Task.isCancelled {
              do {
                try await pods.watchAddresses(selector) { addresses in
                  state.set(index, addresses.map { ResolvedPeer(prefix: $0) })
                  await publish()
                }
                return
              } catch {
                if Task.isCancelled { return }
                await failed("cannot list the peer pods \(selector): \(error)")
                do { try await clock.sleep(for: interval) } catch { return }
              }
            }
          }
        }
      }
    }
  }
}

/// What a ``PeerResolution`` knows so far: each dynamic peer's latest addresses, and what it last
/// reported.
private final class PeerState: Sendable {
  private let known = Mutex<[Int: [ResolvedPeer]]>([:])
  private let last = Mutex<[ResolvedPeer]?>(nil)

  func set(_ index: Int, _ peers: [ResolvedPeer]) {
    known.withLock { $0[index] = peers }
  }

  /// Every peer, once all `dynamicCount` dynamic peers answered at least once.
  func current(fixed: [ResolvedPeer], dynamicCount: Int) -> [ResolvedPeer]? {
    known.withLock { known in
      guard known.count == dynamicCount else { return nil }
      return fixed + known.keys.sorted().flatMap { known[$0]! }
    }
  }

  /// Records `peers` as reported; whether they differ from the last report.
  func changed(to peers: [ResolvedPeer]) -> Bool {
    last.withLock { last in
      defer { last = peers }
      return last != peers
    }
  }
}
