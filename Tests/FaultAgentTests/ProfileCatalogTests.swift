import FaultAgent
import FaultModel
import Testing

@Suite struct ProfileCatalogTests {
  @Test func aFaultOnlyChangeIsReappliedInPlaceAndAScheduleChangeRestarts() {
    var catalog = ProfileCatalog()
    let first = catalog.merge(loadProfiles(["a.yaml": profileYAML("a", netem: "delay: 50ms")]))
    #expect(first.started.map(\.name) == ["a"])
    let retune = catalog.merge(loadProfiles(["a.yaml": profileYAML("a", netem: "delay: 80ms")]))
    #expect(retune.retuned.map(\.name) == ["a"])
    #expect(retune.stopped.isEmpty && retune.started.isEmpty)
    let restart = catalog.merge(
      loadProfiles(["a.yaml": profileYAML("a", schedule: "@every 1m", duration: "10s", netem: "delay: 80ms")])
    )
    #expect(restart.stopped == ["a"])
    #expect(restart.started.map(\.name) == ["a"])
  }

  @Test func anInvalidEditKeepsTheLastGoodVersion() {
    var catalog = ProfileCatalog()
    _ = catalog.merge(loadProfiles(["a.yaml": profileYAML("a")]))
    let broken = catalog.merge(loadProfiles(["a.yaml": profileYAML("a", netem: "delay: fast")]))
    #expect(broken.stopped.isEmpty)
    #expect(broken.kept.map(\.file) == ["a.yaml"])
    #expect(catalog.current["a"]?.fault.delay == .milliseconds(50))
  }

  @Test func aFileThatTurnsEmptyKeepsItsProfilesUntilItIsRemoved() {
    var catalog = ProfileCatalog()
    _ = catalog.merge(loadProfiles(["a.yaml": profileYAML("a"), "b.yaml": profileYAML("b")]))
    // A truncate-then-write save, caught between the two.
    let truncated = catalog.merge(loadProfiles(["a.yaml": "", "b.yaml": profileYAML("b")]))
    #expect(truncated.stopped.isEmpty, "an empty file must not revert its profiles")
    #expect(truncated.kept.map(\.file) == ["a.yaml"])
    #expect(catalog.current.keys.sorted() == ["a", "b"])
    let written = catalog.merge(loadProfiles(["a.yaml": profileYAML("a"), "b.yaml": profileYAML("b")]))
    #expect(written.stopped.isEmpty && written.started.isEmpty && written.retuned.isEmpty)
    let removed = catalog.merge(loadProfiles(["b.yaml": profileYAML("b")]))
    #expect(removed.stopped == ["a"])
  }

  @Test func aProfileMovedToAnotherFileKeepsRunning() {
    var catalog = ProfileCatalog()
    _ = catalog.merge(loadProfiles(["a.yaml": profileYAML("a")]))
    let moved = catalog.merge(loadProfiles(["b.yaml": profileYAML("a")]))
    #expect(moved.stopped.isEmpty && moved.started.isEmpty)
  }
}

@Suite struct BackoffTests {
  @Test func delaysDoubleUpToTheCap() {
    let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10))
    #expect((1...6).map { backoff.delay(attempt: $0) } == [1, 2, 4, 8, 10, 10].map { .seconds($0) })
  }
}
