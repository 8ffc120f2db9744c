import FaultModel
import Testing

/// Loads profile files given as text (file name → YAML), as the directory source would.
func loadProfiles(_ files: [String: String]) -> ProfileLoadResult {
  var result = ProfileLoadResult()
  for (file, text) in files.sorted(by: { $0.key < $1.key }) {
    let (profiles, issues) = ProfileLoader.load(text: text, file: file)
    result.profiles += profiles
    result.issues += issues
    result.files.append(file)
  }
  result.issues += ProfileLoader.crossCheck(result.profiles)
  return result
}

/// One native profile as YAML.
func profileYAML(
  _ name: String, schedule: String? = nil, duration: String? = nil, timezone: String? = nil,
  interface: String = "eth0", netns: String? = nil, pods: String? = nil, netem: String = "delay: 50ms"
) -> String {
  var text = "name: \(name)\n"
  if let schedule { text += "schedule: \"\(schedule)\"\n" }
  if let duration { text += "duration: \(duration)\n" }
  if let timezone { text += "timezone: \(timezone)\n" }
  text += "target:\n  interface: \(interface)\n"
  if let netns { text += "  netns: \(netns)\n" }
  if let pods { text += "  pods:\n" + pods.split(separator: "\n").map { "    \($0)\n" }.joined() }
  text += "netem:\n"
  for line in netem.split(separator: ";") { text += "  \(line.trimmingCharacters(in: .whitespaces))\n" }
  return text
}

/// The one profile in `yaml`, which must be valid.
func profile(_ yaml: String, file: String = "p.yaml") throws -> Profile {
  let (profiles, issues) = ProfileLoader.load(text: yaml, file: file)
  #expect(issues.isEmpty, "\(issues)")
  return try #require(profiles.first)
}

/// A fault of `delay` alone.
func delayFault(_ delay: Duration) -> NetemFault {
  var fault = NetemFault()
  fault.delay = delay
  return fault
}
