import FaultModel
import Testing

/// The combination rules `tc` enforces, checked before the kernel is touched.
@Suite struct FaultValidationTests {
  private func validate(_ flags: [(String, String)]) throws -> NetemFault {
    var f = NetemFault()
    for (key, value) in flags { try f.set(key, to: value) }
    return try f.validated()
  }

  @Test(arguments: [
    ([("jitter", "10ms")], "jitter needs a delay"),
    ([("delay", "-5ms")], "negative"),
    ([("delay", "10")], "has no unit"),
    ([("loss", "101")], "outside 0–100%"),
    ([("delay", "10ms"), ("distribution", "gaussian")], "unknown distribution"),
    ([("limit", "100")], "no fault given"),
    ([("loss", "1%"), ("loss-state", "1%")], "only one of loss"),
    ([("reorder", "10%")], "reordering needs a delay"),
    ([("delay", "1ms"), ("gap", "3")], "gap needs reorder"),
    ([("ecn", "true"), ("delay", "1ms")], "needs a loss setting"),
    ([("rate", "fast")], "not a rate"),
    ([("slot", "20ms,10ms")], "MIN ≤ MAX"),
    ([("loss-correlation", "20%"), ("delay", "1ms")], "needs loss"),
  ])
  func badInputNamesTheFieldAndWhatIsAllowed(flags: [(String, String)], message: String) {
    do {
      _ = try validate(flags)
      Issue.record("expected an error containing \(message)")
    } catch {
      #expect("\(error)".contains(message), "\(error)")
    }
  }

  @Test func unknownKeySuggestsTheClosestOne() {
    var f = NetemFault()
    #expect(throws: FaultError.unknownKey("lose", suggestion: "loss")) { try f.set("lose", to: "1%") }
  }

  @Test func reorderWithoutGapGetsGapOneLikeTc() throws {
    #expect(try validate([("delay", "10ms"), ("reorder", "25%")]).gap == 1)
  }

  @Test func ratesParseLikeTc() throws {
    #expect(try Bandwidth(parsing: "1mbit").bitsPerSecond == 1_000_000)
    #expect(try Bandwidth(parsing: "20000").bitsPerSecond == 20_000)
    #expect(try Bandwidth(parsing: "1mbps").bitsPerSecond == 8_000_000)
    #expect(try Bandwidth(parsing: "1Kibit").bitsPerSecond == 1024)
  }

  @Test func summaryUsesFlagNames() throws {
    let f = try validate([("delay", "500ms"), ("jitter", "100ms"), ("correlation", "50%"), ("loss", "1%")])
    #expect(f.summary == "delay=500ms jitter=100ms correlation=50% loss=1%")
  }
}
