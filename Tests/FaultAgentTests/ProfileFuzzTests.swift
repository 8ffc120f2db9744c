import AgentTestSupport
import FaultAgent
import FaultModel
import Foundation
import Testing

/// The profile parser reads files anyone with access to the ConfigMap wrote: mutated profiles and
/// random alias structures never trap, finish quickly, and report problems at real positions.
@Suite struct ProfileFuzzTests {
  static let corpus = [
    profileYAML("web-latency", schedule: "*/5 * * * *", duration: "1m", netem: "delay: 50ms; jitter: 5ms"),
    profileYAML("pods", pods: "namespace: default\nlabels: {app: web}", netem: "loss: 1%"),
    """
    apiVersion: chaos-mesh.org/v1alpha1
    kind: NetworkChaos
    metadata: {name: mesh}
    spec:
      action: delay
      mode: all
      selector: {namespaces: [default], labelSelectors: {app: web}}
      delay: {latency: 90ms, jitter: 10ms}
      duration: 30s
    ---
    name: second
    target: {interface: &i eth0}
    netem: {delay: &d 10ms, jitter: *d}

    """,
  ]

  static let tokens = [
    ":", ": ", "- ", "&a ", "*a", "&b ", "*b", "? ", "[", "]", "{", "}", ",", "\"", "'", "\n", "  ", "#",
    "|", ">", "!!str ", "!!map ", "---\n", "...\n", "%YAML 1.2\n", "\t", "\u{0}", "é", "\u{200b}", "<<: ",
    "~", "null", "1e999", "-1", "0x10", "9999999999999999999999", "100ms", "100%",
  ]

  /// One random edit of `text`: a deletion, a duplication, or inserted YAML tokens.
  func mutate(_ text: String, _ random: inout SplitMix64) -> String {
    var scalars = Array(text.unicodeScalars)
    let at = Int.random(in: 0...scalars.count, using: &random)
    switch Int.random(in: 0..<3, using: &random) {
    case 0:
      scalars.removeSubrange(at..<min(scalars.count, at + Int.random(in: 1...20, using: &random)))
    case 1:
      let end = min(scalars.count, at + Int.random(in: 1...40, using: &random))
      scalars.insert(contentsOf: scalars[at..<end], at: at)
    default:
      for _ in 0..<Int.random(in: 1...3, using: &random) {
        scalars.insert(
          contentsOf: Self.tokens[Int.random(in: 0..<Self.tokens.count, using: &random)].unicodeScalars,
          at: at)
      }
    }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
  }

  @Test func mutatedProfilesNeverTrapAndReportRealPositions() {
    let seed = SplitMix64.testSeed("mutatedProfilesNeverTrapAndReportRealPositions")
    var random = SplitMix64(seed: seed)
    let clock = ContinuousClock()
    for index in 0..<600 {
      var text = Self.corpus[Int.random(in: 0..<Self.corpus.count, using: &random)]
      for _ in 0..<Int.random(in: 1...4, using: &random) { text = mutate(text, &random) }
      var issues: [ProfileIssue] = []
      let elapsed = clock.measure { issues = ProfileLoader.load(text: text, file: "fuzz.yaml").1 }
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
      let context = "seed \(seed) case \(index): \(text.debugDescription)"
      #expect(elapsed < .seconds(1), "\(context) took \(elapsed)")
      for issue in issues {
        #expect(issue.file == "fuzz.yaml" && !issue.message.isEmpty, "\(context): \(issue)")
        #expect((0...(lines + 1)).contains(issue.line), "\(context): \(issue) is past the last line")
      }
    }
  }

  @Test func randomAliasStructuresStayBounded() {
    let seed = SplitMix64.testSeed("randomAliasStructuresStayBounded")
    var random = SplitMix64(seed: seed)
    let clock = ContinuousClock()
    for index in 0..<200 {
      // Levels of anchored lists of aliases to earlier levels, then aliases in random places.
      let levels = Int.random(in: 1...9, using: &random)
      var text = "name: n\ntarget: {interface: eth0}\nnetem: {delay: 1ms}\nl0: &l0 [x, y]\n"
      for level in 1..<max(levels, 2) {
        let width = Int.random(in: 1...12, using: &random)
        let items = (0..<width).map { _ in "*l\(Int.random(in: 0..<level, using: &random))" }
        text += "l\(level): &l\(level) [\(items.joined(separator: ", "))]\n"
      }
      let last = max(levels, 2) - 1
      switch Int.random(in: 0..<4, using: &random) {
      case 0: text += "? *l\(last)\n: v\n"
      case 1: text += "k: {[*l\(last)]: v}\n"
      case 2: text += "k: [*l\(last), *l\(last)]\n"
      default: text += "*l\(last) : v\n"
      }
      var issues: [ProfileIssue] = []
      let elapsed = clock.measure { issues = ProfileLoader.load(text: text, file: "alias.yaml").1 }
      #expect(elapsed < .seconds(1), "seed \(seed) case \(index) took \(elapsed): \(text)")
      #expect(!issues.isEmpty, "seed \(seed) case \(index): the l0… fields alone are unknown")
    }
  }

  @Test func aHugeFileIsReportedWithoutReadingItAll() throws {
    let directory = NSTemporaryDirectory() + "faultline-fuzz-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/huge.yaml"
    try Data(repeating: UInt8(ascii: "#"), count: 3 << 20).write(to: URL(fileURLWithPath: path))
    let result = ProfileFiles.load(paths: [directory])
    #expect(result.profiles.isEmpty)
    #expect(
      result.issues.map(\.message) == [
        "the file is 3145728 bytes, over the 1048576-byte limit for a profile file; split it into several files"
      ])
  }
}
