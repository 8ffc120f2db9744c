import Foundation
import Yams

/// The profiles and problems found in a set of files.
public struct ProfileLoadResult: Sendable, Hashable {
  /// The valid profiles, in file order (files sorted by name within a directory).
  public var profiles: [Profile]
  /// Every problem, in file order, then the cross-profile problems of ``ProfileLoader/crossCheck(_:)``.
  public var issues: [ProfileIssue]
  /// The files that were read.
  public var files: [String]

  /// A result of `profiles`, `issues` and `files`.
  public init(profiles: [Profile] = [], issues: [ProfileIssue] = [], files: [String] = []) {
    self.profiles = profiles
    self.issues = issues
    self.files = files
  }
}

/// Reads profile files: faultline's native form and Chaos Mesh `NetworkChaos` / `Schedule` manifests.
///
/// Parsing is pure (``load(text:file:)``); ``loadPaths(_:)`` adds reading files and directories,
/// including the layout Kubernetes uses for a mounted ConfigMap (visible symlinks into a `..data`
/// directory). A document with any problem yields no profile; every problem is reported, each pointing
/// at the node that causes it.
public enum ProfileLoader {
  /// The profiles in `text` (one or more YAML documents separated by `---`) and the problems in it.
  ///
  /// Does not check across profiles; see ``crossCheck(_:)``.
  public static func load(text: String, file: String) -> ([Profile], [ProfileIssue]) {
    var profiles: [Profile] = []
    var issues: [ProfileIssue] = []
    for document in splitYAMLDocuments(text) {
      var reader = DocumentReader(file: file, line: document.firstLine, column: 1)
      // An empty document (`---` followed by nothing) composes to a null scalar: nothing to load.
      if let root = reader.compose(document), root.null == nil {
        if let mark = root.mark { reader.start = (mark.line, mark.column) }
        let profile =
          ChaosMeshProfileParser.isManifest(root)
          ? ChaosMeshProfileParser.parse(root, file: file, reader: &reader)
          : NativeProfileParser.parse(root, file: file, reader: &reader)
        if let profile { profiles.append(profile) }
      }
      // Problems in file order; parsing finds some (e.g. a missing duration) after later fields.
      issues += reader.issues.enumerated().sorted {
        ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
      }.map(\.element)
    }
    return (profiles, issues)
  }

  /// Loads every profile under `paths`: files are read whatever their name; directories contribute their
  /// visible `*.yaml` and `*.yml` entries (not recursively), see ``profileFiles(in:)``. Runs
  /// ``crossCheck(_:)`` over all profiles found.
  public static func loadPaths(_ paths: [String]) -> ProfileLoadResult {
    var result = ProfileLoadResult()
    var files: [String] = []
    for path in paths {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        result.issues.append(fileIssue(path, "no such file or directory"))
        continue
      }
      if isDirectory.boolValue {
        do {
          files += try profileFiles(in: path)
        } catch {
          result.issues.append(fileIssue(path, "cannot list the directory: \(describeError(error))"))
        }
      } else {
        files.append(path)
      }
    }
    var seen = Set<String>()
    for file in files where seen.insert(URL(fileURLWithPath: file).standardizedFileURL.path).inserted {
      result.files.append(file)
      guard let data = FileManager.default.contents(atPath: file) else {
        result.issues.append(fileIssue(file, "cannot read the file"))
        continue
      }
      guard let text = String(data: data, encoding: .utf8) else {
        result.issues.append(fileIssue(file, "not UTF-8 text"))
        continue
      }
      let (profiles, issues) = load(text: text, file: file)
      result.profiles += profiles
      result.issues += issues
    }
    result.issues += crossCheck(result.profiles)
    return result
  }

  /// Loads every profile in `directory` (see ``loadPaths(_:)``).
  public static func loadDirectory(_ directory: String) -> ProfileLoadResult {
    loadPaths([directory])
  }

  /// The profile files in `directory`, sorted by name: visible entries (not starting with `.`) ending in
  /// `.yaml` or `.yml` that are, or link to, regular files.
  ///
  /// Skipping dot entries is what makes a mounted ConfigMap read right: Kubernetes puts the real files in
  /// a `..2024_01_01_00_00_00.123` directory, points `..data` at it, and shows each key as a visible
  /// symlink `NAME -> ..data/NAME`; reading only the visible names reads each file once.
  public static func profileFiles(in directory: String) throws -> [String] {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory)
    return names.sorted().compactMap { name -> String? in
      guard !name.hasPrefix(".") else { return nil }
      let lowered = name.lowercased()
      guard lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") else { return nil }
      let path = (directory as NSString).appendingPathComponent(name)
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        return path  // a dangling symlink: reading it reports the problem
      }
      return isDirectory.boolValue ? nil : path
    }
  }

  private static func fileIssue(_ file: String, _ message: String) -> ProfileIssue {
    ProfileIssue(file: file, line: 0, column: 0, fieldPath: "", message: message)
  }

  private static func describeError(_ error: Error) -> String {
    (error as NSError).localizedDescription
  }
}
