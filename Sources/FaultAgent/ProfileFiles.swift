import FaultModel
import Foundation

/// Reads profile files and directories from disk and hands their text to ``ProfileLoader``.
///
/// This is the I/O half of loading: `FaultModel` only parses text (``ProfileLoader/load(text:file:)``)
/// and checks profiles against each other (``ProfileLoader/crossCheck(_:)``), so that it stays free of
/// I/O and can be tested on strings. Directories are read the way Kubernetes lays out a mounted
/// ConfigMap (visible symlinks into a `..data` directory), see ``list(in:)``.
public enum ProfileFiles {
  /// Loads every profile under `paths`: files are read whatever their name; directories contribute
  /// their visible `*.yaml` and `*.yml` entries (not recursively), see ``list(in:)``. A file reached
  /// twice (directly and through its directory) is read once. Runs ``ProfileLoader/crossCheck(_:)``
  /// over all profiles found.
  ///
  /// Problems reading a path (missing, unreadable, not UTF-8) are reported as issues with line 0, next
  /// to the parse problems, so that one bad file does not hide the others.
  public static func load(paths: [String]) -> ProfileLoadResult {
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
          files += try list(in: path)
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
      // Read at most one byte past the limit: a huge file (or /dev/zero) is reported, not loaded.
      guard let handle = FileHandle(forReadingAtPath: file),
        let data = try? handle.read(upToCount: ProfileLimits.maximumFileSize + 1) ?? Data()
      else {
        result.issues.append(fileIssue(file, "cannot read the file"))
        continue
      }
      try? handle.close()
      guard data.count <= ProfileLimits.maximumFileSize else {
        result.issues.append(
          ProfileLoader.tooLarge(file: file, size: max(Self.size(of: file) ?? 0, data.count)))
        continue
      }
      guard let text = String(data: data, encoding: .utf8) else {
        result.issues.append(fileIssue(file, "not UTF-8 text"))
        continue
      }
      let (profiles, issues) = ProfileLoader.load(text: text, file: file)
      result.profiles += profiles
      result.issues += issues
    }
    result.issues += ProfileLoader.crossCheck(result.profiles)
    return result
  }

  /// Loads every profile in `directory` (see ``load(paths:)``); what `faultline run` reloads.
  public static func loadDirectory(_ directory: String) -> ProfileLoadResult {
    load(paths: [directory])
  }

  /// The profile files in `directory`, sorted by name: visible entries (not starting with `.`) ending
  /// in `.yaml` or `.yml` that are, or link to, regular files.
  ///
  /// Skipping dot entries is what makes a mounted ConfigMap read right: Kubernetes puts the real files
  /// in a `..2024_01_01_00_00_00.123` directory, points `..data` at it, and shows each key as a visible
  /// symlink `NAME -> ..data/NAME`; reading only the visible names reads each file once.
  /// - Throws: the error of listing the directory (missing, not a directory, permission denied).
  public static func list(in directory: String) throws -> [String] {
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

  private static func size(of file: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue
  }

  private static func fileIssue(_ file: String, _ message: String) -> ProfileIssue {
    ProfileIssue(file: file, line: 0, column: 0, fieldPath: "", message: message)
  }

  private static func describeError(_ error: Error) -> String {
    (error as NSError).localizedDescription
  }
}
