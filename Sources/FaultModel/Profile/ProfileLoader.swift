import Yams

/// The profiles and problems found in a set of files (read by `ProfileFiles` in `FaultAgent`).
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

/// Parses profile text: faultline's native form and Chaos Mesh `NetworkChaos` / `Schedule` manifests.
///
/// Pure: it takes text and a file name (for the positions in problems) and never touches the disk, so
/// `FaultModel` stays free of I/O. Reading files and directories (including a mounted ConfigMap's
/// layout) is `ProfileFiles` in `FaultAgent`, which hands each file's text to ``load(text:file:)``. A
/// document with any problem yields no profile; every problem is reported, each pointing at the node
/// that causes it.
public enum ProfileLoader {
  /// The profiles in `text` (one or more YAML documents separated by `---`) and the problems in it.
  ///
  /// Does not check across profiles; see ``crossCheck(_:)``.
  public static func load(text: String, file: String) -> ([Profile], [ProfileIssue]) {
    let size = text.utf8.count
    guard size <= ProfileLimits.maximumFileSize else {
      return ([], [Self.tooLarge(file: file, size: size)])
    }
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

  /// The problem of a file over ``ProfileLimits/maximumFileSize`` (nothing in it is parsed).
  public static func tooLarge(file: String, size: Int) -> ProfileIssue {
    ProfileIssue(
      file: file, line: 0, column: 0, fieldPath: "",
      message: "the file is \(size) bytes, over the \(ProfileLimits.maximumFileSize)-byte limit for a "
        + "profile file; split it into several files")
  }
}
