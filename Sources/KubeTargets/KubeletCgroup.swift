/// Where kubelet put a process: the pod UID (and what else the cgroup path says) read from one
/// line of `/proc/PID/cgroup`.
///
/// Kubelet names every pod's cgroup after the pod UID, in one of two layouts depending on its
/// cgroup driver:
///
/// | driver | path of a container's cgroup |
/// |---|---|
/// | cgroupfs | `/kubepods/burstable/pod0a1b2c3d-…/<container-id>` (`/kubepods/pod<uid>/…` for Guaranteed) |
/// | systemd | `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_….slice/cri-containerd-<id>.scope` (`kubepods-pod<uid>.slice` for Guaranteed) |
///
/// Both appear under cgroup v1 (`hierarchy:controllers:path`, one line per hierarchy) and v2
/// (`0::path`). The path may have a prefix (kind's `/kubelet.slice/kubelet-kubepods.slice/…`,
/// `/docker/<id>/kubepods/…`) and, read from inside a cgroup namespace, leading `/..` components;
/// the parser looks at components, so none of that matters.
///
/// Static pods have a 32-hex-digit UID (a hash of the manifest) instead of a UUID; that UID is also
/// what their mirror pod carries in the `kubernetes.io/config.mirror` annotation
/// (see ``Pod/cgroupUID``).
public struct PodCgroup: Sendable, Hashable, CustomStringConvertible {
  /// Kubelet's two cgroup drivers.
  public enum Driver: String, Sendable, Hashable {
    /// `--cgroup-driver=cgroupfs`: plain directories named `kubepods`, `burstable`, `pod<uid>`.
    case cgroupfs
    /// `--cgroup-driver=systemd`: `.slice` units with the UID's dashes written as underscores.
    case systemd
  }

  /// The pod UID in its usual form (lowercase, with dashes for a UUID).
  public var podUID: String
  /// The pod's QoS class as written in the path: `burstable`, `besteffort`, or `guaranteed` when the
  /// pod cgroup sits directly under `kubepods`.
  public var qosClass: String
  /// The layout the path was written in.
  public var driver: Driver
  /// The container's cgroup name below the pod (`<id>` or `cri-containerd-<id>.scope`), when the
  /// process is in a container rather than in the pod cgroup itself.
  public var container: String?

  /// A pod cgroup from its parts.
  public init(podUID: String, qosClass: String, driver: Driver, container: String? = nil) {
    self.podUID = podUID
    self.qosClass = qosClass
    self.driver = driver
    self.container = container
  }

  /// `pod <uid> (burstable, systemd)`.
  public var description: String { "pod \(podUID) (\(qosClass), \(driver.rawValue))" }

  /// The pod cgroup of a cgroup path such as `/kubepods/burstable/pod<uid>/<container>`, or nil when
  /// the path is not below a kubelet pod cgroup.
  public init?(path: some StringProtocol) {
    let components = path.split(separator: "/", omittingEmptySubsequences: true)
    for (index, component) in components.enumerated() {
      let next = index + 1 < components.count ? String(components[index + 1]) : nil
      // cgroupfs: …/kubepods/[qos/]pod<uid>/…
      if component == "kubepods" {
        var podIndex = index + 1
        var qos = "guaranteed"
        if podIndex < components.count, ["burstable", "besteffort"].contains(components[podIndex]) {
          qos = String(components[podIndex])
          podIndex += 1
        }
        guard podIndex < components.count, components[podIndex].hasPrefix("pod"),
          let uid = Self.normalizedUID(components[podIndex].dropFirst(3), separator: "-")
        else { continue }
        let container = podIndex + 1 < components.count ? String(components[podIndex + 1]) : nil
        self.init(podUID: uid, qosClass: qos, driver: .cgroupfs, container: container)
        return
      }
      // systemd: …kubepods-[qos-]pod<uid_with_underscores>.slice (any prefix such as `kubelet-`).
      if component.hasSuffix(".slice"), let range = component.range(of: "kubepods-") {
        var rest = component[range.upperBound...].dropLast(".slice".count)
        var qos = "guaranteed"
        for candidate in ["burstable-", "besteffort-"] where rest.hasPrefix(candidate) {
          qos = String(candidate.dropLast())
          rest = rest.dropFirst(candidate.count)
        }
        guard rest.hasPrefix("pod"), let uid = Self.normalizedUID(rest.dropFirst(3), separator: "_") else {
          continue
        }
        self.init(podUID: uid, qosClass: qos, driver: .systemd, container: next)
        return
      }
    }
    return nil
  }

  /// The pod cgroup named in the text of a `/proc/PID/cgroup` file (v1 `ID:controllers:path`
  /// lines, the v2 `0::path` line, or both in hybrid mode): the first line whose path is below a pod
  /// cgroup. Nil for a process that is not in a pod.
  public init?(procCgroupFile text: some StringProtocol) {
    for line in text.split(whereSeparator: \.isNewline) {
      // The path is everything after the second colon (it may itself contain colons).
      let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
      guard fields.count == 3 else { continue }
      if let cgroup = PodCgroup(path: fields[2]) {
        self = cgroup
        return
      }
    }
    return nil
  }

  /// The UID with `separator` turned back into dashes and lowercased, when it is a UUID
  /// (8-4-4-4-12 hex digits) or a static pod's 32 hex digits; nil otherwise.
  static func normalizedUID(_ text: some StringProtocol, separator: Character) -> String? {
    let uid = String(text.map { $0 == separator ? "-" : $0 }).lowercased()
    let groups = uid.split(separator: "-", omittingEmptySubsequences: false)
    let isHex = { (part: Substring) in part.allSatisfy { $0.isHexDigit && $0.isASCII } }
    if groups.map(\.count) == [8, 4, 4, 4, 12], groups.allSatisfy(isHex) { return uid }
    if groups.count == 1, uid.count == 32, isHex(groups[0]) { return uid }
    return nil
  }
}
