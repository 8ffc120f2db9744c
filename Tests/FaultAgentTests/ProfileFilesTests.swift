import FaultAgent
import FaultModel
import Foundation
import Testing

/// A fresh temporary directory, removed after `body`.
private func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent(
    "faultline-profiles-\(UUID().uuidString)"
  )
  .path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try body(path)
}

private func write(_ text: String, to path: String) throws {
  try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// The repository's `profiles/` directory.
private let examplesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("profiles").path

@Suite("Profiles: loading files and directories")
struct ProfileFilesTests {
  @Test("every example in profiles/ loads without problems")
  func examples() throws {
    let files = try ProfileFiles.list(in: examplesDirectory)
    #expect(files.count >= 4)
    let result = ProfileFiles.loadDirectory(examplesDirectory)
    #expect(result.issues.map(\.description) == [])
    #expect(result.files == files)
    #expect(Set(result.profiles.map(\.source.format)) == [.native, .chaosMesh])
    #expect(result.profiles.contains { $0.schedule != nil })
    #expect(result.profiles.contains { $0.schedule == nil })
    #expect(result.profiles.count == Set(result.profiles.map(\.name)).count)
  }

  @Test("a mounted ConfigMap is read once per key, through its ..data symlinks")
  func configMapLayout() throws {
    try withTemporaryDirectory { directory in
      // What the kubelet creates for a ConfigMap with keys a.yaml, b.yml and notes.txt.
      let timestamped = "\(directory)/..2024_05_01_12_00_00.123456789"
      try FileManager.default.createDirectory(atPath: timestamped, withIntermediateDirectories: false)
      try write("name: a\nnetem: {delay: 10ms}\n", to: "\(timestamped)/a.yaml")
      try write("name: b\ntarget: {interface: eth1}\nnetem: {loss: 1}\n", to: "\(timestamped)/b.yml")
      try write("not yaml", to: "\(timestamped)/notes.txt")
      try FileManager.default.createSymbolicLink(
        atPath: "\(directory)/..data", withDestinationPath: "..2024_05_01_12_00_00.123456789")
      for name in ["a.yaml", "b.yml", "notes.txt"] {
        try FileManager.default.createSymbolicLink(
          atPath: "\(directory)/\(name)", withDestinationPath: "..data/\(name)")
      }
      // Other things that are skipped: hidden files and subdirectories.
      try write("name: hidden\nnetem: {delay: 10ms}\n", to: "\(directory)/.hidden.yaml")
      try FileManager.default.createDirectory(
        atPath: "\(directory)/sub.yaml", withIntermediateDirectories: false)

      let result = ProfileFiles.loadDirectory(directory)
      #expect(result.issues.map(\.description) == [])
      #expect(result.files == ["\(directory)/a.yaml", "\(directory)/b.yml"])
      #expect(result.profiles.map(\.name) == ["a", "b"])
      #expect(result.profiles.map(\.source.file) == ["\(directory)/a.yaml", "\(directory)/b.yml"])
    }
  }

  @Test("missing paths, unreadable and non-UTF-8 files are reported per file")
  func fileProblems() throws {
    try withTemporaryDirectory { directory in
      try Data([0x6E, 0x61, 0x6D, 0x65, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(
        to: URL(fileURLWithPath: "\(directory)/latin.yaml"))
      try FileManager.default.createSymbolicLink(
        atPath: "\(directory)/dangling.yaml", withDestinationPath: "gone")
      let result = ProfileFiles.load(paths: [directory, "\(directory)/missing.yaml"])
      #expect(
        result.issues.map(\.description) == [
          "\(directory)/missing.yaml: no such file or directory",
          "\(directory)/dangling.yaml: cannot read the file",
          "\(directory)/latin.yaml: not UTF-8 text",
        ])
    }
  }

  @Test("a file given twice, directly and through its directory, is read once")
  func deduplicates() throws {
    try withTemporaryDirectory { directory in
      try write("name: a\nnetem: {delay: 10ms}\n", to: "\(directory)/a.yaml")
      let result = ProfileFiles.load(paths: [directory, "\(directory)/a.yaml", "\(directory)/./a.yaml"])
      #expect(result.issues.isEmpty)
      #expect(result.files.count == 1)
      #expect(result.profiles.count == 1)
    }
  }

  @Test("a name used in two files is reported at the second, naming the first")
  func duplicateNamesAcrossFiles() throws {
    try withTemporaryDirectory { directory in
      try write("# first\nname: same\nnetem: {delay: 10ms}\n", to: "\(directory)/1.yaml")
      try write(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata:\n  name: same\nspec:\n"
          + "  action: loss\n  loss: {loss: '1'}\n  mode: all\n  selector: {namespaces: [a]}\n",
        to: "\(directory)/2.yaml")
      let result = ProfileFiles.loadDirectory(directory)
      #expect(
        result.issues.map(\.description) == [
          "\(directory)/2.yaml:4:3: metadata.name: duplicate name \"same\": also used at \(directory)/1.yaml:2:1; "
            + "names must be unique"
        ])
    }
  }
}
