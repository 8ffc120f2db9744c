import Foundation
import Testing

@testable import TraceAnalysis

@Suite struct FailConditionTests {
  @Test func parsesOverallRelativeAbsoluteAndScopedConditions() throws {
    let relative = try FailCondition(parsing: "p99 > +50%")
    #expect(relative.service == nil && relative.operation == nil)
    #expect(relative.metric == .p99 && relative.comparison == .greater && relative.threshold == .relative(50))

    #expect(try FailCondition(parsing: "error_rate > 1%").threshold == .absolute(0.01))
    #expect(try FailCondition(parsing: "error_rate>=+2pp").threshold == .change(2))
    #expect(try FailCondition(parsing: "timeouts > 0").threshold == .absolute(0))
    #expect(try FailCondition(parsing: "retries > +3").threshold == .change(3))
    #expect(try FailCondition(parsing: "p50 < 1.5s").threshold == .absolute(1500))
    #expect(try FailCondition(parsing: "p95 > +100ms").threshold == .change(100))

    let scoped = try FailCondition(parsing: "order:GET /pay p99 > 200ms")
    #expect(scoped.service == "order")
    #expect(scoped.operation == "GET /pay")
    #expect(scoped.threshold == .absolute(200))
    let service = try FailCondition(parsing: "order timeouts >= 1")
    #expect(service.service == "order" && service.operation == nil && service.comparison == .greaterOrEqual)
  }

  @Test(arguments: [
    ("p99 +50%", "no comparison"),
    ("latency > 5ms", "unknown metric \"latency\""),
    ("p99 > 200", "needs a unit"),
    ("error_rate > 0.01", "percentage"),
    ("timeouts > 2ms", "is a count"),
    ("p99 > +2pp", "pp (percentage points)"),
    ("p99 >", "no value"),
    ("order: p99 > 1ms", "empty operation"),
    ("> 1ms", "no metric"),
  ])
  func badConditionsSayWhatIsWrong(text: String, expected: String) {
    #expect {
      try FailCondition(parsing: text)
    } throws: { error in
      let message = "\(error)"
      return message.contains(expected) && message.contains("[SERVICE[:OPERATION]] METRIC OP VALUE")
    }
  }

  @Test func verdictsFailPassOrHaveNoData() async throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    let report = try await Fixture.analyze(
      [path],
      conditions: [
        "p99 > +50%", "error_rate > 1%", "timeouts > 0", "payment:payment.Charge p50 > 600ms",
        "order:POST /order error_rate > +5pp", "gateway retries > 10", "payment timeouts > +0%",
      ])
    #expect(report.verdicts.map(\.outcome) == [.fail, .fail, .fail, .pass, .fail, .pass, .pass])
    // All services' server spans together: baseline p99 40 ms (gateway), window 540 ms.
    #expect(report.verdicts[0].observed == 1250)
    #expect(report.verdicts[1].detail == "error_rate 3.3%")
    #expect(report.verdicts[2].observed == 6)  // server spans: order's six 504s
    #expect(!report.passed)
  }

  @Test func aConditionWithoutBaselineRequestsHasNoDataAndDoesNotFail() async throws {
    // Only the window's half of the scenario: the baselines are empty.
    let lines = Fixture.checkoutScenario()
    let path = try Fixture.write([lines[0]] + lines[61...])
    let report = try await Fixture.analyze([path], conditions: ["p99 > +50%", "p99 > 100ms"])
    #expect(report.verdicts.map(\.outcome) == [.noData, .fail])
    #expect(report.passed == false)
    let onlyRelative = try await Fixture.analyze([path], conditions: ["p99 > +50%"])
    #expect(onlyRelative.passed)
  }

  @Test func aConditionOnAnUnknownServiceIsBadInputListingTheServices() async throws {
    let path = try Fixture.write(Fixture.checkoutScenario())
    await #expect {
      try await Fixture.analyze([path], conditions: ["ordr p99 > 1ms"])
    } throws: { error in
      "\(error)".contains("\"ordr\"") && "\(error)".contains("gateway, order, payment")
    }
    await #expect {
      try await Fixture.analyze([path], conditions: ["order:GET /nope p99 > 1ms"])
    } throws: { error in
      "\(error)".contains("order:POST /order")
    }
  }
}
