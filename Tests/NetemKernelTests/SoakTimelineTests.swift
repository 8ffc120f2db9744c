import Testing

/// The crash soak's judge of overlong faults, on timelines written out by hand: it must flag a fault
/// that outlives both its window and the restart, and nothing else.
@Suite struct SoakTimelineTests {
  private func timeline(_ build: (inout SoakTimeline) -> Void) -> SoakTimeline {
    var timeline = SoakTimeline(windowLength: 2, slack: 0.5)
    build(&timeline)
    return timeline
  }

  private func present(_ timeline: inout SoakTimeline, _ profile: String, from start: Double, to end: Double)
  {
    timeline.sample(profile, present: false, at: start - 0.1)
    timeline.sample(profile, present: true, at: start)
    timeline.sample(profile, present: false, at: end)
  }

  @Test func aFaultRemovedAtItsWindowsEndIsNotOverlong() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      present(&soak, "p", from: 10.1, to: 12.3)
    }
    #expect(soak.overruns(now: 20).isEmpty)
  }

  @Test func aFaultThatOutlivesItsWindowWithNoKillIsOverlong() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      present(&soak, "p", from: 10.1, to: 14)
    }
    let overruns = soak.overruns(now: 20)
    #expect(overruns.count == 1)
    #expect(abs((overruns.first?.seconds ?? 0) - 1.5) < 1e-9)
  }

  @Test func aKillDuringTheWindowExtendsItUntilTheNextAgentReconciledAndNoFurther() {
    let kept = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      soak.kills.append(.init(at: 11, ready: 16))
      present(&soak, "p", from: 10.1, to: 16.2)
    }
    #expect(kept.overruns(now: 20).isEmpty)
    let outlived = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      soak.kills.append(.init(at: 11, ready: 16))
      present(&soak, "p", from: 10.1, to: 18)
    }
    #expect(outlived.overruns(now: 20).count == 1)
  }

  @Test func aKillWhoseSuccessorNeverReconciledExcusesNothing() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      soak.kills.append(.init(at: 11, ready: nil))
      present(&soak, "p", from: 10.1, to: 15)
    }
    #expect(soak.overruns(now: 20).count == 1)
  }

  @Test func aFaultNoWindowOpenedIsOverlongAndOneStillThereIsJudgedNow() {
    let stray = timeline { soak in present(&soak, "p", from: 10, to: 11) }
    #expect(stray.overruns(now: 20).count == 1)
    var open = timeline { soak in soak.fires.append(.init(profile: "p", seen: 10, until: 12)) }
    open.sample("p", present: true, at: 10.2)
    #expect(open.overruns(now: 12.4).isEmpty)
    #expect(open.overruns(now: 13).count == 1)
  }

  @Test func anotherProfilesWindowExcusesNothing() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "q", seen: 10, until: 12))
      present(&soak, "p", from: 10.1, to: 12)
    }
    #expect(soak.overruns(now: 20).count == 1)
  }
}
