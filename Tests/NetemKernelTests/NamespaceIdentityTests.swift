import FaultModel
import Foundation
import Glibc
import SystemPackage
import Testing

@testable import NetemKernel

/// How a namespace is told apart from the path that names it: errno meanings, the changed-namespace
/// error, and finding a path by inode. No privileges needed.
@Suite struct NamespaceIdentityTests {
  @Test(arguments: [Errno.noSuchFileOrDirectory, .noSuchProcess])
  func onlyAMissingFileOrProcessMeansTheNamespaceIsGone(code: Errno) {
    let error = NamespaceThread.openError(path: "/proc/42/ns/net", errno: code)
    #expect(error.kind == .namespaceNotFound)
    #expect(error.errno == code)
    #expect(error.exitCode == 4)
  }

  @Test(arguments: [Errno.permissionDenied, .notPermitted])
  func aRefusedOpenAsksForCapSysPtrace(code: Errno) {
    let error = NamespaceThread.openError(path: "/proc/42/ns/net", errno: code)
    #expect(error.kind == .missingCapability)
    #expect(error.description.contains("CAP_SYS_PTRACE"))
  }

  @Test(arguments: [Errno.tooManyOpenFiles, .tooManyOpenFilesInSystem, .noMemory, .ioError])
  func runningOutOfDescriptorsOrMemoryIsASystemFailureNotAGoneNamespace(code: Errno) {
    let error = NamespaceThread.openError(path: "/proc/42/ns/net", errno: code)
    #expect(error.kind == .system)
    #expect(error.errno == code)
    #expect(error.description.hasPrefix("opening /proc/42/ns/net failed: "))
  }

  @Test func aChangedNamespaceNamesBothInodesAndExitsLikeNotFound() {
    let error = KernelError.namespaceChanged(
      path: "/proc/42/ns/net", expected: 4_026_532_100, found: 4_026_531_840)
    #expect(error.kind == .namespaceChanged)
    #expect(error.exitCode == 4)
    #expect(
      error.description.hasPrefix(
        "/proc/42/ns/net is now another network namespace (inode 4026531840, not 4026532100): "))
  }

  /// A fake `/proc` and `/run/netns` under a temporary directory, whose entries are symlinks to this
  /// process's real namespace file or to a regular file.
  final class FakeProc {
    let root: String
    let procRoot: String
    let netnsDirectory: String
    let ownInode: UInt64

    init() throws {
      root = NSTemporaryDirectory() + "faultline-locator-\(UInt32.random(in: 0...UInt32.max))"
      procRoot = root + "/proc"
      netnsDirectory = root + "/netns"
      let files = FileManager.default
      try files.createDirectory(atPath: netnsDirectory, withIntermediateDirectories: true)
      try files.createDirectory(atPath: procRoot, withIntermediateDirectories: true)
      try Data().write(to: URL(fileURLWithPath: root + "/plain"))
      var info = stat()
      guard stat("/proc/self/ns/net", &info) == 0 else {
        throw TestFailure("stat /proc/self/ns/net: \(errno)")
      }
      ownInode = UInt64(info.st_ino)
    }

    /// `<procRoot>/<entry>/ns/net` → `target`.
    func process(_ entry: String, netTo target: String) throws {
      let files = FileManager.default
      try files.createDirectory(atPath: "\(procRoot)/\(entry)/ns", withIntermediateDirectories: true)
      try files.createSymbolicLink(atPath: "\(procRoot)/\(entry)/ns/net", withDestinationPath: target)
    }

    /// `<netnsDirectory>/<name>` → `target`.
    func named(_ name: String, to target: String) throws {
      try FileManager.default.createSymbolicLink(
        atPath: "\(netnsDirectory)/\(name)", withDestinationPath: target)
    }

    var locator: NamespaceLocator { NamespaceLocator(procRoot: procRoot, netnsDirectory: netnsDirectory) }

    deinit { try? FileManager.default.removeItem(atPath: root) }
  }

  @Test func findsTheProcessWhoseNamespaceHasTheInode() throws {
    let fake = try FakeProc()
    try fake.process("7", netTo: fake.root + "/plain")
    try fake.process("123", netTo: "/proc/self/ns/net")
    try fake.process("456", netTo: "/proc/self/ns/net")
    #expect(fake.locator.locate(inode: fake.ownInode) == .path("\(fake.procRoot)/123/ns/net"))
  }

  @Test func anInodeNothingHoldsIsNotFound() throws {
    let fake = try FakeProc()
    try fake.process("123", netTo: "/proc/self/ns/net")
    try fake.named("blue", to: "/proc/self/ns/net")
    #expect(fake.locator.locate(inode: fake.ownInode &+ 1) == nil)
  }

  @Test func aRegularFileWithTheSameInodeNumberIsNotANamespace() throws {
    let fake = try FakeProc()
    try fake.process("7", netTo: fake.root + "/plain")
    var info = stat()
    #expect(stat(fake.root + "/plain", &info) == 0)
    #expect(fake.locator.locate(inode: UInt64(info.st_ino)) == nil)
  }

  @Test func nonNumericProcEntriesAreIgnored() throws {
    let fake = try FakeProc()
    for entry in ["self", "thread-self", "12a", "net", "-1", "99999999999"] {
      try fake.process(entry, netTo: "/proc/self/ns/net")
    }
    #expect(fake.locator.locate(inode: fake.ownInode) == nil)
  }

  @Test func aNamedNamespaceWinsOverAProcess() throws {
    let fake = try FakeProc()
    try fake.process("1", netTo: "/proc/self/ns/net")
    try fake.named("blue", to: "/proc/self/ns/net")
    #expect(fake.locator.locate(inode: fake.ownInode) == .path("\(fake.netnsDirectory)/blue"))
  }

  @Test func missingDirectoriesFindNothing() {
    let locator = NamespaceLocator(procRoot: "/nonexistent/proc", netnsDirectory: "/nonexistent/netns")
    #expect(locator.locate(inode: 1) == nil)
  }

  @Test func theKernelLocatesUnderItsOwnProcRoot() async throws {
    let fake = try FakeProc()
    try fake.process("123", netTo: "/proc/self/ns/net")
    let found = await NetemKernel(procRoot: fake.procRoot).locateNamespace(inode: fake.ownInode)
    // The host's real /run/netns is scanned first; whatever path is found must name this namespace.
    let path = try #require(found?.path())
    var info = stat()
    #expect(stat(path, &info) == 0)
    #expect(UInt64(info.st_ino) == fake.ownInode)
    // nsfs numbers its inodes from 0xF0000000: nothing anywhere has inode 1 on it.
    #expect(await NetemKernel(procRoot: fake.procRoot).locateNamespace(inode: 1) == nil)
  }
}
