import Foundation
import Testing

@testable import KubeTargets

/// The `/proc` scan on a directory shaped like `/proc` (the real one is exercised in the VM).
@Suite struct ProcScannerTests {
  let uidA = "0a1b2c3d-0000-4000-8000-00000000000a"
  let uidB = "0a1b2c3d-0000-4000-8000-00000000000b"
  let uidHost = "0a1b2c3d-0000-4000-8000-0000000000ff"

  @Test func mapsEachPodToItsNamespaceAndCountsASharedNamespaceOnce() throws {
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    try proc.addProcess(200, cgroup: cgroupfsLine(uidA, container: "pause"), netns: "a")
    try proc.addProcess(230, cgroup: cgroupfsLine(uidA, container: "app"), netns: "a")
    try proc.addProcess(231, cgroup: cgroupfsLine(uidA, container: "app"), netns: "a")
    try proc.addProcess(300, cgroup: systemdLine(uidB), netns: "b")
    try proc.addProcess(400, cgroup: "0::/system.slice/sshd.service\n", netns: "host")
    let scan = try ProcScanner(procRoot: proc.root).scan()
    #expect(scan.namespacesByPodUID.count == 2)
    let a = try #require(scan.namespacesByPodUID[uidA])
    #expect(a.count == 1)
    #expect(a[0].inode == (try proc.inode("a")))
    #expect(a[0].pid == 200)
    #expect(a[0].path == "\(proc.root)/200/ns/net")
    #expect(a[0].processCount == 3)
    #expect(scan.namespace(forPodUID: uidB)?.inode == (try proc.inode("b")))
    #expect(scan.hostNamespace?.inode == (try proc.inode("host")))
    #expect(scan.hostNetworkPodUIDs.isEmpty)
    #expect(scan.podProcessCount == 4)
  }

  @Test func podProcessesInTheHostNamespaceAreReportedAsHostNetwork() throws {
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    try proc.addProcess(500, cgroup: cgroupfsLine(uidHost), netns: "host")
    let scan = try ProcScanner(procRoot: proc.root + "/").scan()
    #expect(scan.namespacesByPodUID[uidHost] == nil)
    #expect(scan.hostNetworkPodUIDs == [uidHost])
  }

  @Test func processesThatVanishedOrHaveNoNamespaceAreIgnored() throws {
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    // 600: the cgroup file is there, ns/net is not (the process exited between the two reads).
    try proc.addProcess(600, cgroup: cgroupfsLine(uidA), netns: nil)
    // 601: a directory without a cgroup file.
    try FileManager.default.createDirectory(atPath: proc.root + "/601", withIntermediateDirectories: true)
    // Non-numeric entries (like /proc/self, /proc/net) are skipped.
    try FileManager.default.createDirectory(atPath: proc.root + "/self", withIntermediateDirectories: true)
    let scan = try ProcScanner(procRoot: proc.root).scan()
    #expect(scan.namespacesByPodUID.isEmpty)
    #expect(scan.podProcessCount == 0)
  }

  @Test func whenAPodSpansTwoNamespacesTheMostPopulatedComesFirst() throws {
    let proc = try FakeProcRoot()
    defer { proc.remove() }
    try proc.addProcess(700, cgroup: cgroupfsLine(uidA), netns: "nested")
    try proc.addProcess(710, cgroup: cgroupfsLine(uidA), netns: "main")
    try proc.addProcess(711, cgroup: cgroupfsLine(uidA), netns: "main")
    let namespaces = try #require(try ProcScanner(procRoot: proc.root).scan().namespacesByPodUID[uidA])
    #expect(namespaces.map(\.inode) == [try proc.inode("main"), try proc.inode("nested")])
    #expect(namespaces[0].pid == 710)
  }

  @Test func aMissingProcRootIsAnErrorThatNamesTheFlag() {
    #expect {
      try ProcScanner(procRoot: "/nonexistent/proc").scan()
    } throws: { error in
      "\(error)".contains("/nonexistent/proc") && "\(error)".contains("--proc-root")
    }
  }

  @Test func scansTheRealProcWithoutErrors() throws {
    // On any Linux host: the host namespace is found, and no host process is mistaken for a pod
    // unless it really is in a kubelet cgroup.
    let scan = try ProcScanner().scan()
    #expect(scan.procRoot == "/proc")
    for namespaces in scan.namespacesByPodUID.values { #expect(!namespaces.isEmpty) }
  }
}
