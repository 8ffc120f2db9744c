import FaultAgent
import FaultModel
import Foundation
import Logging
import NetemKernel
import Synchronization
import Testing
import MetricsTestKit

/// Nothing read back from the journal directory is trusted: paths come from file names, ids are
/// checked, and anything that is not a valid entry is moved aside, logged and counted.
@Suite struct JournalTrustTests {
  let directory = NSTemporaryDirectory() + "faultline-journal-\(UUID().uuidString)"
  var active: String { directory + "/active" }
  var quarantine: String { directory + "/quarantine" }

  func entry(id: String) -> JournalEntry {
    JournalEntry(
      id: id, name: "trust", target: FaultTarget(),
      namespace: NamespaceIdentity(path: "/proc/self/ns/net", inode: 1),
      handle: 0x7A3F_0000, replaced: nil, fault: delayFault(.milliseconds(5)),
      startedAt: Date(timeIntervalSince1970: 1_700_000_000), expiresAt: nil)
  }

  /// What a journal reported through `onQuarantine`.
  final class Quarantines: Sendable {
    let records = Mutex<[JournalQuarantine]>([])
    func withLock<T>(_ body: (inout [JournalQuarantine]) -> T) -> T { records.withLock { body(&$0) } }
  }

  /// A journal over `directory` whose quarantines are collected.
  func journal() -> (Journal, Quarantines) {
    let seen = Quarantines()
    let journal = Journal(directory: directory, logger: Logger(label: "test")) { record in
      seen.withLock { $0.append(record) }
    }
    return (journal, seen)
  }

  func write(_ text: String, as name: String) throws {
    try FileManager.default.createDirectory(atPath: active, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: active + "/" + name))
  }

  func jsonText(of entry: JournalEntry) throws -> String {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(entry), as: UTF8.self)
  }

  func names(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
  }

  @Test func anEntryWhoseIDDiffersFromItsFileNameIsMovedAsideNotTrusted() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (journal, seen) = journal()
    try journal.record(entry(id: "good"))
    try write(try jsonText(of: entry(id: "other")), as: "edited.json")
    #expect(journal.entries().map(\.id) == ["good"])
    #expect(names(active) == ["good.json"])
    #expect(names(quarantine).count == 1)
    #expect(names(quarantine).first?.hasPrefix("edited.json.") == true)
    let records = seen.withLock { $0 }
    #expect(records.count == 1)
    #expect(records.first?.reason.contains("differs from its file name") == true)
  }

  @Test func anIDThatClimbsOutOfTheDirectoryNeverBecomesAPath() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (journal, seen) = journal()
    // A file outside active/ that an id of "../victim" would name.
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try Data("keep".utf8).write(to: URL(fileURLWithPath: directory + "/victim.json"))
    try write(try jsonText(of: entry(id: "../victim")), as: "climb.json")
    #expect(journal.entries().isEmpty)
    #expect(seen.withLock { $0.count } == 1)
    #expect(throws: JournalError.self) { try journal.remove(id: "../victim") }
    #expect(throws: JournalError.self) { try journal.record(entry(id: "../victim")) }
    #expect(FileManager.default.contents(atPath: directory + "/victim.json") == Data("keep".utf8))
  }

  @Test func corruptTruncatedAndBadlyNamedFilesAreQuarantinedAndCounted() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (journal, seen) = journal()
    let good = try jsonText(of: entry(id: "truncated"))
    try write(String(good.prefix(good.count / 2)), as: "truncated.json")
    try write("not json at all", as: "corrupt.json")
    try write(try jsonText(of: entry(id: "bad name")), as: "bad name.json")
    try FileManager.default.createSymbolicLink(
      atPath: active + "/link.json", withDestinationPath: "/etc/hostname")
    try journal.record(entry(id: "ok-1"))
    #expect(journal.entries().map(\.id) == ["ok-1"])
    #expect(names(active) == ["ok-1.json"])
    #expect(names(quarantine).count == 4)
    #expect(seen.withLock { $0.count } == 4)
    // Quarantined files are gone from active/, so a second pass finds nothing new.
    #expect(journal.entries().map(\.id) == ["ok-1"])
    #expect(seen.withLock { $0.count } == 4)
  }

  @Test func aValidEntryRoundTripsAndIsRemovedByItsFileName() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (journal, seen) = journal()
    try journal.record(entry(id: "0123456789abcdef0123456789abcdef"))
    #expect(journal.entries().map(\.id) == ["0123456789abcdef0123456789abcdef"])
    try journal.remove(id: "0123456789abcdef0123456789abcdef")
    try journal.remove(id: "0123456789abcdef0123456789abcdef")
    #expect(journal.entries().isEmpty)
    #expect(seen.withLock { $0.isEmpty })
  }

  @Test func temporaryFilesOfDeadWritersAreRemovedAndLiveOnesKept() throws {
    let (journal, seen) = journal()
    try journal.record(entry(id: "kept"))
    // A child that has exited and been reaped: its pid names no process.
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/true")
    try child.run()
    child.waitUntilExit()
    let dead = child.processIdentifier
    try write("{", as: ".kept.json.\(dead).4242.3fa9c2.tmp")
    let own = ".other.json.\(getpid()).\(ProcessIdentity.current.startTime).77aa01.tmp"
    try write("{", as: own)
    // This pid with another start time: a predecessor that had the same pid (a restarted
    // container's agent is pid 1 again).
    try write("{", as: ".reused.json.\(getpid()).\(ProcessIdentity.current.startTime + 1).5b5b5b.tmp")
    // An older faultline's name, with no writer in it: removed once a minute old.
    try write("{", as: ".legacy.json.5e21c0ffee.tmp")
    try write("{", as: ".fresh.json.5e21c0ffee.tmp")
    let old = Date().addingTimeInterval(-120)
    try FileManager.default.setAttributes(
      [.modificationDate: old], ofItemAtPath: active + "/.legacy.json.5e21c0ffee.tmp")

    #expect(journal.entries().map(\.id) == ["kept"])
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: active).sorted()
        == [".fresh.json.5e21c0ffee.tmp", own, "kept.json"])
    #expect(seen.withLock { $0.isEmpty }, "temporary files are not entries to quarantine")
  }

  @Test func idsAreAStrictCharsetWithoutALeadingDot() {
    for id in ["a", "0123456789abcdef", "web-1.retry_2", String(repeating: "x", count: 128)] {
      #expect(Journal.isValidID(id), "\(id)")
    }
    for id in [
      "", ".", "..", "../x", "a/b", ".hidden", "a b", "é", "a\u{0}", String(repeating: "x", count: 129),
    ] {
      #expect(!Journal.isValidID(id), "\(id)")
    }
  }

  @Test func theAgentMetricCountsQuarantinedEntries() {
    let recorded = TestMetrics()
    let metrics = AgentMetrics(factory: recorded)
    metrics.recordJournalQuarantine()
    metrics.recordJournalQuarantine()
    #expect(recorded.counterTotal(label: AgentMetrics.Name.journalQuarantined) == 2)
  }
}
