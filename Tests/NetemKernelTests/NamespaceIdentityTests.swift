import Glibc
import Testing

@testable import NetemKernel

/// How a namespace is told apart from the path that names it: errno meanings and the
/// changed-namespace error. No privileges needed.
@Suite struct NamespaceIdentityTests {
  @Test(arguments: [ENOENT, ESRCH])
  func onlyAMissingFileOrProcessMeansTheNamespaceIsGone(code: Int32) {
    let error = NamespaceThread.openError(path: "/proc/42/ns/net", errno: code)
    #expect(error.kind == .namespaceNotFound)
    #expect(error.errno == code)
    #expect(error.exitCode == 4)
  }

  @Test(arguments: [EACCES, EPERM])
  func aRefusedOpenAsksForCapSysPtrace(code: Int32) {
    let error = NamespaceThread.openError(path: "/proc/42/ns/net", errno: code)
    #expect(error.kind == .missingCapability)
    #expect(error.description.contains("CAP_SYS_PTRACE"))
  }

  @Test(arguments: [EMFILE, ENFILE, ENOMEM, EIO])
  func runningOutOfDescriptorsOrMemoryIsASystemFailureNotAGoneNamespace(code: Int32) {
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
}
