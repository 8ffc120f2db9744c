import FaultModel
import Foundation
import Testing

/// A profile cannot make the loader do unbounded work: aliases are values only, a document expands to
/// a bounded number of nodes, nesting and file size are capped, and the error comes back at once.
@Suite struct ProfileBoundsTests {
  /// Levels `l0`…`l<levels-1>` of ten aliases each to the level below: the last expands to 10^levels
  /// scalars.
  static func laughs(levels: Int) -> String {
    var text = "l0: &l0 [\(Array(repeating: "\"lol\"", count: 10).joined(separator: ","))]\n"
    for level in 1..<levels {
      text +=
        "l\(level): &l\(level) [\(Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ","))]\n"
    }
    return text
  }

  func load(_ text: String, file: String = "bomb.yaml") -> (issues: [ProfileIssue], seconds: Double) {
    let clock = ContinuousClock()
    var issues: [ProfileIssue] = []
    let elapsed = clock.measure { issues = ProfileLoader.load(text: text, file: file).1 }
    return (issues, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
  }

  @Test func aBillionLaughsWithAnAliasAsKeyIsRejectedInMilliseconds() {
    // Before the bounds, Yams hashed the 10^7-scalar key while composing: many seconds of CPU.
    let text = "name: bomb\n" + Self.laughs(levels: 7) + "? *l6\n: boom\n"
    let (issues, seconds) = load(text)
    #expect(seconds < 2, "took \(seconds) s")
    let issue = issues.first
    #expect(issue?.file == "bomb.yaml")
    #expect(issue.map { "\($0)" }?.hasPrefix("bomb.yaml:") == true, "\(issues)")
    #expect(issue?.message.contains("expands to more than") == true, "\(issues)")
  }

  @Test func anAliasAsKeyIsRejectedWithItsLine() {
    // Small enough to stay under the expansion bound: the alias key alone is the problem.
    let text = "name: bomb\n" + Self.laughs(levels: 3) + "? *l2\n: boom\n"
    let (issues, _) = load(text)
    let issue = issues.first
    #expect(issue?.line == 5, "the line of the alias key")
    #expect(issue?.message.contains("the alias *l2 is used as a mapping key") == true, "\(issues)")
    #expect(issue.map { "\($0)" }?.contains("bomb.yaml:5:") == true)
  }

  @Test func anAliasInsideAFlowKeyIsRejectedToo() {
    for key in ["k: {[*l5]: boom}", "[*l5]: boom", "? [x, {y: *l5}]\n: boom"] {
      let (issues, seconds) = load(
        "name: bomb\n" + Self.laughs(levels: 4) + key.replacingOccurrences(of: "l5", with: "l3") + "\n")
      #expect(seconds < 2, "\(key): took \(seconds) s")
      #expect(issues.contains { $0.message.contains("used as a mapping key") }, "\(key): \(issues)")
    }
  }

  @Test func aBillionLaughsInValuesIsRejectedByItsExpandedSize() {
    let text = "name: bomb\n" + Self.laughs(levels: 9) + "target: {interface: *l8}\n"
    let (issues, seconds) = load(text)
    #expect(seconds < 2, "took \(seconds) s")
    #expect(issues.contains { $0.message.contains("expands to more than 100000 nodes") }, "\(issues)")
  }

  @Test func aliasesUsedAsValuesStillWork() throws {
    let text = """
      name: web-latency
      target:
        interface: &iface eth0
      netem:
        delay: &d 50ms
        jitter: *d

      """
    let (profiles, issues) = ProfileLoader.load(text: text, file: "p.yaml")
    #expect(issues.isEmpty, "\(issues)")
    let profile = try #require(profiles.first)
    #expect(profile.fault.delay == .milliseconds(50))
    #expect(profile.fault.jitter == .milliseconds(50))
  }

  @Test func deepNestingIsRejected() {
    let text =
      "name: deep\nx: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
    let (issues, _) = load(text)
    #expect(issues.contains { $0.message.contains("nested more than 64 deep") && $0.line == 2 }, "\(issues)")
  }

  @Test func aDocumentWithTooManyValuesIsRejectedEvenWithoutAliases() {
    let text = "name: wide\nx: [" + Array(repeating: "a", count: 150_000).joined(separator: ",") + "]\n"
    let (issues, seconds) = load(text)
    #expect(seconds < 2)
    #expect(
      issues.map(\.message) == [
        "the document has more than 100000 values; a profile has a few dozen: split the file or remove what "
          + "faultline does not read"
      ])
  }

  @Test func aFileOverOneMebibyteIsRejectedUnparsed() {
    let text = "name: big\n" + String(repeating: "# padding\n", count: (1 << 20) / 10)
    let (issues, seconds) = load(text, file: "big.yaml")
    #expect(seconds < 2)
    #expect(issues.count == 1)
    #expect(issues.first?.message.contains("over the 1048576-byte limit") == true, "\(issues)")
    #expect(issues.first?.file == "big.yaml")
  }
}
