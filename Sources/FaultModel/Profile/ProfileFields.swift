import Foundation
import Yams

// Field readers shared by the native and the Chaos Mesh format: names, durations, schedules, time zones,
// Kubernetes names, and netem fields with their source nodes.

/// `UTC`, the default time zone of profiles.
let utcTimeZone = TimeZone(identifier: "UTC")!

extension DocumentReader {
  /// A profile name: 1-253 letters, digits, `-`, `_` or `.`, starting with a letter or digit.
  mutating func profileName(_ node: Node, path: String) -> String? {
    guard let text = text(node, path: path) else { return nil }
    let allowed = text.unicodeScalars.allSatisfy {
      ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_" || $0 == "."
    }
    guard !text.isEmpty, text.count <= 253, allowed, text.first!.isLetter || text.first!.isNumber else {
      report(
        node, path,
        "invalid name \"\(text)\": use 1-253 letters, digits, '-', '_' or '.', starting with a letter or digit"
      )
      return nil
    }
    return text
  }

  /// A positive Go-style duration (`5m`, `1h30m`); a bare number, zero or a negative value is reported.
  mutating func positiveDuration(_ node: Node, path: String) -> Duration? {
    guard let text = text(node, path: path) else { return nil }
    let duration: Duration
    do throws(DurationParseError) {
      duration = try parseGoDuration(text)
    } catch {
      report(node, path, "invalid duration: \(error.message)")
      return nil
    }
    guard duration > .zero else {
      report(node, path, "invalid duration \"\(text)\": must be greater than zero, e.g. 5m")
      return nil
    }
    return duration
  }

  /// A schedule, with an optional `CRON_TZ=ZONE ` or `TZ=ZONE ` prefix (as robfig/cron, which Chaos
  /// Mesh uses, accepts) returned as the time zone.
  mutating func schedule(_ node: Node, path: String) -> (Schedule, TimeZone?)? {
    guard var text = text(node, path: path) else { return nil }
    var zone: TimeZone?
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    for prefix in ["CRON_TZ=", "TZ="] where trimmed.hasPrefix(prefix) {
      let spec = trimmed.dropFirst(prefix.count)
      let name = String(spec.prefix { $0 != " " && $0 != "\t" })
      guard let parsed = timeZone(named: name, node: node, path: path) else { return nil }
      zone = parsed
      text = String(spec.dropFirst(name.count))
    }
    do throws(ScheduleError) {
      return (try Schedule(parsing: text), zone)
    } catch {
      report(
        node, path, "invalid schedule \"\(text.trimmingCharacters(in: .whitespaces))\": \(error.description)")
      return nil
    }
  }

  /// A time zone by IANA name (`Europe/Berlin`, `UTC`).
  mutating func timeZone(_ node: Node, path: String) -> TimeZone? {
    guard let text = text(node, path: path) else { return nil }
    return timeZone(named: text, node: node, path: path)
  }

  private mutating func timeZone(named name: String, node: Node, path: String) -> TimeZone? {
    if let zone = TimeZone(identifier: name), !name.isEmpty { return zone }
    let hint =
      closestMatch(to: name, in: TimeZone.knownTimeZoneIdentifiers).map { "; did you mean \"\($0)\"?" }
      ?? "; use an IANA name such as UTC, Europe/Berlin or America/New_York"
    report(node, path, "unknown time zone \"\(name)\"\(hint)")
    return nil
  }

  /// An interface name as Linux allows it: 1-15 bytes, no `/`, `:` or whitespace, not `.` or `..`.
  mutating func interfaceName(_ node: Node, path: String) -> String? {
    guard let text = text(node, path: path) else { return nil }
    let bad = text.contains { $0 == "/" || $0 == ":" || $0.isWhitespace }
    guard !text.isEmpty, text.utf8.count <= 15, !bad, text != ".", text != ".." else {
      report(
        node, path,
        "invalid interface name \"\(text)\": use 1-15 characters without '/', ':' or spaces, e.g. eth0")
      return nil
    }
    return text
  }

  /// A Kubernetes namespace name (a DNS label: 1-63 of `a-z`, `0-9`, `-`, alphanumeric at both ends).
  mutating func kubernetesNamespace(_ node: Node, path: String) -> String? {
    guard let text = text(node, path: path) else { return nil }
    guard isDNSLabel(text) else {
      report(
        node, path,
        "invalid namespace \"\(text)\": use 1-63 lower-case letters, digits or '-', starting and ending "
          + "with a letter or digit")
      return nil
    }
    return text
  }

  /// A mapping of Kubernetes labels (`key: value`), each checked as Kubernetes does.
  mutating func kubernetesLabels(_ node: Node, path: String) -> [String: String]? {
    guard let mapping = node.mapping else {
      report(node, path, "expected a mapping of labels (key: value), found \(describe(node))")
      return nil
    }
    var labels: [String: String] = [:]
    var failed = false
    for (keyNode, valueNode) in mapping {
      guard let key = keyNode.scalar?.string, isLabelKey(key) else {
        report(
          keyNode, path,
          "invalid label key \(describe(keyNode)): use [PREFIX/]NAME, NAME being 1-63 letters, digits, "
            + "'-', '_' or '.' starting and ending with a letter or digit")
        failed = true
        continue
      }
      let valuePath = join(path, key)
      guard let value = valueNode.null != nil ? "" : text(valueNode, path: valuePath) else {
        failed = true
        continue
      }
      guard value.isEmpty || isLabelName(value) else {
        report(
          valueNode, valuePath,
          "invalid label value \"\(value)\": use up to 63 letters, digits, '-', '_' or '.', starting and "
            + "ending with a letter or digit")
        failed = true
        continue
      }
      labels[key] = value
    }
    return failed ? nil : labels
  }
}

private func isDNSLabel(_ text: String) -> Bool {
  let scalars = Array(text.unicodeScalars)
  guard (1...63).contains(scalars.count) else { return false }
  func alnum(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("0"..."9").contains(s) }
  return alnum(scalars.first!) && alnum(scalars.last!) && scalars.allSatisfy { alnum($0) || $0 == "-" }
}

private func isLabelName(_ text: String) -> Bool {
  let scalars = Array(text.unicodeScalars)
  guard (1...63).contains(scalars.count) else { return false }
  func alnum(_ s: Unicode.Scalar) -> Bool {
    ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
  }
  return alnum(scalars.first!) && alnum(scalars.last!)
    && scalars.allSatisfy { alnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
}

private func isLabelKey(_ text: String) -> Bool {
  let parts = text.split(separator: "/", omittingEmptySubsequences: false)
  switch parts.count {
  case 1: return isLabelName(text)
  case 2:
    let prefix = String(parts[0])
    let subdomainOK =
      (1...253).contains(prefix.count)
      && prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
        isDNSLabel(String($0))
      }
    return subdomainOK && isLabelName(String(parts[1]))
  default: return false
  }
}

/// Builds a ``NetemFault`` from fields read one at a time, remembering where each was written so that
/// the combination rules of ``NetemFault/validated()`` point at the right node.
struct NetemBuilder {
  /// The fault so far.
  var fault = NetemFault()
  /// For each netem key that was set: the node to point at and its field path.
  var sources: [String: (node: Node, path: String)] = [:]
  /// Whether any field failed to parse (then ``validated(reader:emptyNode:emptyPath:)`` checks nothing).
  var failed = false

  /// Sets netem field `key` from `text`, reporting a bad value at `valueNode`; combination errors about
  /// `key` are reported at `keyNode`.
  mutating func set(
    _ key: String, _ text: String, valueNode: Node, keyNode: Node? = nil, path: String,
    reader: inout DocumentReader
  ) {
    do throws(FaultError) {
      try fault.set(key, to: text)
      sources[key] = (keyNode ?? valueNode, path)
    } catch {
      reader.report(valueNode, path, error.message)
      failed = true
    }
  }

  /// The validated fault; a combination error is reported at the source of the field it names, an empty
  /// fault at `emptyNode`.
  func validated(reader: inout DocumentReader, emptyNode: Node?, emptyPath: String) -> NetemFault? {
    guard !failed else { return nil }
    do throws(FaultError) {
      return try fault.validated()
    } catch {
      var source = error.field.flatMap { sources[$0] }
      if source == nil, error.field == "loss" {
        source = ["loss", "loss-state", "loss-gemodel"].lazy.compactMap { sources[$0] }.first
      }
      if let source {
        reader.report(source.node, source.path, error.message)
      } else {
        reader.report(emptyNode, emptyPath, error.message)
      }
      return nil
    }
  }
}
