import Testing

/// The crash soak's judge of overlong faults, on timelines written out by hand: it must flag a fault
/// that outlives both its window and the restart, and nothing else. (slack 0.5 s.)
@Suite struct SoakTimelineTests {
  private func timeline(_ build: (inout SoakTimeline) -> Void) -> SoakTimeline {
    var timeline = SoakTimeline(windowLength: 2, slack: 0.5)
    build(&timeline)
    return timeline
  }

  /// Seen from `start` to `lastSeen`, gone at the next sample a second later.
  private func present(
    _ timeline: inout SoakTimeline, _ profile: String, from start: Double, to lastSeen: Double
  ) {
    timeline.sample(profile, present: false, at: start - 0.1)
    timeline.sample(profile, present: true, at: start)
    timeline.sample(profile, present: true, at: lastSeen)
    timeline.sample(profile, present: false, at: lastSeen + 1)
  }

  @Test func aFaultRemovedAtItsWindowsEndIsNotOverlong() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      present(&soak, "p", from: 10.1, to: 12.3)
    }
    #expect(soak.overruns(restartTime: 0).isEmpty)
  }

  @Test func aFaultThatOutlivesItsWindowWithNoKillIsOverlong() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      present(&soak, "p", from: 10.1, to: 14)
    }
    let overruns = soak.overruns(restartTime: 0)
    #expect(overruns.count == 1)
    #expect(abs((overruns.first?.seconds ?? 0) - 1.5) < 1e-9)
    // Up to the restart time late is allowed, as a restarted agent would be.
    #expect(soak.overruns(restartTime: 1.6).isEmpty)
    #expect(soak.overruns(restartTime: 1.4).count == 1)
  }

  /// Windows opened at `fires` (seen, until), the fault absent just before the first sample of
  /// `seen`, present at each, and gone at `gone`.
  private func samples(fires: [(Double, Double)], seen: [Double], gone: Double) -> SoakTimeline {
    var soak = timeline { soak in
      for (at, until) in fires { soak.fires.append(.init(profile: "p", seen: at, until: until)) }
    }
    soak.sample("p", present: false, at: seen[0] - 0.2)
    for time in seen { soak.sample("p", present: true, at: time) }
    soak.sample("p", present: false, at: gone)
    return soak
  }

  @Test func aFaultSeenThroughTwoWindowsWithNoSampleInTheGapIsExplainedByTheSecond() {
    // The sampler paused between 11.8 and 14.2 (it read only the log), and the next window opened
    // at 14: one presence spans both windows, and each sample has a window that explains it.
    let soak = samples(fires: [(10, 12), (14, 16)], seen: [10.1, 11.8, 14.2, 15.8], gone: 17)
    #expect(soak.presences.count == 1)
    #expect(soak.overruns(restartTime: 0).isEmpty)
  }

  @Test func aSampleBetweenWindowsIsAnOverrunEvenWhenALaterWindowExplainsTheRest() {
    let soak = samples(fires: [(10, 12), (16, 18)], seen: [10.1, 11, 14, 16.5], gone: 19)
    let overruns = soak.overruns(restartTime: 0)
    #expect(overruns.count == 1)
    // Judged by its worst sample, 14, against the first window's end: 14 - (12 + 0.5).
    #expect(overruns.first?.at == 14)
    #expect(abs((overruns.first?.seconds ?? 0) - 1.5) < 1e-9)
    #expect(overruns.first.map(soak.explain)?.contains("fire seen 16.00, until 18.00") == true)
  }

  @Test func aSlowSampleThatFindsTheFaultGoneDoesNotLengthenIt() {
    var soak = timeline { soak in soak.fires.append(.init(profile: "p", seen: 10, until: 12)) }
    soak.sample("p", present: true, at: 10.2)
    soak.sample("p", present: true, at: 12.3)
    // The next sample started only at 16 (tc took seconds): the fault was last seen at 12.3.
    soak.sample("p", present: false, at: 16)
    #expect(soak.overruns(restartTime: 0).isEmpty)
  }

  @Test func aKillDuringTheWindowExtendsItUntilTheNextAgentReconciledAndNoFurther() {
    let kept = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      soak.kills.append(.init(at: 11, ready: 16))
      present(&soak, "p", from: 10.1, to: 16.2)
    }
    #expect(kept.overruns(restartTime: 0).isEmpty)
    let outlived = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      soak.kills.append(.init(at: 11, ready: 16))
      present(&soak, "p", from: 10.1, to: 18)
    }
    #expect(outlived.overruns(restartTime: 0).count == 1)
  }

  @Test func aKillJustBeforeTheFaultWasFirstSeenStillCountsForIt() {
    // Killed during apply at 10.5; the sampler paused meanwhile and first saw the fault at 12.
    var soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10.4, until: 12.4))
      soak.kills.append(.init(at: 10.5, ready: 18))
    }
    soak.sample("p", present: false, at: 10.0)
    soak.sample("p", present: true, at: 12)
    soak.sample("p", present: true, at: 17.8)
    soak.sample("p", present: false, at: 18.2)
    #expect(soak.overruns(restartTime: 0).isEmpty)
    // A kill before the last sample that saw no fault is not this fault's.
    var earlier = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10.4, until: 12.4))
      soak.kills.append(.init(at: 9.5, ready: 18))
    }
    earlier.sample("p", present: false, at: 10.0)
    earlier.sample("p", present: true, at: 12)
    earlier.sample("p", present: true, at: 17.8)
    #expect(earlier.overruns(restartTime: 0).count == 1)
  }

  @Test func aKillWhoseSuccessorNeverReconciledExcusesNothing() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "p", seen: 10, until: 12))
      soak.kills.append(.init(at: 11, ready: nil))
      present(&soak, "p", from: 10.1, to: 15)
    }
    #expect(soak.overruns(restartTime: 0).count == 1)
  }

  @Test func aFaultNoWindowOpenedIsOverlongAndOneStillThereIsJudgedByItsLastSample() {
    let stray = timeline { soak in present(&soak, "p", from: 10, to: 11) }
    #expect(stray.overruns(restartTime: 0).count == 1)
    var open = timeline { soak in soak.fires.append(.init(profile: "p", seen: 10, until: 12)) }
    open.sample("p", present: true, at: 10.2)
    open.sample("p", present: true, at: 12.4)
    #expect(open.overruns(restartTime: 0).isEmpty)
    open.sample("p", present: true, at: 13)
    #expect(open.overruns(restartTime: 0).count == 1)
  }

  @Test func anotherProfilesWindowExcusesNothing() {
    let soak = timeline { soak in
      soak.fires.append(.init(profile: "q", seen: 10, until: 12))
      present(&soak, "p", from: 10.1, to: 12)
    }
    #expect(soak.overruns(restartTime: 0).count == 1)
  }
}
