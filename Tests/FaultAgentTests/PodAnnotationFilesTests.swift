import FaultAgent
import FaultModel
import Foundation
import Logging
import Testing

/// A pod can write its own annotation directory; the root agent writing there must never follow
/// what the pod planted, and never let a pod UID pick a path.
@Suite struct PodAnnotationFilesTests {
  static let uid = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
  let root = NSTemporaryDirectory() + "faultline-podfiles-\(UUID().uuidString)"
  var pods: String { root + "/pods" }
  var victims: String { root + "/host" }

  init() throws {
    try FileManager.default.createDirectory(atPath: pods, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: victims, withIntermediateDirectories: true)
  }

  func opened(uid: String) -> WindowEvent {
    let pod = PodTarget(
      target: FaultTarget(interface: "eth0", namespace: .path("/proc/101/ns/net")), namespace: "default",
      name: "web-0", uid: uid, netnsInode: 1001)
    let experiment = Experiment(
      name: "web-latency", target: pod.target, pod: pod, fault: delayFault(.milliseconds(20)),
      mode: .daemonset)
    return .opened(WindowSummary(experiment: experiment, startedAt: Date(), traceparent: nil))
  }

  /// A host file the pod would like the agent to clobber: known content, mode 0600.
  func victim(_ name: String) throws -> String {
    let path = victims + "/" + name
    try Data("host secret\n".utf8).write(to: URL(fileURLWithPath: path))
    chmod(path, 0o600)
    return path
  }

  func isUntouched(_ path: String) -> Bool {
    var info = stat()
    return FileManager.default.contents(atPath: path) == Data("host secret\n".utf8) && stat(path, &info) == 0
      && info.st_mode & 0o7777 == 0o600
  }

  @Test func aSymlinkPlantedAtEveryPredictableNameIsNeverFollowed() async throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    let podDirectory = pods + "/" + Self.uid
    try FileManager.default.createDirectory(atPath: podDirectory, withIntermediateDirectories: true)
    // The file itself, the temporary names earlier versions used, and the usual guesses.
    let names = [
      "annotations", ".annotations.\(getpid()).tmp", ".annotations.tmp", "annotations.tmp", ".annotations",
    ]
    var targets: [String] = []
    for (index, name) in names.enumerated() {
      let target = try victim("file-\(index)")
      targets.append(target)
      try FileManager.default.createSymbolicLink(
        atPath: podDirectory + "/" + name, withDestinationPath: target)
    }
    let observer = PodAnnotationFiles(directory: pods, compatKey: nil, logger: Logger(label: "test"))
    await observer.observe(opened(uid: Self.uid))
    for target in targets { #expect(isUntouched(target), "\(target) was followed") }
    // The file was replaced (the symlink itself, not its target), and it holds the annotations.
    let attributes = try FileManager.default.attributesOfItem(atPath: podDirectory + "/annotations")
    #expect(attributes[.type] as? FileAttributeType == .typeRegular)
    let text = try String(contentsOfFile: podDirectory + "/annotations", encoding: .utf8)
    #expect(text.contains("chaos.experiment/name=\"web-latency\""))
  }

  @Test func theNextWriteRemovesTheTemporariesAKilledWriterLeftAndNothingElse() async throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    let podDirectory = pods + "/" + Self.uid
    try FileManager.default.createDirectory(atPath: podDirectory, withIntermediateDirectories: true)
    // A child that has exited and been reaped: its pid names no process.
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/true")
    try child.run()
    child.waitUntilExit()
    let dead = child.processIdentifier
    let left = ".annotations.\(dead).4242.3fa9c2.tmp"
    try Data("partial".utf8).write(to: URL(fileURLWithPath: podDirectory + "/" + left))
    // One the pod planted in the same shape, as a symlink to a host file: the link goes, not its target.
    let target = try victim("planted")
    let planted = ".annotations.\(dead).4242.77aa01.tmp"
    try FileManager.default.createSymbolicLink(
      atPath: podDirectory + "/" + planted, withDestinationPath: target)
    // A live writer's (pid 1 always runs), another file's, and a name with no writer in it stay.
    let pid1 = try #require(ProcessIdentity.startTime(of: 1))
    let kept = [".annotations.1.\(pid1).5e21c0.tmp", ".other.\(dead).4242.5e21c0.tmp", ".annotations.tmp"]
    for name in kept { try Data("x".utf8).write(to: URL(fileURLWithPath: podDirectory + "/" + name)) }

    let observer = PodAnnotationFiles(directory: pods, compatKey: nil, logger: Logger(label: "test"))
    await observer.observe(opened(uid: Self.uid))
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: podDirectory).sorted()
        == (kept + ["annotations"]).sorted())
    #expect(isUntouched(target))
  }

  @Test func aSymlinkedPodDirectoryIsRefused() async throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.createSymbolicLink(atPath: pods + "/" + Self.uid, withDestinationPath: victims)
    let observer = PodAnnotationFiles(directory: pods, compatKey: nil, logger: Logger(label: "test"))
    await observer.observe(opened(uid: Self.uid))
    #expect(try FileManager.default.contentsOfDirectory(atPath: victims).isEmpty)
  }

  @Test func aPodUIDThatIsNotAUUIDNeverBecomesAPath() async throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    let observer = PodAnnotationFiles(directory: pods, compatKey: nil, logger: Logger(label: "test"))
    await observer.observe(opened(uid: "../host"))
    await observer.observe(opened(uid: "../../etc"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: victims).isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: pods).isEmpty)
    #expect(podAnnotationsPath(directory: pods, uid: "../../etc") == nil)
    #expect(isPodUID(Self.uid))
    #expect(isPodUID("0123456789abcdef0123456789abcdef"), "a static pod's hash UID")
    #expect(!isPodUID("uid-web-0"))
    #expect(!isPodUID("6f1c2a9e/3b4d-4e5f-8a7b-9c0d1e2f3a4b"))
  }

  @Test func theAgentCreatesThePodDirectory0755() async throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    let observer = PodAnnotationFiles(directory: pods, compatKey: nil, logger: Logger(label: "test"))
    await observer.observe(opened(uid: Self.uid))
    var info = stat()
    #expect(lstat(pods + "/" + Self.uid, &info) == 0)
    #expect(info.st_mode & S_IFMT == S_IFDIR)
    #expect(info.st_mode & 0o7777 == 0o755)
    #expect(info.st_uid == geteuid())
  }

  @Test func theSharedFilesDirectoryMayBeASymlinkTheOperatorChose() async throws {
    defer { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: victims)
    let writer = AnnotationWriter(path: root + "/link/annotations")
    try await writer.write()
    #expect(
      FileManager.default.contents(atPath: victims + "/annotations")
        == Data("chaos.experiment/active=\"false\"\n".utf8))
  }
}
