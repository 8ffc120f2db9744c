/// The traffic flags of `faultline inject`, as typed: each repeatable flag is a list in command-line order.
public struct TrafficFlags: Sendable, Hashable {
  /// `--to PEER` (CIDR, address, or `host[:port]`).
  public var to: [String]
  /// `--direction egress|ingress|both`.
  public var direction: String?
  /// `--port P|LOW-HIGH`.
  public var ports: [String]
  /// `--protocol tcp|udp|icmp|any`.
  public var transport: String?
  /// `--exclude CIDR`.
  public var exclude: [String]
  /// `--exclude-port P|LOW-HIGH`.
  public var excludePorts: [String]

  /// Flags as given; all empty means no selection.
  public init(
    to: [String] = [], direction: String? = nil, ports: [String] = [], transport: String? = nil,
    exclude: [String] = [], excludePorts: [String] = []
  ) {
    self.to = to
    self.direction = direction
    self.ports = ports
    self.transport = transport
    self.exclude = exclude
    self.excludePorts = excludePorts
  }

  /// Whether no traffic flag was given.
  public var isEmpty: Bool {
    to.isEmpty && direction == nil && ports.isEmpty && transport == nil && exclude.isEmpty
      && excludePorts.isEmpty
  }
}

/// A traffic flag that cannot be used: the flag and what to write instead.
public struct TrafficFlagError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The flag, e.g. `--port`.
  public let flag: String
  /// What is wrong and what is allowed.
  public let message: String

  init(_ flag: String, _ message: String) {
    self.flag = flag
    self.message = message
  }

  /// `--port: 70000: 70000 is more than 65535, the highest port`.
  public var description: String { "\(flag): \(message)" }
}

extension TrafficSelector {
  /// The selection `faultline inject`'s flags describe, checked with ``issues()``; nil when no traffic
  /// flag is given (the whole interface's egress, as without flags).
  public init?(flags: TrafficFlags) throws(TrafficFlagError) {
    guard !flags.isEmpty else { return nil }
    self.init()
    if let text = flags.direction {
      direction = try parseChoice(text, flag: "--direction", aliases: directionAliases)
    }
    if let text = flags.transport {
      transport = try parseChoice(text, flag: "--protocol", aliases: protocolAliases)
    }
    do throws(UnitParseError) {
      for text in flags.to { peers.append(try TrafficPeer(parsing: text)) }
    } catch {
      throw TrafficFlagError("--to", error.description)
    }
    do throws(UnitParseError) {
      for text in flags.ports { ports.append(try PortRange(parsing: text)) }
    } catch {
      throw TrafficFlagError("--port", error.description)
    }
    do throws(UnitParseError) {
      for text in flags.exclude { excludedPeers.append(try excludedPrefix(text)) }
    } catch {
      throw TrafficFlagError("--exclude", error.description)
    }
    do throws(UnitParseError) {
      for text in flags.excludePorts { excludedPorts.append(try PortRange(parsing: text)) }
    } catch {
      throw TrafficFlagError("--exclude-port", error.description)
    }
    if let issue = issues().first {
      let flag =
        switch issue.field {
        case .direction: "--direction"
        case .peers, .peer: "--to"
        case .ports, .port: "--port"
        case .transport: "--protocol"
        case .excludedPeers, .excludedPeer: "--exclude"
        case .excludedPorts, .excludedPort: "--exclude-port"
        }
      throw TrafficFlagError(flag, issue.message)
    }
  }
}

/// A choice among an enum's raw values (case-insensitive), with Chaos Mesh-style or other aliases that
/// are answered with the word to write.
func parseChoice<Choice: RawRepresentable & CaseIterable>(
  _ text: String, flag: String, aliases: [String: (Choice, String)]
) throws(TrafficFlagError) -> Choice where Choice.RawValue == String {
  do throws(UnitParseError) {
    return try parseChoice(text, aliases: aliases)
  } catch {
    throw TrafficFlagError(flag, error.description)
  }
}
